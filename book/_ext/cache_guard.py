"""Invalidate the book's execution cache when the package changes.

jupyter-cache keys an executed chapter on the chapter's own code only, so a change to ``resntk`` (or to the
pinned dependencies) would leave chapters showing outputs of the old code. This script fingerprints
``resntk/**/*.py`` and ``pyproject.toml`` and empties ``_build/.jupyter_cache`` when the fingerprint changed.
The Makefile runs it before ``make test`` and ``make book``.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "_build" / ".jupyter_cache"
STAMP = ROOT / "_build" / ".resntk-fingerprint"


def fingerprint(root: Path = ROOT) -> str:
    h = hashlib.sha256()
    for path in sorted([root / "pyproject.toml", *(root / "resntk").rglob("*.py")]):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def main() -> int:
    new = fingerprint()
    old = STAMP.read_text().strip() if STAMP.exists() else None
    if old != new:
        if CACHE.exists():
            print("resntk changed since the chapters were executed: clearing the execution cache")
            shutil.rmtree(CACHE)
        STAMP.parent.mkdir(parents=True, exist_ok=True)
        STAMP.write_text(new + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
