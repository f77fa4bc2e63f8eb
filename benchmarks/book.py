"""Benchmark: building the book — cold build, cached rebuilds and per-chapter execution times, in one run.

Three builds of the real table of contents into a temporary folder, with the execution cache inside it (the
configuration is copied with the cache path changed, as ``book/_ext/build_chapters.py`` does), so the project's own
``_build`` is left alone:

1. **cold**: empty cache, empty Sphinx environment: every chapter runs as a notebook (``book/_ext/execute.py``,
   one chapter per CPU at a time) and then the site is built (what a fresh clone's first ``make book`` costs,
   without the virtual environment);
2. **re-render from cache**: the HTML and Sphinx environment deleted, the execution cache kept (what CI's
   ``make book`` costs after ``make test`` has executed the chapters into the cache);
3. **cached rebuild**: nothing changed (what a second ``make book`` costs).

Per-chapter execution times come from the jupyter-cache records of the cold build. Run
``python benchmarks/book.py`` (several minutes: it executes every chapter) or ``--quick`` (the preface and
chapter 1 only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _configs(out: Path, quick: bool) -> tuple[Path, Path]:
    sys.path.insert(0, os.fspath(ROOT / "book" / "_ext"))
    from build_chapters import write_config  # noqa: PLC0415

    config = write_config(out)
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    if quick:  # the preface, chapter 1 and the bibliography
        toc["parts"] = [{"caption": "Chapters", "numbered": True,
                         "chapters": [toc["parts"][0]["chapters"][0]]},
                        {"caption": "Back matter", "numbered": False, "chapters": [{"file": "book/bibliography"}]}]
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return config, out / "_toc.yml"


def _execute(out: Path, toc: Path) -> float:
    """Run the table of contents' chapters as notebooks into ``out/cache``, in parallel; the wall time."""
    import execute  # noqa: PLC0415  (book/_ext is on the path: see _configs)
    from notebook_edition import is_notebook  # noqa: PLC0415

    spec = yaml.safe_load(toc.read_text())
    files = [ch["file"] for part in spec["parts"] for ch in part["chapters"]]
    chapters = [f for f in files if is_notebook((ROOT / f"{f}.md").read_text())]
    t0 = time.perf_counter()
    failed = [r.chapter for r in execute.execute(chapters, cache_path=out / "cache", log=lambda msg: None)
              if r.error]
    if failed:
        raise RuntimeError(f"chapters failed to run as notebooks: {failed}")
    return time.perf_counter() - t0


def _build(out: Path, config: Path, toc: Path) -> float:
    jb = Path(sys.executable).with_name("jupyter-book")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "MPLBACKEND")}
    env["RESNTK_BOOK_BUILD"] = "1"
    t0 = time.perf_counter()
    proc = subprocess.run([str(jb), "build", str(ROOT), "--config", str(config), "--toc", str(toc),
                           "--path-output", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0 or not (out / "_build" / "html" / "index.html").exists():
        raise RuntimeError(f"book build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def chapter_times(cache: Path) -> dict[str, float]:
    """Execution seconds of each cached chapter, from the jupyter-cache records."""
    from jupyter_cache import get_cache  # noqa: PLC0415

    times = {}
    for rec in get_cache(os.fspath(cache)).list_cache_records():
        seconds = (rec.data or {}).get("execution_seconds")
        if seconds is not None:
            times[Path(rec.uri).stem] = float(seconds)
    return times


def measure(quick: bool = False) -> list:
    """Book rows: cold build, re-render from cache, cached rebuild, and each chapter's execution time."""
    from _table import Row  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="resntk-book-bench-") as tmp:
        out = Path(tmp)
        config, toc = _configs(out, quick)
        executed = _execute(out, toc)
        cold = executed + _build(out, config, toc)
        unchanged = _build(out, config, toc)
        shutil.rmtree(out / "_build")
        rerender = _build(out, config, toc)
        chapters = chapter_times(out / "cache")
    what = "preface + chapter 1" if quick else f"{len(chapters)} executed pages"
    total = sum(chapters.values())
    rows = [Row("book", f"cold build ({what})", cold, "s", "sum of chapter executions", total, "", None),
            Row("book", f"chapters run in parallel ({os.cpu_count()} at a time)", executed, "s",
                "sum of chapter executions", total, "", None),
            Row("book", "re-render from the execution cache", rerender, "s", "cold build", cold, "", None),
            Row("book", "cached rebuild, nothing changed", unchanged, "s", "cold build", cold, "", None)]
    for name, seconds in sorted(chapters.items(), key=lambda kv: -kv[1]):
        rows.append(Row("book", f"execution of {name}", seconds, "s", "", None, "< 60 s", seconds < 60))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the preface and chapter 1 only")
    args = parser.parse_args()
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
    from _table import format_table  # noqa: PLC0415

    print(format_table(measure(args.quick)))


if __name__ == "__main__":
    main()
