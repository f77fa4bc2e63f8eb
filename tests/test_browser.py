"""The rendered book, as a reader sees it, in a real headless browser.

Builds the HTML (strict, through the execution cache), serves it on localhost and opens chapters in Debian's
Chromium driven by Playwright. Checks that MathJax typeset the maths (no raw TeX delimiters left in the prose),
that every image loaded, that theorem and exercise boxes are there, that a folded solution opens on click, and
that the console shows no error and no request failed. Screenshots go to ``_build/screenshots/``.

Skipped when Chromium or Playwright is missing (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import needs_chromium

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
pytestmark = [pytest.mark.browser, needs_chromium]

# Chapters opened in the browser: the first real chapter carries every kind of element checked below.
PAGES = ["book/residual-networks-with-branch-scaling.html"]


def _build_book() -> None:
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import execute

    failed = [r.chapter for r in execute.execute(log=lambda msg: None) if r.error]
    if failed:
        pytest.fail(f"chapters failed to execute: {failed} (see tests/test_chapters.py)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "MPLBACKEND")}
    env["RESNTK_BOOK_BUILD"] = "1"
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT), "-n", "-W", "--keep-going"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0 or not (HTML / "index.html").exists():
        pytest.fail("the strict book build failed:\n" + (proc.stdout + proc.stderr)[-6000:], pytrace=False)


@pytest.fixture(scope="module")
def site():
    pytest.importorskip("playwright.sync_api")
    _build_book()
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


PROSE_TEXT_JS = """() => {
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, .highlight, .cell_output, mjx-container, script, style')
       .forEach(e => e.remove());
  return clone.innerText;
}"""


@pytest.mark.parametrize("page", PAGES)
def test_chapter_renders_for_a_reader(site, browser, page):
    errors: list[str] = []
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    tab = ctx.new_page()
    tab.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    tab.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    tab.goto(f"{site}/{page}", wait_until="load")
    tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
    tab.evaluate("() => MathJax.startup.promise")

    # Maths: typeset, and no raw TeX delimiters left in the prose.
    assert tab.locator("mjx-container").count() > 20
    prose = tab.evaluate(PROSE_TEXT_JS)
    for raw in ("$$", "\\(", "\\[", "\\begin{"):
        assert raw not in prose, f"untypeset TeX {raw!r} in {page}"

    # Images: every one loaded (complete with a non-zero natural width).
    broken = tab.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                          ".map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    figures = tab.locator("figure img")
    assert figures.count() >= 1
    assert all(figures.nth(i).get_attribute("alt") for i in range(figures.count()))

    # Theorem-like boxes (sphinx-proof) and exercises (sphinx-exercise).
    assert tab.locator("div.proof.proposition").count() >= 1
    assert tab.locator("div.proof.definition").count() >= 1
    assert tab.locator("div.exercise").count() >= 3

    # A folded solution opens on click.
    solution = tab.locator("div.solution.dropdown").first
    body = solution.locator("section, p").last
    assert not body.is_visible(), "solutions should be folded when the page opens"
    solution.locator(".admonition-title").click()
    body.wait_for(state="visible", timeout=5000)

    # A folded proof (a sphinx-design dropdown) opens on click.
    proof = tab.locator("details.sd-dropdown").first
    assert proof.get_attribute("open") is None
    proof.locator("summary").click()
    assert proof.get_attribute("open") is not None

    # The chapter downloads as an executed notebook (.ipynb) from the page's download button.
    ipynb = tab.evaluate("() => [...document.querySelectorAll('a[href$=\".ipynb\"]')].map(a => a.href)")
    assert ipynb, "no .ipynb download on the page"
    import json
    import urllib.request

    with urllib.request.urlopen(ipynb[0]) as resp:  # served from localhost by the fixture
        nb = json.loads(resp.read())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and any(c.get("outputs") for c in code), "the downloaded notebook carries no outputs"

    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (Path(page).stem + ".png")), full_page=True)
    ctx.close()
    assert not errors, "the browser reported problems:\n" + "\n".join(errors)
