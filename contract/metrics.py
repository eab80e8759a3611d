"""Metric declarations: every stage names the metrics it emits, with a one-line meaning each.

A declared name is a path of ``/``-separated segments; a segment may hold one ``{placeholder}``
(``pii/{type}``, ``seconds/dedup_{phase}``), which makes it a family of metrics. The runner refuses
a metric that no declaration matches, writes the declarations into ``stats.json`` and the report
finds what it draws (mixture shares, cluster sizes, PII counts) through the families below, never
by a stage's name.
"""

from __future__ import annotations

# Families with a meaning the run report knows how to draw. A stage that emits one of them declares it.
SHARE_TARGET = "share_target/{group}"
SHARE_ACHIEVED = "share_achieved/{group}"
REPEAT_HIST = "repeat_hist/{repeats}"
CLUSTER_SIZE_HIST = "dedup/cluster_size_hist/{size}"
PII_FOUND = "pii/{type}"
PII_FOUND_IN = "pii/{column}/{type}"  # findings in a column other than text (id, source, meta)
DECONTAM_FLAGGED = "decontaminate/{benchmark}/docs_flagged"
SECONDS = "seconds/{part}"


def _segment_match(template: str, segment: str) -> str | None:
    """The placeholder's value if ``segment`` matches ``template``'s segment ('' when literal)."""
    if "{" not in template:
        return "" if template == segment else None
    head, _, rest = template.partition("{")
    tail = rest.partition("}")[2]
    if len(segment) > len(head) + len(tail) and segment.startswith(head) and segment.endswith(tail):
        return segment[len(head): len(segment) - len(tail)]
    return None


def match(template: str, name: str) -> dict[str, str] | None:
    """``{placeholder: value}`` when ``name`` belongs to ``template``'s family, else None."""
    t_parts, n_parts = template.split("/"), name.split("/")
    if len(t_parts) != len(n_parts):
        return None
    values: dict[str, str] = {}
    for t, n in zip(t_parts, n_parts):
        v = _segment_match(t, n)
        if v is None:
            return None
        if "{" in t:
            values[t[t.index("{") + 1: t.index("}")]] = v
    return values


def declaration_of(name: str, declared: dict[str, str]) -> str | None:
    """The declared template ``name`` belongs to (an exact name wins over a family)."""
    if name in declared:
        return name
    return next((t for t in declared if "{" in t and match(t, name) is not None), None)


def undeclared(metrics: dict[str, float], declared: dict[str, str]) -> list[str]:
    return sorted(k for k in metrics if declaration_of(k, declared) is None)


def templates_for(declared: dict[str, str], suffix_template: str) -> list[str]:
    """The declared templates of a family: ``share_target/{group}`` finds ``mix/share_target/{group}``."""
    return [t for t in declared if t == suffix_template or t.endswith("/" + suffix_template)]


def declares(declared: dict[str, str], suffix_template: str) -> bool:
    return bool(templates_for(declared, suffix_template))


def family(metrics: dict[str, float], declared: dict[str, str], suffix_template: str) -> dict[str, float]:
    """``{placeholder value: metric}`` for the metrics of every declared template of a family."""
    templates = templates_for(declared, suffix_template)
    out: dict[str, float] = {}
    for name, value in metrics.items():
        if name in declared and name not in templates:  # an exact declaration is its own metric
            continue
        for t in templates:
            m = match(t, name)
            if m:
                out[next(iter(m.values()))] = value
                break
    return out
