"""Check the built site as a reader gets it: every chapter's .ipynb download is the executed notebook.

Usage: ``python book/_ext/check_site.py _build/html`` (``make book`` runs it on the tree it just built).
For every chapter of the table of contents that has code, ``_sources/<chapter>.ipynb`` must exist, carry outputs
(every code cell that printed or drew something when the chapter ran), and the values of its inline expressions
(jupyterlab-myst shows them without re-running). Exit status 1 with one line per problem otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
from notebook_edition import inline_expressions, notebook_chapters  # noqa: E402


def download_problems(html: Path) -> list[str]:
    problems = []
    for chapter in notebook_chapters():
        path = html / "_sources" / f"{chapter}.ipynb"
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        with_output = sum(bool(c.get("outputs")) for c in code)
        if with_output == 0:
            problems.append(f"{path}: none of its {len(code)} code cells has an output")
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            stored = {item["expression"] for item in cell.metadata.get("user_expressions", [])}
            missing = [e for e in inline_expressions(cell.source) if e not in stored]
            if missing:
                problems.append(f"{path}: no stored value for {missing}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    problems = download_problems(Path(argv[0]))
    for problem in problems:
        print(problem)
    if not problems:
        print(f"downloads checked: {len(notebook_chapters())} executed notebooks in {argv[0]}/_sources")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
