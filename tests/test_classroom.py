"""Classroom assignments: otter's self-check of every assignment, and no solution left in student versions."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

from resntk.classroom import build_assignment, main, solution_leaks, solution_lines

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p for p in (ROOT / "assignments").glob("*.md") if p.name.lower() != "readme.md")


def _nb(*sources: str):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_solution_lines_and_leaks():
    master = _nb("def f(x):\n    # BEGIN SOLUTION\n    return x * 2 + 1\n    # END SOLUTION\n",
                 "answer = compute_the_answer()  # SOLUTION\nprint(answer)")
    assert solution_lines(master) == {"return x * 2 + 1", "answer = compute_the_answer()"}
    clean = _nb("def f(x):\n    ...\n", "answer = ...\nprint(answer)")
    assert solution_leaks(master, clean) == []
    leaky = _nb("def f(x):\n    return x * 2 + 1\n")
    assert solution_leaks(master, leaky) == ["return x * 2 + 1"]


def test_a_solution_cell_without_markers_is_refused(tmp_path):
    src = tmp_path / "whole.md"
    src.write_text("+++\n\n```otter\n# BEGIN SOLUTION\n```\n\n```{code-cell} ipython3\nanswer = 42\n```\n\n"
                   "+++\n\n```otter\n# END SOLUTION\n```\n")
    with pytest.raises(ValueError, match="handed to students whole"):
        build_assignment(src, tmp_path / "dist")


def test_a_source_without_solution_blocks_is_refused(tmp_path):
    src = tmp_path / "bad.md"
    src.write_text("```{code-cell} ipython3\nx = 1  # SOLUTION\n```\n")
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        build_assignment(src, tmp_path / "dist")
    with pytest.raises(FileNotFoundError, match="source"):
        build_assignment(tmp_path / "missing.md", tmp_path / "dist")


def test_there_are_at_least_three_assignments():
    assert len(ASSIGNMENTS) >= 3


@pytest.mark.parametrize("source", ASSIGNMENTS, ids=lambda p: p.stem)
def test_assignment_builds_and_its_tests_pass_on_the_solutions(source, tmp_path):
    """Otter Assign runs every test against the solutions (a failing test raises) and we check the outputs."""
    result = build_assignment(source, tmp_path / "dist")  # runs otter's self-check
    name = source.stem
    student, autograder = result / "student", result / "autograder"
    assert (student / f"{name}.ipynb").is_file() and (autograder / f"{name}.ipynb").is_file()
    assert list(autograder.glob("*.zip")), "no autograder zip"
    student_nb = nbformat.read(student / f"{name}.ipynb", as_version=4)
    master_nb = jupytext.read(source)
    assert solution_lines(master_nb), "the source has no solution"
    assert solution_leaks(master_nb, student_nb) == []
    assert any("..." in c.source for c in student_nb.cells if c.cell_type == "code")
    # Hidden tests stay with the autograder.
    for test_file in (autograder / "tests").glob("*.py"):
        student_test = (student / "tests" / test_file.name).read_text()
        assert "hidden=True" not in student_test
    assert any("hidden=True" in f.read_text() for f in (autograder / "tests").glob("*.py")) or name == "jumpboard"


def test_console_script_reports_missing_sources(tmp_path, capsys):
    assert main(["--source", str(tmp_path), "--out", str(tmp_path / "dist")]) == 2
    assert "no assignment sources" in capsys.readouterr().err
