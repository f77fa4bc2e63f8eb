"""The student edition (``make book-student``) keeps every exercise and hides every solution, code included."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import page_text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from notebook_edition import solution_snippets  # noqa: E402
from student_edition import student_config  # noqa: E402


def test_student_config_hides_solutions_and_sources():
    cfg = student_config()
    assert cfg["sphinx"]["config"]["hide_solutions"] is True
    assert cfg["sphinx"]["config"]["html_copy_source"] is False
    assert cfg["sphinx"]["config"]["html_theme_options"]["use_download_button"] is False
    assert "student edition" in cfg["title"]


@pytest.mark.book
@pytest.mark.slow  # a second full book build (20 s); CI runs it, and make pdf checks the student PDF for solutions
def test_student_edition_has_every_exercise_and_no_solution(tmp_path):
    out = tmp_path / "student"
    config = out / "_config.yml"
    import execute  # the chapters run as notebooks into the shared cache first, as `make book-student` does

    assert not [r.chapter for r in execute.execute(log=lambda msg: None) if r.error]
    subprocess.run([sys.executable, str(ROOT / "book" / "_ext" / "student_edition.py"), str(config)], check=True)
    proc = execute.jupyter_book("-n", "-W", "--keep-going", "--config", config, "--path-output", out, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    checked = 0
    for chapter in chapters:
        md = (ROOT / f"{chapter}.md").read_text()
        n_exercises = len(re.findall(r"\{exercise(?:-start)?\}", md))
        if n_exercises == 0:
            continue
        path = out / "_build" / "html" / f"{chapter}.html"
        raw = path.read_text()
        assert len(re.findall(r'<div class="exercise', raw)) == n_exercises, chapter
        assert 'class="solution' not in raw, f"{chapter}: a solution box is left in the student edition"
        page = page_text(path)
        assert "rocket icon" not in page and "github.com/resntk" not in raw, f"{chapter}: links to the sources"
        for snippet in solution_snippets(md):
            assert snippet not in page, f"{chapter}: solution text left in the student edition: {snippet!r}"
            checked += 1
    assert checked > 0, "no solution text was checked"
    preface = page_text(out / "_build" / "html" / "book" / "preface.html")
    assert "rocket icon" not in preface, "the preface points at a launch button the edition removes"

