"""Classroom assignments: student and autograder versions built with otter-grader (console script ``resntk-assign``).

Assignment sources live in ``assignments/<name>.md``: MyST Markdown notebooks (jupytext) in otter-grader's
Otter Assign format, with fenced ```` ```otter ```` boundary cells (``# ASSIGNMENT CONFIG``, ``# BEGIN QUESTION``,
``# BEGIN SOLUTION``, ``# BEGIN TESTS`` ...) and exception-based tests (one test function and its call per cell).
:func:`build_assignment` converts a source to a notebook, runs Otter Assign -- which executes the solutions and
runs every test against them (otter's self-check) -- and writes::

    dist/<name>/student/      the notebook students receive, with public tests
    dist/<name>/autograder/   the solutions notebook, all tests (hidden ones included) and the autograder zip

It then verifies that no line of any solution survived into the student notebook (:func:`solution_leaks`).
The assignments are kept out of the rendered book.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["solution_lines", "unmarked_solution_cells", "solution_leaks", "build_assignment", "main"]

_BLOCK = re.compile(r"```otter\s*\n\s*#\s*(BEGIN|END) SOLUTION\s*\n```")


def _code_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def solution_lines(master) -> set[str]:
    """The distinctive solution lines of an Otter Assign master notebook.

    A solution line is a code line inside a ``# BEGIN SOLUTION`` / ``# END SOLUTION`` region of a code cell, or a
    line ending in ``# SOLUTION``; blank lines, comments and lines shorter than 8 characters are ignored (they
    cannot identify a solution).

    Parameters
    ----------
    master
        A notebook (``nbformat.NotebookNode``) in Otter Assign format.
    """
    lines: set[str] = set()
    for source in _code_cells(master):
        inside = False
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("# BEGIN SOLUTION"):
                inside = True
                continue
            if stripped.startswith("# END SOLUTION"):
                inside = False
                continue
            if stripped.endswith("# SOLUTION"):
                stripped = stripped[: -len("# SOLUTION")].strip()
                inside_line = True
            else:
                inside_line = inside
            if inside_line and len(stripped) >= 8 and not stripped.startswith("#"):
                lines.add(stripped)
    return lines


def unmarked_solution_cells(master) -> list[str]:
    """Code cells inside a fenced ``# BEGIN SOLUTION`` block that carry no solution marker.

    Otter Assign hands such a cell to students unchanged, so the whole solution would leak: every code cell in a
    solution block must mark what students write (``# BEGIN SOLUTION``/``# END SOLUTION`` lines or a trailing
    ``# SOLUTION``). Returns the first line of each offending cell.
    """
    offending, in_block = [], False
    for cell in master.cells:
        if cell.cell_type == "markdown":
            for kind in re.findall(r"```otter\s*\n\s*#\s*(BEGIN|END) SOLUTION", cell.source):
                in_block = kind == "BEGIN"
        elif cell.cell_type == "code" and in_block:
            lines = [ln.strip() for ln in cell.source.splitlines()]
            if not any(ln.startswith("# BEGIN SOLUTION") or ln.endswith("# SOLUTION") for ln in lines):
                offending.append(lines[0] if lines else "")
    return offending


def solution_leaks(master, student) -> list[str]:
    """Solution lines of ``master`` that appear in any code cell of ``student`` (an empty list when clean)."""
    student_lines = {ln.strip() for src in _code_cells(student) for ln in src.splitlines()}
    return sorted(solution_lines(master) & student_lines)


def build_assignment(source: str | Path, out: str | Path = "dist", *, run_tests: bool = True) -> Path:
    """Build the student and autograder versions of one assignment with Otter Assign.

    Parameters
    ----------
    source
        ``assignments/<name>.md``, a jupytext MyST notebook in Otter Assign format.
    out
        The folder that receives ``<name>/student`` and ``<name>/autograder`` (replaced if present).
    run_tests
        Run otter's self-check: execute the solutions notebook and every test against it (default). A failing
        test raises ``RuntimeError``.

    Returns
    -------
    pathlib.Path
        ``out/<name>``.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    ValueError
        If ``source`` has no otter solution block, or a solution line is left in the student notebook.
    """
    import jupytext
    from otter.assign import main as otter_assign

    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"source: no assignment file {source}")
    text = source.read_text()
    if not _BLOCK.search(text):
        raise ValueError(f"source: {source} has no fenced '# BEGIN SOLUTION' otter block; the student version "
                         "would contain the solutions")
    name = source.stem
    master_nb = jupytext.read(source)
    unmarked = unmarked_solution_cells(master_nb)
    if unmarked:
        raise ValueError(f"source: solution cells without a '# BEGIN SOLUTION' or '# SOLUTION' marker would be "
                         f"handed to students whole: {unmarked}")
    result = Path(out).resolve() / name
    if result.exists():
        shutil.rmtree(result)
    with tempfile.TemporaryDirectory(prefix=f"resntk-assign-{name}-") as work:
        master = Path(work) / f"{name}.ipynb"
        jupytext.write(master_nb, master)
        otter_assign(str(master), str(result), no_pdfs=True, no_run_tests=not run_tests)
    student_nb = jupytext.read(result / "student" / f"{name}.ipynb")
    leaks = solution_leaks(master_nb, student_nb)
    if leaks:
        raise ValueError(f"{name}: solution lines left in the student notebook: {leaks}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``resntk-assign [NAME ...] [--source DIR] [--out DIR] [--no-run-tests]``: build classroom assignments."""
    parser = argparse.ArgumentParser(prog="resntk-assign", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="assignment names (default: every assignments/*.md)")
    parser.add_argument("--source", default="assignments", help="folder of assignment sources")
    parser.add_argument("--out", default="dist", help="output folder")
    parser.add_argument("--no-run-tests", action="store_true", help="skip otter's self-check of the tests")
    args = parser.parse_args(argv)
    folder = Path(args.source)
    sources = [folder / f"{n}.md" for n in args.names] if args.names else sorted(
        p for p in folder.glob("*.md") if p.name.lower() != "readme.md")
    if not sources:
        print(f"no assignment sources in {folder}", file=sys.stderr)
        return 2
    for src in sources:
        result = build_assignment(src, args.out, run_tests=not args.no_run_tests)
        print(f"{src.stem}: {result / 'student'} and {result / 'autograder'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
