"""The whole book as one PDF: the single-page HTML edition, printed by Chromium.

Route: Sphinx's ``singlehtml`` builder (through Jupyter Book, the same configuration and execution cache as the
site) writes the whole book as one HTML page; Debian's Chromium, driven by Playwright, opens it offline, lets MathJax
typeset it, opens every proof and solution (the site's ``resntk.js`` does on ``beforeprint``) and prints it to A4.
This is what Jupyter Book's own ``pdfhtml`` builder does, with the browser the tests already use instead of one
downloaded at build time, and it prints exactly what a reader sees online: the same MathJax, figures, theorem boxes
and numbering. (The LaTeX route would need a TeX installation several times the size of the book's toolchain, and
re-typesets everything with different macros, numbering and figure handling.)

Two editions:

* the **teacher edition** (``resntk-book.pdf``): proofs and exercise solutions printed open;
* the **student edition** (``resntk-book-student.pdf``): the same book without solutions (the student edition's
  configuration, ``student_edition.py``).

Usage::

    .venv/bin/python book/_ext/pdf.py [--out _build/html] [--edition teacher|student|both]

Builds, prints and then checks each PDF (``pdftotext``: every chapter title, the numbered theorems, a proof body
and a figure caption are there; the student edition has no solution text); exit status 1 on a problem. The PDFs are
written into the built site, where every page links them.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
from notebook_edition import ROOT, notebook_chapters, solution_snippets, toc_files  # noqa: E402

PDF_NAMES = {"teacher": "resntk-book.pdf", "student": "resntk-book-student.pdf"}
#: Headless Debian Chromium as root, offline: no sandbox, no GPU, no background network (its connections would be
#: refused by a closed network, many at a time). The browser tests use the same.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FOOTER = ('<div style="font-size:8px; width:100%; text-align:center; color:#555;">'
          '<span class="title"></span> &middot; <span class="pageNumber"></span> / <span class="totalPages"></span>'
          '</div>')


def chromium() -> str | None:
    """The system Chromium (``RESNTK_CHROMIUM`` overrides); None when there is none."""
    return os.environ.get("RESNTK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def build_single_page(edition: str, work: Path) -> Path:
    """Build the single-page HTML of ``edition`` into ``work``; returns the page's path."""
    from execute import jupyter_book
    from student_edition import book_config, student_config

    # The main build's execution cache (a build elsewhere would otherwise start one of its own and re-execute).
    config = work / "_config.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(student_config() if edition == "student" else book_config(), sort_keys=False))
    proc = jupyter_book("--builder", "singlehtml", "--path-output", work, "--config", config)
    site = work / "_build" / "singlehtml"
    page = site / (toc_files()[0] + ".html")
    if proc.returncode != 0 or not page.exists():
        raise RuntimeError(f"the single-page build failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    # Sphinx writes the page under the root document's folder (book/) but links its assets as from the site's
    # root: move it there.
    book = site / "book.html"
    page.replace(book)
    return book


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def print_pdf(page: Path, pdf: Path, title: str) -> None:
    """Print the single HTML ``page`` to ``pdf`` with Chromium (served on loopback: nothing from the network)."""
    from playwright.sync_api import sync_playwright

    root = page.parent  # _build/singlehtml
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=os.fspath(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport={"width": 1000, "height": 1400})
            url = f"http://127.0.0.1:{server.server_address[1]}/{page.relative_to(root).as_posix()}"
            tab.goto(url, wait_until="load", timeout=300_000)
            tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                  timeout=120_000)
            tab.evaluate("() => MathJax.startup.promise")
            tab.evaluate("() => { window.resntkOpenEverything(); document.title = %r; }" % title)
            tab.emulate_media(media="print")
            tab.pdf(path=os.fspath(pdf), format="A4", print_background=True, display_header_footer=True,
                    header_template="<span></span>", footer_template=FOOTER,
                    margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"})
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", os.fspath(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", os.fspath(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def _titles() -> list[str]:
    titles = []
    for f in toc_files():
        text = (ROOT / f"{f}.md").read_text()
        text = re.sub(r"```.*?```", "", re.sub(r"\A(---\n.*?\n---\n\s*){1,2}", "", text, flags=re.S), flags=re.S)
        match = re.search(r"^# (.+)$", text, re.M)
        if match:
            titles.append(re.sub(r"[`*]", "", match.group(1)).strip())
    return titles


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def check(pdf: Path, edition: str) -> list[str]:
    """What a reader must find in the PDF of ``edition`` (and, for students, must not)."""
    text = _squash(pdf_text(pdf))
    problems = [f"chapter title missing: {t!r}" for t in _titles() if _squash(t) not in text]
    for label in ("Theorem 4.1", "Proposition 1.1", "Definition 10.2", "Theorem A.1", "Exercise 1.1"):
        if label not in text:
            problems.append(f"numbered statement missing: {label}")
    if "Proof of Proposition 1.1" not in text or "(otherwise everything is" not in text:
        problems.append("the proof of Proposition 1.1 is not printed open")
    if not re.search(r"Fig\. 1\.1 .{0,40}\w", text):
        problems.append("no figure caption (Fig. 1.1)")
    # Prose lines of the solutions (code lines are laid out differently in print).
    snippets = [_squash(s) for c in notebook_chapters() for s in solution_snippets((ROOT / f"{c}.md").read_text())
                if not re.search(r"[=()\[\]_#]", s)]
    printed = [s for s in snippets if s in text]
    if edition == "teacher" and ("Solution to Exercise 1.1" not in text or len(printed) < len(snippets) // 2):
        problems.append(f"solutions are missing: {len(printed)} of {len(snippets)} solution lines printed")
    if edition == "student" and ("Solution to" in text or printed):
        problems.append(f"the student edition prints solutions, e.g. {printed[:2]}")
    return problems


def build(edition: str, out: Path) -> tuple[Path, int, float]:
    """Build, print and check one edition into ``out``; returns (pdf, pages, seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"resntk-pdf-{edition}-") as work:
        page = build_single_page(edition, Path(work))
        pdf = out / PDF_NAMES[edition]
        out.mkdir(parents=True, exist_ok=True)
        title = "Residual Networks, Kernels and Depth" + (" (student edition)" if edition == "student" else "")
        print_pdf(page, pdf, title)
    problems = check(pdf, edition)
    if problems:
        raise RuntimeError(f"{pdf}:\n" + "\n".join(problems))
    return pdf, pdf_pages(pdf), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.fspath(ROOT / "_build" / "html"), help="where the PDFs go")
    parser.add_argument("--edition", choices=["teacher", "student", "both"], default="both")
    args = parser.parse_args(argv)
    if chromium() is None or shutil.which("pdftotext") is None:
        print("the PDF needs Chromium and poppler-utils (apt-get install chromium poppler-utils)")
        return 1
    editions = ["teacher", "student"] if args.edition == "both" else [args.edition]
    # The two editions build side by side: each is one Sphinx process and one browser, mostly single-threaded.
    with ThreadPoolExecutor(max_workers=len(editions)) as pool:
        futures = {edition: pool.submit(build, edition, Path(args.out)) for edition in editions}
    status = 0
    for edition, future in futures.items():
        try:
            pdf, pages, seconds = future.result()
        except RuntimeError as exc:
            print(exc)
            status = 1
            continue
        print(f"{edition} edition: {pdf} ({pages} pages, {seconds:.0f} s), checked")
    return status


if __name__ == "__main__":
    sys.exit(main())
