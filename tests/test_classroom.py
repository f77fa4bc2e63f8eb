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


# Each build runs otter's self-check (about 8 s): the first assignment by default, every one with the slow tests (CI).
@pytest.mark.parametrize("source", [pytest.param(a, marks=() if i == 0 else pytest.mark.slow, id=a.stem)
                                    for i, a in enumerate(ASSIGNMENTS)])
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


def test_autograder_zip_declares_python_torch_and_ships_resntk(tmp_path):
    """The zip alone says what a clean grader installs: the book's Python, CPU torch and resntk from its wheel."""
    import zipfile

    import yaml

    from resntk import __version__
    from resntk.classroom import GRADER_PYTHON

    result = build_assignment(ROOT / "assignments" / "jumpboard.md", tmp_path / "dist", run_tests=False)
    (zip_path,) = (result / "autograder").glob("*.zip")
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        env = yaml.safe_load(zf.read("environment.yml"))
    assert f"files/resntk-{__version__}-py3-none-any.whl" in names
    assert f"python={GRADER_PYTHON}" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "torch==2.13.0" in pip and f"resntk=={__version__}" in pip and "--find-links files" in pip
    assert any("download.pytorch.org/whl/cpu" in line for line in pip), "without the CPU index pip takes CUDA"


def _grade(venv: Path, zip_path: Path, submission: Path, out: Path) -> dict[str, tuple[float, float]]:
    """``otter run`` with the grader's otter: each question's (score, max score)."""
    import json
    import subprocess

    out.mkdir()
    proc = subprocess.run([str(venv / "bin" / "otter"), "run", "-a", str(zip_path), "-o", str(out), str(submission)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: (float(t["score"]), float(t["max_score"])) for t in tests if "max_score" in t}


@pytest.mark.slow
def test_autograder_grades_on_a_clean_grader(tmp_path):
    """A fresh virtual environment built from only what the autograder zip declares grades submissions.

    As Gradescope does: the zip is unpacked, its environment (``environment.yml``: Python version, otter-grader,
    CPU torch, resntk from the shipped wheel) is installed -- here with pip into a new venv, from the unpacked
    folder, as conda installs an environment's pip section -- and ``otter run`` grades a correct submission (full
    marks) and one that forgot the 1/n of the descent matrix (question 1 lost).
    """
    import os
    import subprocess
    import sys
    import zipfile

    import yaml

    result = build_assignment(ROOT / "assignments" / "jumpboard.md", tmp_path / "dist")
    (zip_path,) = (result / "autograder").glob("*.zip")
    source = tmp_path / "grader" / "source"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
    env = yaml.safe_load((source / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    (python,) = [d.split("=", 1)[1] for d in conda if d.startswith("python=")]
    if f"{sys.version_info.major}.{sys.version_info.minor}" != python:
        pytest.skip(f"the grader wants Python {python}; this is Python {sys.version_info[:2]}")
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    (source / "condaenv.requirements.txt").write_text("\n".join(pip_section) + "\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_env = {**os.environ, "PIP_RETRIES": "0", "PIP_TIMEOUT": "10", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    others = [d for d in conda if not d.startswith(("python=", "pip"))]  # e.g. jupyter_server
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *others,
                              "-r", "condaenv.requirements.txt"], cwd=source, env=pip_env,
                             capture_output=True, text=True, timeout=1500)
    assert install.returncode == 0, install.stderr[-4000:]

    correct = result / "autograder" / "jumpboard.ipynb"
    grades = _grade(venv, zip_path, correct, tmp_path / "out-correct")
    assert grades == {"q1": (2, 2), "q2": (3, 3), "q3": (3, 3)}, grades   # 8 / 8

    wrong_nb = nbformat.read(correct, as_version=4)
    for cell in wrong_nb.cells:
        cell.source = cell.source.replace("guaranteed = kappa**2 / (2 * beta)", "guaranteed = kappa**2 / beta")
    wrong = tmp_path / "wrong.ipynb"
    nbformat.write(wrong_nb, wrong)
    grades = _grade(venv, zip_path, wrong, tmp_path / "out-wrong")
    assert grades == {"q1": (2, 2), "q2": (3, 3), "q3": (0, 3)}, grades   # 5 / 8
