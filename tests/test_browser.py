"""The rendered book, page by page, as a reader sees it: headless Chromium at 1280 px and on a 390 px phone.

Builds the HTML (strict, through the execution cache; the chapters run as notebooks first), serves it on localhost
and opens EVERY page of the table of contents in Debian's Chromium driven by Playwright. On each page:

* nothing fails: no console error, no failed request, no HTTP error;
* the maths is typeset: no raw TeX left in the prose (delimiters or ``\\command``s) and none in what a reader sees
  without MathJax (the tab title, the sidebar, the page's navigation);
* figures are legible: every figure is drawn at (nearly) its natural size in the content column, so its text keeps
  the style's 9 pt at least, and on a phone a figure opens at full size on click;
* code fits the column: no code block scrolls sideways;
* the header has one search box.

The bibliography reads author-year, a folded proof and solution open on click and in print, the download is the
executed notebook, search and dark mode work. Screenshots of every page at both widths go to
``_build/screenshots/`` (CI keeps them). Skipped when Chromium or Playwright is missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import needs_chromium, page_text

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
pytestmark = [pytest.mark.browser, needs_chromium]

#: A figure drawn below this fraction of its natural width shows the style's 9 pt text smaller than 9 pt
#: (the style renders at 100 dpi: 9 pt = 12.5 px natural; 12 px = 9 pt on screen).
MIN_FIGURE_SCALE = 0.96
FIRST_CHAPTER = "book/residual-networks-with-branch-scaling.html"


def _pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        for ch in part["chapters"]:
            files.append(ch["file"])
            files += [s["file"] for s in ch.get("sections", [])]
    return [f"{f}.html" for f in files]


PAGES = _pages()


def _build_book() -> None:
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import execute

    failed = [r.chapter for r in execute.execute(log=lambda msg: None) if r.error]
    if failed:
        pytest.fail(f"chapters failed to execute: {failed} (see tests/test_chapters.py)", pytrace=False)
    proc = execute.jupyter_book("-n", "-W", "--keep-going", timeout=1800)
    if proc.returncode != 0 or not (HTML / "index.html").exists():
        pytest.fail("the strict book build failed:\n" + (proc.stdout + proc.stderr)[-6000:], pytrace=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def site():
    pytest.importorskip("playwright.sync_api")
    if os.environ.get("RESNTK_SITE_BUILT") != "1":  # set by callers that just built the site
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


@pytest.fixture(scope="module")
def contexts(browser):
    desktop = browser.new_context(viewport={"width": 1280, "height": 900})
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                has_touch=True)
    yield desktop, phone
    desktop.close()
    phone.close()


def _watch(tab) -> list[str]:
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    tab.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return errors


def _typeset(tab) -> None:
    """Wait for MathJax to typeset the page (pages without maths do not load it)."""
    if not tab.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):
        return
    tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30000)
    tab.evaluate("() => MathJax.startup.promise")


#: The page's prose as a reader sees it: code, outputs, typeset maths and scripts removed.
PROSE_TEXT_JS = """() => {
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, .highlight, .cell_output, mjx-container, script, style, .linenos')
       .forEach(e => e.remove());
  return clone.innerText;
}"""
#: What a reader sees without MathJax: the tab title, the sidebar and the page's navigation.
NAVIGATION_TEXT_JS = """() => [document.title,
  ...[...document.querySelectorAll('.bd-sidebar-primary, .bd-header-article, .prev-next-area, .bd-breadcrumbs')]
     .map(e => e.innerText)].join('\\n')"""
RAW_TEX = re.compile(r"\$|\\\(|\\\[|\\begin\{|\\[a-zA-Z]{2,}")

FIGURES_JS = """() => [...document.querySelectorAll('figure img')].map(i => ({
  src: i.getAttribute('src'), natural: i.naturalWidth, shown: i.getBoundingClientRect().width,
  loaded: i.complete && i.naturalWidth > 0, alt: i.getAttribute('alt') || '',
  enlargeable: i.classList.contains('resntk-enlargeable')}))"""
WIDE_CODE_JS = """() => [...document.querySelectorAll('div.highlight pre')]
  .filter(p => p.offsetParent !== null && p.innerText.trim() && p.scrollWidth > p.clientWidth + 1)
  .map(p => p.innerText.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '').slice(0, 70))"""
SEARCH_BOXES_JS = """() => [...document.querySelectorAll(
  '.bd-header .search-button-field, .bd-header form.bd-search, .bd-header-article .search-button-field, ' +
  '.bd-sidebar-primary form.bd-search, .bd-sidebar-primary .search-button-field')]
  .filter(e => e.offsetParent !== null).length"""


@pytest.mark.parametrize("page", PAGES)
def test_every_page_reads_correctly_on_a_desktop_and_a_phone(site, contexts, page):
    desktop, phone = contexts
    # The phone page loads and typesets in its own renderer while the desktop page is checked.
    mobile = phone.new_page()
    errors = _watch(mobile)
    mobile.goto(f"{site}/{page}", wait_until="commit")
    tab = desktop.new_page()
    errors += _watch(tab)
    tab.goto(f"{site}/{page}", wait_until="load")
    _typeset(tab)
    problems = []
    prose = tab.evaluate(PROSE_TEXT_JS)
    problems += [f"raw TeX in the prose: ...{prose[max(0, m.start() - 30):m.end() + 30]!r}"
                 for m in RAW_TEX.finditer(prose)][:5]
    navigation = tab.evaluate(NAVIGATION_TEXT_JS)
    problems += [f"raw TeX in the navigation or tab title: {navigation[max(0, m.start() - 30):m.end() + 30]!r}"
                 for m in RAW_TEX.finditer(navigation)][:5]
    for fig in tab.evaluate(FIGURES_JS):
        if not fig["loaded"]:
            problems.append(f"figure did not load: {fig['src']}")
        elif fig["shown"] < MIN_FIGURE_SCALE * fig["natural"]:
            problems.append(f"figure {fig['src']} drawn at {fig['shown']:.0f} px of its {fig['natural']} px: "
                            f"its text shrinks to {9 * fig['shown'] / fig['natural']:.1f} pt")
        if len(fig["alt"]) < 20:
            problems.append(f"figure {fig['src']} has no alt text")
    problems += [f"code wider than the column: {line!r}" for line in tab.evaluate(WIDE_CODE_JS)]
    if (boxes := tab.evaluate(SEARCH_BOXES_JS)) != 1:
        problems.append(f"{boxes} search boxes in the header and sidebar")
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = Path(page).with_suffix("").as_posix().replace("/", "-")
    tab.screenshot(path=str(SHOTS / f"site-{name}-1280.png"))
    tab.close()

    mobile.wait_for_load_state("load")
    _typeset(mobile)
    for fig in mobile.evaluate(FIGURES_JS):
        if fig["loaded"] and not fig["enlargeable"]:
            problems.append(f"figure {fig['src']} cannot be enlarged on a phone")
    overflow = mobile.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"the phone page scrolls sideways by {overflow} px")
    mobile.screenshot(path=str(SHOTS / f"site-{name}-390.png"))
    mobile.close()
    assert not problems and not errors, f"{page}:\n" + "\n".join(problems + errors)


def test_bibliography_reads_author_year(site, contexts):
    tab = contexts[0].new_page()
    tab.goto(f"{site}/book/bibliography.html", wait_until="load")
    labels = tab.evaluate("() => [...document.querySelectorAll('.citation .label')].map(e => e.innerText)")
    tab.close()
    assert len(labels) > 40
    numbered = [lab for lab in labels if re.fullmatch(r"\[?\d+\]?", lab.strip())]
    assert not numbered, f"numbered bibliography labels: {numbered[:5]}"
    assert any(re.search(r"Yu et al\.,? \(?2026", lab) for lab in labels), labels[:10]


def test_a_chapter_folds_proofs_and_solutions_on_screen_and_prints_them_open(site, contexts):
    tab = contexts[0].new_page()
    errors = _watch(tab)
    tab.goto(f"{site}/{FIRST_CHAPTER}", wait_until="load")
    _typeset(tab)
    assert tab.locator("div.proof.proposition").count() >= 1
    assert tab.locator("div.proof.definition").count() >= 1
    assert tab.locator("div.exercise").count() >= 3
    solution = tab.locator("div.solution.dropdown").first
    body = solution.locator("section, p").last
    assert not body.is_visible(), "solutions should be folded when the page opens"
    solution.locator(".admonition-title").click()
    body.wait_for(state="visible", timeout=5000)
    proof = tab.locator("details.sd-dropdown").first
    assert proof.get_attribute("open") is None
    proof.locator("summary").click()
    assert proof.get_attribute("open") is not None
    # Print: everything folded opens.
    tab.reload(wait_until="load")
    _typeset(tab)
    tab.emulate_media(media="print")
    tab.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    closed = tab.evaluate("() => [...document.querySelectorAll('details')].filter(d => !d.open).length")
    hidden = tab.evaluate("() => [...document.querySelectorAll('div.solution section, div.solution p')]"
                          ".filter(e => e.offsetParent === null).length")
    assert closed == 0 and hidden == 0, f"{closed} proofs and {hidden} solution parts stay folded in print"
    assert tab.locator(".bd-sidebar-primary").is_hidden(), "the sidebar is printed"
    tab.close()
    assert not errors, errors


def test_the_student_edition_check_would_see_a_solution(site):
    """tests/test_student_edition.py can fail: its solution snippets are in the page built with solutions."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from notebook_edition import solution_snippets

    chapter = FIRST_CHAPTER.removesuffix(".html")
    snippets = solution_snippets((ROOT / f"{chapter}.md").read_text())
    text = page_text(HTML / FIRST_CHAPTER)
    assert snippets and all(s in text for s in snippets), [s for s in snippets if s not in text]


def test_the_download_is_the_executed_notebook(site, contexts):
    tab = contexts[0].new_page()
    tab.goto(f"{site}/{FIRST_CHAPTER}", wait_until="load")
    ipynb = tab.evaluate("() => [...document.querySelectorAll('a[href$=\".ipynb\"]')].map(a => a.href)")
    tab.close()
    assert ipynb, "no .ipynb download on the page"
    with urllib.request.urlopen(ipynb[0]) as resp:  # served from localhost by the fixture
        nb = json.loads(resp.read())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and sum(bool(c.get("outputs")) for c in code) > len(code) // 2


def test_every_page_links_the_pdf_editions(site, contexts):
    tab = contexts[0].new_page()
    tab.goto(f"{site}/{FIRST_CHAPTER}", wait_until="load")
    links = tab.evaluate("() => [...document.querySelectorAll('a[href$=\".pdf\"]')].map(a => a.href)")
    tab.close()
    assert any(link.endswith("/resntk-book.pdf") for link in links), links
    assert any(link.endswith("/resntk-book-student.pdf") for link in links), links


def test_search_finds_chapters_with_clean_titles_and_dark_mode_switches(site, contexts):
    tab = contexts[0].new_page()
    errors = _watch(tab)
    tab.goto(f"{site}/search.html?q=synthesis", wait_until="load")
    tab.wait_for_selector("#search-results li", timeout=20000)
    titles = tab.locator("#search-results li > a").all_inner_texts()
    assert titles and not [t for t in titles if RAW_TEX.search(t)], titles
    tab.goto(f"{site}/{FIRST_CHAPTER}", wait_until="load")
    button = tab.locator(".theme-switch-button:visible").first
    modes = []
    for _ in range(3):  # light -> dark -> auto -> light
        button.click()
        modes.append(tab.evaluate("() => document.documentElement.dataset.theme"))
    assert "dark" in modes, modes
    tab.close()
    assert not errors, errors
