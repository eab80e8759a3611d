"""A stage's declarations (the columns it adds, the metrics it emits) as written into ``stats.json``,
and the check that what the stage produced matches them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from contract import metrics as M
from contract import schema as S
from contract.errors import StageContractError


def declaration(fields: list[pa.Field], metrics: dict[str, str], edge_sample_column: str | None) -> dict[str, Any]:
    return {"fields": [{"name": f.name, "type": str(f.type), "category": S.is_category(f)} for f in fields],
            "metrics": dict(sorted(metrics.items())), "edge_sample_column": edge_sample_column}


def check_declarations(stage: str, declared: dict[str, Any], metrics: dict[str, Any], columns: list[str]) -> None:
    """Every emitted metric is declared and every declared column is in the output."""
    missing = [f["name"] for f in declared["fields"] if f["name"] not in columns]
    if missing:
        raise StageContractError(f"stage {stage}: declared output column(s) {missing} are not in its output")
    bad = M.undeclared(metrics, declared["metrics"])
    if bad:
        raise StageContractError(f"stage {stage}: metric(s) {bad[:5]} are not declared (declare them in the "
                                 f"stage's `metrics`, with a one-line meaning)")
