"""Build some chapters of the book on their own, strictly, in a separate folder: the chapter author's loop.

Usage::

    .venv/bin/python book/_ext/build_chapters.py OUTDIR book/chapter-a [book/chapter-b ...]

Writes a table of contents with the Preface, the given chapters and the Bibliography, and a copy of
``_config.yml`` whose execution cache lives in ``OUTDIR/cache`` (so several authors can build at once without
sharing a cache database). Runs the chapters as notebooks into that cache (``execute.py``, which prints each
chapter's execution time), then Jupyter Book with ``-n --keep-going`` and then fails on every warning except
references to labels defined in chapters outside the subset (those resolve in the full build; ``make book`` is
the final judge). The HTML is in ``OUTDIR/_build/html``.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CROSS_REF = re.compile(r"undefined label|label not found|label '[^']*' not found|reference target not found|"
                       r"unknown target|could not find|unknown source document|"
                       # a subset numbers its chapters by their place in the subset, so numbered texts differ
                       r"does not match its target|"
                       r"failed to create a cross reference|term not in glossary", re.I)


def write_config(out: Path) -> Path:
    """Write ``out/_config.yml``: the book's configuration with its execution cache in ``out/cache``.

    Relative paths of the original (bibliography, favicon, local extensions) are made absolute, so that a build
    with ``--config out/_config.yml`` works from the repository root. Also used by ``benchmarks/book.py``.
    """
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg["execute"]["cache"] = os.fspath(out / "cache")
    cfg["bibtex_bibfiles"] = [os.fspath(ROOT / f) for f in cfg["bibtex_bibfiles"]]
    cfg["html"]["favicon"] = os.fspath(ROOT / cfg["html"]["favicon"])
    cfg["sphinx"]["local_extensions"] = {k: os.fspath(ROOT / v) for k, v in cfg["sphinx"]["local_extensions"].items()}
    sphinx = cfg["sphinx"]["config"]
    sphinx["html_static_path"] = [os.fspath(ROOT / p) for p in sphinx["html_static_path"]]
    (out / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out / "_config.yml"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    out = Path(argv[0]).resolve()
    chapters = [c[:-3] if c.endswith(".md") else c for c in argv[1:]]
    for c in chapters:
        if not (ROOT / f"{c}.md").exists():
            print(f"no such chapter: {c}.md")
            return 2
    out.mkdir(parents=True, exist_ok=True)
    toc = {"format": "jb-book", "root": "book/preface", "options": {"numbered": True},
           "parts": [{"caption": "Chapters", "numbered": True, "chapters": [{"file": c} for c in chapters]},
                     {"caption": "Back matter", "numbered": False, "chapters": [{"file": "book/bibliography"}]}]}
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    write_config(out)

    start = time.perf_counter()
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
    import execute

    failed = [r for r in execute.execute(chapters, cache_path=out / "cache") if r.error]
    if failed:
        print(f"FAILED: {', '.join(r.chapter for r in failed)} did not run as notebooks")
        return 1
    proc = execute.jupyter_book("--config", out / "_config.yml", "--toc", out / "_toc.yml", "--path-output", out,
                                "-n", "--keep-going")
    log = proc.stdout + proc.stderr
    (out / "build.log").write_text(log)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    warnings = [ansi.sub("", ln) for ln in log.splitlines()
                if ("WARNING" in ln or "ERROR:" in ln or "CRITICAL:" in ln) and "Kernel is running" not in ln]
    tolerated = [w for w in warnings if CROSS_REF.search(w)]
    fatal = [w for w in warnings if not CROSS_REF.search(w)]
    for w in tolerated:
        print("cross-chapter reference (resolves in the full build?):", w)
    for w in fatal:
        print("WARNING:", w)
    lines = [ansi.sub("", ln) for ln in log.splitlines()]
    for i, ln in enumerate(lines):  # the failing cell and its traceback, as the notebook client reported it
        if "Executing notebook failed" in ln:
            end = next((j for j in range(i + 1, len(lines)) if "ExecutionError" in lines[j]), i + 80)
            print("\n".join(lines[i:end + 1]))
    for rep in sorted((out / "_build" / "html" / "reports").glob("*.log")):
        print(f"==== execution report {rep.name}\n{rep.read_text()}")
    ok = proc.returncode == 0 and not fatal and (out / "_build" / "html" / "index.html").exists()
    if proc.returncode != 0 and not any("Executing notebook failed" in ln for ln in lines):
        print(log[-4000:])
    print(f"{'OK' if ok else 'FAILED'} in {time.perf_counter() - start:.0f} s: {out / '_build' / 'html'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
