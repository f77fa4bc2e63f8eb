"""The notebook edition, as a student meets it: every chapter opened in JupyterLab in a real browser.

JupyterLab runs on loopback with a token and the settings that ``postBuild`` (Binder) and ``make lab`` install
(``lab-overrides.json``: Markdown files open as notebooks through jupytext), with jupyterlab-myst rendering the
Markdown cells. Headless Chromium opens every chapter and checks what a student sees before running anything:

* no maths error (KaTeX, which jupyterlab-myst uses, or MathJax);
* no unresolved reference or citation box, and no raw role syntax (``{glue}``, ``{prf:ref}``, ``{cite}``...);
* the theorem boxes are numbered like the book's ("Theorem 4.1").

One chapter is then run through its kernel (Run All): its code cells print outputs and its inline expressions
show numbers. A broken notebook (an unknown macro, a bare citation, a bare reference to another chapter) is opened
first, to show that the checks see such defects. Screenshots go to ``_build/screenshots/lab-*.png``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import pytest
from conftest import needs_chromium

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from notebook_edition import notebook_chapters  # noqa: E402

CHAPTERS = notebook_chapters()
#: The chapter run through the kernel: short, with figures and inline expressions.
RUN_CHAPTER = "book/appendix-spherical-harmonics"

pytestmark = [pytest.mark.browser, needs_chromium,
              pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import jupyterlab, jupyterlab_myst, jupytext"],
                                                capture_output=True).returncode != 0,
                                 reason="JupyterLab with jupytext and jupyterlab-myst is not installed (make lab)")]

#: What a reader must never see in a rendered Markdown cell: maths errors, unresolved-reference boxes.
#: jupyterlab-myst marks an inline maths error, an unresolved reference and an unknown citation with a yellow
#: warning sign whose title says what failed; a display-maths error is red.
ERROR_NODES = (".katex-error, mjx-merror, [data-mjx-error], .lm-Widget.myst .text-red-500, "
               ".lm-Widget.myst .text-yellow-600[title]")
RAW_ROLE = re.compile(r"\{(glue|prf:ref|cite|ref|numref|eq|eval|doc|term)(:[\w-]+)?\}`")

BROKEN = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A broken chapter

An unknown macro $\\norm{x}$, a bare citation {cite:t}`yu2026branch` and a bare reference {ref}`ch-ntk`.
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a folder with the book's chapters (linked) and a broken notebook; yields its URL."""
    home = tmp_path_factory.mktemp("lab")
    (home / "root").mkdir()
    (home / "root" / "book").symlink_to(ROOT / "book")
    (home / "root" / "broken.md").write_text(BROKEN)
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    overrides = json.loads((ROOT / "lab-overrides.json").read_text())
    # Test only: render every cell at once (JupyterLab renders what scrolls into view), so all can be checked, and
    # never save: opening a chapter marks it modified, and an autosave would rewrite the source.
    overrides["@jupyterlab/notebook-extension:tracker"] = {"windowingMode": "none"}
    overrides["@jupyterlab/docmanager-extension:plugin"]["autosave"] = False
    (config / "labconfig" / "default_setting_overrides.json").write_text(json.dumps(overrides))
    token, port = secrets.token_hex(16), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "MPLBACKEND")}
    env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), RESNTK_BOOK_BUILD="0")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home / 'root'}",
           f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # not into the repository's book/
           "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: open and close notebooks in one page
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(home / "lab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("JupyterLab exited:\n" + (home / "lab.log").read_text()[-3000:], pytrace=False)
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start", pytrace=False)
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def lab_page(browser, lab):
    """One JupyterLab page for the whole module: notebooks are opened and closed in it, not reloaded."""
    url, token = lab
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{url}/lab?reset&token={token}", wait_until="domcontentloaded")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')",
                           timeout=60000)
    page.evaluate("() => window.jupyterapp.restored")
    yield page
    ctx.close()


ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
RENDERED = f"{ACTIVE} .jp-MarkdownCell .lm-Widget.myst"


def _open(page, path: str, n_markdown: int):
    """Open ``path`` with its default viewer and wait until its Markdown cells are rendered."""
    page.evaluate("async p => { await window.jupyterapp.commands.execute('docmanager:open', {path: p}); }", path)
    page.wait_for_function(f"() => document.querySelectorAll({RENDERED!r}).length >= {n_markdown}",
                           timeout=60000)
    last, stable = -1, 0
    while stable < 3:  # jupyterlab-myst renders asynchronously: wait until the page stops changing
        size = page.evaluate(f"() => [...document.querySelectorAll({RENDERED!r})].map(e => e.innerHTML.length)"
                             ".reduce((a, b) => a + b, 0)")
        stable = stable + 1 if size == last else 0
        last = size
        time.sleep(0.3)


def _close(page) -> None:
    """Close the open notebook without saving it, and shut its kernel down."""
    page.evaluate("""async () => {
        const w = window.jupyterapp.shell.currentWidget;
        if (!w) return;
        await w.sessionContext.shutdown();
        w.context.model.dirty = false;
        w.dispose();
    }""")


def _problems(page) -> list[str]:
    problems = []
    errors = page.locator(", ".join(f"{ACTIVE} {sel.strip()}" for sel in ERROR_NODES.split(",")))
    for i in range(errors.count()):
        problems.append(f"error node: {errors.nth(i).inner_text().strip()[:120]}")
    text = "\n".join(page.locator(RENDERED).all_inner_texts())
    problems += [f"raw role: {m.group(0)}" for m in RAW_ROLE.finditer(text)]
    return problems


def _markdown_cells(path: Path) -> int:
    return sum(c.cell_type == "markdown" for c in jupytext.read(path).cells)


def test_the_checks_see_a_broken_notebook(lab_page):
    _open(lab_page, "broken.md", 1)
    problems = _problems(lab_page)
    _close(lab_page)
    assert len(problems) == 3 and all("error node" in p for p in problems), problems
    assert {"\\norm{x}", "yu2026branch", "ch-ntk"} == {p.split(": ", 1)[1] for p in problems}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_reads_correctly_in_jupyterlab(lab_page, chapter):
    page = lab_page
    _open(page, f"{chapter}.md", _markdown_cells(ROOT / f"{chapter}.md"))
    problems = _problems(page)
    text = "\n".join(page.locator(RENDERED).all_inner_texts())
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"lab-{Path(chapter).name}.png"))
    _close(page)
    assert not problems, f"{chapter} in JupyterLab:\n" + "\n".join(problems[:20])
    if "{prf:theorem}" in (ROOT / f"{chapter}.md").read_text():
        assert re.search(r"Theorem [0-9A-Z]+\.1\b", text), f"{chapter}: theorems are not numbered as in the book"


def test_a_chapter_runs_in_jupyterlab_and_shows_its_numbers(lab_page):
    page = lab_page
    _open(page, f"{RUN_CHAPTER}.md", _markdown_cells(ROOT / f"{RUN_CHAPTER}.md"))
    assert page.locator(f"{RENDERED} code").count() > 0   # inline expressions before the run: their code
    # Run > Run All Cells, once the kernel is up.
    page.evaluate("""async () => {
        const app = window.jupyterapp;
        await app.shell.currentWidget.sessionContext.ready;
        await app.commands.execute('notebook:run-all-cells');
    }""")
    # Done when the last code cell has an execution count and the kernel is idle again.
    prompts = f"{ACTIVE} .jp-CodeCell .jp-InputPrompt"
    page.wait_for_function("s => { const p = [...document.querySelectorAll(s)];"
                           " return p.length && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }",
                           arg=prompts, timeout=240000)
    outputs = page.locator(f"{ACTIVE} .jp-CodeCell .jp-OutputArea-output")
    assert outputs.count() > 3
    assert page.locator(f"{ACTIVE} .jp-CodeCell .jp-OutputArea-output img").count() >= 1, "no figure was drawn"
    assert page.locator(f"{ACTIVE} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")\
        .filter(has_text="Error").count() == 0
    # Inline expressions now show their values (numbers), not their code.
    page.wait_for_function(f"() => [...document.querySelectorAll({RENDERED!r})].some("
                           "e => /exponent is -?\\d+\\.\\d{3}/.test(e.innerText))", timeout=30000)
    page.screenshot(path=str(SHOTS / f"lab-run-{Path(RUN_CHAPTER).name}.png"), full_page=True)
    _close(page)
