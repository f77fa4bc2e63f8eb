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

The autograder zip is self-contained, so that a clean grader (Gradescope, or ``otter run`` in a fresh environment)
can grade with it: it carries a wheel of this package (``files/``), and its environment declares the Python version
of the book and :data:`GRADER_REQUIREMENTS` -- the CPU build of PyTorch and resntk from that wheel.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["solution_lines", "unmarked_solution_cells", "solution_leaks", "build_assignment", "main",
           "GRADER_PYTHON", "GRADER_REQUIREMENTS"]

#: The Python version of the grading environment: the book's (``environment.yml``).
GRADER_PYTHON = "3.11"

#: What the grading environment installs besides otter-grader (pip requirements; ``{version}`` is resntk's).
#: Paths are relative to the autograder's folder, where the environment file and ``files/`` lie.
GRADER_REQUIREMENTS = """\
--extra-index-url https://download.pytorch.org/whl/cpu
torch==2.13.0
--find-links files
resntk=={version}
"""

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
        work = Path(work)
        wheel = build_wheel(work)
        (work / "requirements.txt").write_text(GRADER_REQUIREMENTS.format(version=_version()))
        _configure_grader(master_nb, wheel.name)
        master = work / f"{name}.ipynb"
        jupytext.write(master_nb, master)
        here = os.getcwd()
        os.chdir(work)  # otter packs files relative to the working directory
        try:
            otter_assign(str(master), str(result), no_pdfs=True, no_run_tests=not run_tests)
        finally:
            os.chdir(here)
    student_nb = jupytext.read(result / "student" / f"{name}.ipynb")
    leaks = solution_leaks(master_nb, student_nb)
    if leaks:
        raise ValueError(f"{name}: solution lines left in the student notebook: {leaks}")
    return result


def _version() -> str:
    from resntk import __version__

    return __version__


def build_wheel(out: str | Path) -> Path:
    """Build a wheel of resntk from its source tree into ``out`` and return its path.

    Raises
    ------
    FileNotFoundError
        If resntk is not installed from a source tree (no ``pyproject.toml`` next to the package).
    """
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(f"no pyproject.toml in {root}: build the assignments from a clone of the repository")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", os.fspath(out),
                    os.fspath(root)], check=True)
    (wheel,) = Path(out).glob(f"resntk-{_version()}-*.whl")
    return wheel


def _configure_grader(master, wheel_name: str) -> None:
    """Add the grading environment to the ``# ASSIGNMENT CONFIG`` block of an Otter Assign master notebook."""
    import yaml

    for cell in master.cells:
        match = re.search(r"```otter\s*\n\s*# ASSIGNMENT CONFIG\s*\n(.*?)```", cell.source, re.S)
        if match:
            config = yaml.safe_load(match.group(1)) or {}
            config.update(requirements="requirements.txt", python_version=GRADER_PYTHON,
                          autograder_files=[*config.get("autograder_files", []), wheel_name])
            block = "```otter\n# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False) + "```"
            cell.source = cell.source[:match.start()] + block + cell.source[match.end():]
            return
    raise ValueError("source: no '# ASSIGNMENT CONFIG' block")


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
