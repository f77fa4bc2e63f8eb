"""House rules of the book's sources that a reader would otherwise meet as defects on the page.

* Code cells are at most 88 columns (chapters and assignments): the content column holds 88 characters of code,
  so nothing scrolls sideways.
* Figures are at most ``MAX_FIGURE_WIDTH`` inches wide (drawn at their natural size in the column) and no text is
  set below ``MIN_FONT_SIZE`` points, so every label keeps 9 pt on a desktop.
* Page titles carry no TeX: they also show where MathJax does not run (the sidebar, the tab, search results).
* A line that continues an inline formula never starts with a list marker (``+ \\frac...`` would start a list in
  the middle of a statement).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from notebook_edition import notebook_chapters, toc_files  # noqa: E402

from resntk.book._style import MAX_FIGURE_WIDTH, MIN_FONT_SIZE  # noqa: E402

CHAPTERS = notebook_chapters()
ASSIGNMENTS = sorted(p for p in (ROOT / "assignments").glob("*.md") if p.name.lower() != "readme.md")
MAX_COLUMNS = 88


def _code(path: Path) -> list[str]:
    return [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", [ROOT / f"{c}.md" for c in CHAPTERS] + ASSIGNMENTS, ids=lambda p: p.stem)
def test_code_cells_fit_the_column(path):
    long = [line for src in _code(path) for line in src.splitlines() if len(line) > MAX_COLUMNS]
    assert not long, f"{path.name}: {len(long)} code lines over {MAX_COLUMNS} columns, e.g. {long[0]!r}"


FIGSIZE = re.compile(r"figsize\s*=\s*\(\s*([0-9.]+)\s*,")
FONTSIZE = re.compile(r"\b(?:fontsize|size|labelsize)\s*=\s*(?:([0-9.]+)|[\"']((?:xx?-)?small)[\"'])")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_figures_fit_the_column_with_legible_text(chapter):
    problems = []
    for src in _code(ROOT / f"{chapter}.md"):
        for width in FIGSIZE.findall(src):
            if float(width) > MAX_FIGURE_WIDTH:
                problems.append(f"figsize width {width} in > {MAX_FIGURE_WIDTH} in")
        for number, name in FONTSIZE.findall(src):
            if name or float(number) < MIN_FONT_SIZE:
                problems.append(f"text size {number or name} below {MIN_FONT_SIZE} pt")
    assert not problems, f"{chapter}: {problems}"


def test_the_figure_check_catches_wide_figures_and_small_text():
    assert FIGSIZE.findall("fig = plt.figure(figsize=(10, 3.8))") == ["10"]
    assert FONTSIZE.findall('ax.legend(fontsize=7); ax.tick_params(labelsize="small")') == [("7", ""),
                                                                                             ("", "small")]


@pytest.mark.parametrize("page", toc_files())
def test_titles_carry_no_tex(page):
    text = (ROOT / f"{page}.md").read_text()
    titles = re.findall(r"^#{1,3} (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M)
    tex = [t for t in titles if re.search(r"\$|\\[a-zA-Z]", t)]
    assert not tex, f"{page}: headings with TeX (shown raw in the sidebar and the tab): {tex}"


def _formula_continuations(markdown: str) -> list[str]:
    """Lines that start with a list marker while an inline formula of the paragraph is still open."""
    bad = []
    text = re.sub(r"```.*?```|\$\$.*?\$\$", lambda m: "\n" * m.group(0).count("\n"), markdown, flags=re.S)
    for paragraph in re.split(r"\n\s*\n", text):
        open_formula = False
        for line in paragraph.splitlines():
            if open_formula and re.match(r"\s*[-+*]\s", line):
                bad.append(line.strip()[:60])
            open_formula ^= (line.replace("\\$", "").count("$") % 2 == 1)
    return bad


@pytest.mark.parametrize("page", toc_files())
def test_no_formula_line_starts_with_a_list_marker(page):
    bad = _formula_continuations((ROOT / f"{page}.md").read_text())
    assert not bad, f"{page}: a formula line starts with a list marker (Markdown reads a list item): {bad}"


def test_the_formula_check_sees_a_broken_statement():
    assert _formula_continuations("with $a = b\n   + c$, one has") == ["+ c$, one has"]
    assert _formula_continuations("with $a = b +\n   c$, one has\n\n- a real list item") == []
