"""Every chapter reads and runs as a notebook, not only as a page of the built book (static checks).

A student opens a chapter in JupyterLab (jupytext + jupyterlab-myst, as ``postBuild`` and ``make lab`` set up),
on Binder or a laptop, and runs it as it is. These tests read the sources the way JupyterLab does and check what
would break there:

* the generated front matter (the book's macros and the chapter's numbering) is present and up to date, and every
  book macro a chapter uses is defined in it;
* nothing in the prose needs the book build to read as text: no ``{glue}``, no ``{cite}`` (citations are links
  to the bibliography whose texts match it), no reference to another chapter without its text;
* the first code cell is short and visible and sets the session up with ``rn.book.setup()``; no chapter imports
  a private module or ``myst_nb``;
* ``environment.yml`` (Binder) and the pip extras of ``make lab`` provide every module that a chapter or an
  assignment imports.

``tests/test_chapters.py`` runs every chapter as a plain notebook, and ``tests/test_notebook_browser.py`` opens
every chapter in JupyterLab in a real browser.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_edition as ne  # noqa: E402

CHAPTERS = ne.notebook_chapters()
ASSIGNMENTS = sorted(p for p in (ROOT / "assignments").glob("*.md") if p.name.lower() != "readme.md")
PAGES = [f for f in ne.toc_files() if f not in CHAPTERS]


def _read(chapter: str):
    return jupytext.read(ROOT / f"{chapter}.md")


def _markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _labels(text: str) -> set[str]:
    """Targets a notebook of this text can resolve itself: directive labels and ``(label)=`` targets."""
    return (set(re.findall(r":label:\s*(\S+)", text)) | set(re.findall(r"^\(([\w-]+)\)=", text, re.M))
            | set(re.findall(r"\$\$\s*\(([\w-]+)\)", text)))


def test_chapters_are_found():
    assert len(CHAPTERS) >= 17 and "book/the-residual-ntk" in CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_front_matter_is_generated_and_gives_every_macro_the_chapter_uses(chapter):
    text = (ROOT / f"{chapter}.md").read_text()
    _, block, rest = ne.split_frontmatter(text)
    assert block == ne.frontmatter_block(chapter), (
        f"{chapter}: front matter missing or stale: run .venv/bin/python book/_ext/notebook_edition.py --write")
    front = yaml.safe_load(block.strip().strip("-"))
    defined = set(front["math"])
    used = ne.macros_used(rest)
    assert used <= defined, f"{chapter} uses macros its notebook cannot see: {sorted(used - defined)}"
    # The block is the first thing of the first Markdown cell, where jupyterlab-myst reads front matter.
    assert _read(chapter).cells[0].source.startswith("---\n")


def test_macro_check_catches_a_macro_missing_from_the_front_matter():
    text = "$\\norm{x}$ and $$\\inner{a}{b}$$ and ```{math}\n\\E[X]\n```"
    assert ne.macros_used(text) == {"\\norm", "\\inner", "\\E"}
    assert ne.macros_used("`$\\norm{x}$` is code") == {"\\norm"}  # inline code is still scanned: conservative


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_prose_reads_as_text_without_the_book_build(chapter):
    nb = _read(chapter)
    md = _markdown(nb)
    assert "{glue" not in md, f"{chapter}: {{glue}} resolves only in the build; use {{eval}}"
    assert not re.search(r"\{cite(:\w+)?\}`", md), f"{chapter}: cite roles show as errors in JupyterLab"
    own = _labels(md) | {c.metadata.get("mystnb", {}).get("figure", {}).get("name") for c in nb.cells}
    bare = []
    for role, target in re.findall(r"\{(prf:ref|ref|numref|eq)\}`([^`<]+)`", md):
        if target not in own or role == "numref":
            bare.append(f"{{{role}}}`{target}`")
    assert not bare, f"{chapter}: references a notebook cannot resolve need their text: {bare}"
    _, problems = ne.citations_to_roles(md)
    assert not problems, problems


@pytest.mark.parametrize("page", PAGES)
def test_citation_links_of_other_pages_match_the_bibliography(page):
    text = (ROOT / f"{page}.md").read_text()
    assert not re.search(r"\{cite(:\w+)?\}`", text)
    assert not ne.citations_to_roles(text)[1]


def test_citation_links_become_citations_and_wrong_texts_are_caught():
    text = ("[Yu et al. (2026)](bibliography.md#yu2026branch) showed it "
            "([Jacot et al., 2018](bibliography.md#jacot2018ntk); [Yu et al., 2026](bibliography.md#yu2026branch)).")
    out, problems = ne.citations_to_roles(text)
    assert out == "{cite:t}`yu2026branch` showed it {cite:p}`jacot2018ntk,yu2026branch`." and not problems
    _, problems = ne.citations_to_roles("[Yu (2025)](bibliography.md#yu2026branch)")
    assert problems and "Yu et al. (2026)" in problems[0]
    _, problems = ne.citations_to_roles("[see Yu](bibliography.md#nosuchkey)")
    assert len(problems) == 2


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_first_code_cell_is_short_visible_and_sets_the_session_up(chapter):
    code = [c for c in _read(chapter).cells if c.cell_type == "code"]
    first = code[0]
    lines = [ln for ln in first.source.splitlines() if ln.strip()]
    assert len(lines) <= 2, f"{chapter}: the first code cell has {len(lines)} lines"
    assert "rn.book.setup(" in first.source and "import resntk as rn" in first.source
    tags = set(first.metadata.get("tags", []))
    assert not tags & {"remove-cell", "remove-input", "hide-cell", "hide-input"}, f"{chapter}: first cell hidden"


def _imports(source: str) -> set[str]:
    """Top-level modules imported by a code cell (IPython magics and shell lines ignored)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def _all_imports(files: list[Path]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in files:
        for cell in jupytext.read(path).cells:
            if cell.cell_type == "code":
                for name in _imports(cell.source):
                    found.setdefault(name, set()).add(path.name)
    return found


def test_no_chapter_imports_a_private_module_or_myst_nb():
    bad = {name: where for name, where in _all_imports([ROOT / f"{c}.md" for c in CHAPTERS]).items()
           if name.split(".")[0] == "myst_nb" or any(part.startswith("_") for part in name.split("."))}
    assert not bad, f"private or build-only imports: {bad}"


#: conda-forge / PyPI distribution name -> the module it provides, where the two differ.
DIST_TO_MODULE = {"pytorch-cpu": "torch", "pytorch": "torch", "scikit-learn": "sklearn", "matplotlib-base": "matplotlib",
                  "pyyaml": "yaml", "otter-grader": "otter", "jupyterlab-myst": "jupyterlab_myst"}


def _module_of(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()
    return DIST_TO_MODULE.get(name, name.replace("-", "_"))


def _stdlib(module: str) -> bool:
    return module in sys.stdlib_module_names


def _needed() -> dict[str, set[str]]:
    files = [ROOT / f"{c}.md" for c in CHAPTERS] + ASSIGNMENTS
    needed = {name.split(".")[0]: where for name, where in _all_imports(files).items()}
    # Otter Assign adds `import otter` to the student notebooks of every assignment.
    needed.setdefault("otter", set()).update(p.name for p in ASSIGNMENTS)
    return {m: w for m, w in needed.items() if not _stdlib(m)}


def test_environment_yml_provides_every_module_chapters_and_assignments_import():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    provided = {"resntk"}  # postBuild installs the package itself
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            provided |= {_module_of(r) for r in dep.get("pip", [])}
        else:
            provided.add(_module_of(dep))
    missing = {m: sorted(w) for m, w in _needed().items() if m not in provided}
    assert not missing, f"environment.yml lacks: {missing}"
    assert {"jupyterlab", "jupytext", "jupyterlab_myst", "ipykernel"} <= provided


def test_make_lab_extras_provide_every_module_chapters_and_assignments_import():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    makefile = (ROOT / "Makefile").read_text()
    extras = re.search(r"\.stamp-lab:[^\n]*\n\t\$\(PIP\) install[^\n]*\.\[([\w,]+)\]", makefile)
    assert extras, "make lab must pip-install the package with its extras"
    provided = {"resntk"} | {_module_of(r) for r in project["dependencies"]}
    for extra in extras.group(1).split(","):
        provided |= {_module_of(r) for r in project["optional-dependencies"][extra]}
    missing = {m: sorted(w) for m, w in _needed().items() if m not in provided}
    assert not missing, f"the extras make lab installs lack: {missing}"
    assert {"jupyterlab", "jupytext", "jupyterlab_myst"} <= provided


def test_import_scan_sees_what_a_cell_imports():
    source = "%matplotlib inline\nimport numpy as np, torch\nfrom scipy import linalg\nfrom . import x\n"
    assert _imports(source) == {"numpy", "torch", "scipy"}
    assert _module_of("scikit-learn>=1.4") == "sklearn" and _module_of("otter-grader[grading]==7") == "otter"
