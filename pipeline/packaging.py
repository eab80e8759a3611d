"""Build the ``--py-files`` archive that ships Winnow's code to Spark executors.

    python -m pipeline.packaging dist/winnow.zip
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGES = ("contract", "redaction", "shards", "classifiers", "operators", "pipeline", "jobs", "trainer")
ROOT = Path(__file__).resolve().parents[1]


def build_zip(out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for pkg in PACKAGES:
            for f in sorted((ROOT / pkg).rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                    zf.write(f, f.relative_to(ROOT).as_posix())
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = build_zip(argv[0] if argv else "dist/winnow.zip")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
