"""Execute the book's chapters as plain notebooks, in parallel, and cache what the book build needs.

Each chapter is read with jupytext and run by nbclient as a reader's notebook runs: top to bottom, in a fresh
kernel started in ``book/``. When a Markdown cell is reached, its inline expressions (``{eval}`expr```) are
evaluated in the kernel, exactly as jupyterlab-myst evaluates them, and stored in the cell's ``user_expressions``
metadata. The executed chapter goes into the book's jupyter-cache (``_build/.jupyter_cache``): the code cells'
outputs as MyST-NB expects them, the expression values in the record's data. ``jupyter-book build`` then finds
every chapter in the cache and executes nothing; its ``{eval}`` role prints the stored values.

Usage::

    .venv/bin/python book/_ext/execute.py [--jobs N] [--force] [book/<chapter> ...]

Without chapters, every notebook of the table of contents. Chapters already in the cache (same code) are skipped
unless ``--force``. The kernels get ``RESNTK_BOOK_BUILD=1``, so that explorers render as static players.
Exit status 1 if a chapter fails; its error is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
from notebook_edition import ROOT, inline_expressions, notebook_chapters  # noqa: E402

CACHE = ROOT / "_build" / ".jupyter_cache"
#: Environment variables a kernel must not inherit from the caller (pytest, a headless matplotlib backend).
_SCRUB = ("PYTEST_CURRENT_TEST", "MPLBACKEND", "PYTEST_ADDOPTS")


def book_env(**extra: str) -> dict[str, str]:
    """The environment of a book build or a chapter's kernel: ``RESNTK_BOOK_BUILD=1``, nothing of a pytest run."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["RESNTK_BOOK_BUILD"] = "1"
    env.update(extra)
    return env


def jupyter_book(*args: str | os.PathLike, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``jupyter-book build ROOT *args`` (the .venv's Jupyter Book 1.x) in the book's environment; output captured."""
    cmd = [os.fspath(Path(sys.executable).with_name("jupyter-book")), "build", os.fspath(ROOT), *map(os.fspath, args)]
    return subprocess.run(cmd, cwd=ROOT, env=book_env(), capture_output=True, text=True, timeout=timeout)


@dataclass
class Result:
    chapter: str
    seconds: float = 0.0
    cached: bool = False
    error: str | None = None
    notebook: dict | None = field(default=None, repr=False)
    values: dict = field(default_factory=dict, repr=False)


def _cell_timeout(root: Path = ROOT) -> int:
    return int(yaml.safe_load((root / "_config.yml").read_text())["execute"]["timeout"])


def read_chapter(chapter: str, root: Path | None = None):
    """The chapter ``book/<name>`` as a notebook (jupytext's MyST reader, as JupyterLab opens it)."""
    import jupytext

    return jupytext.read((root or ROOT) / f"{chapter}.md")


def _client_class():
    from nbclient import NotebookClient

    class ChapterClient(NotebookClient):
        """nbclient that also evaluates Markdown cells' inline expressions when it reaches them."""

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            if cell.cell_type == "markdown":
                expressions = inline_expressions(cell.source)
                if expressions:
                    await self._evaluate_inline(cell, cell_index, expressions)
                return cell
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

        async def _evaluate_inline(self, cell, cell_index, expressions):
            request = {str(i): e for i, e in enumerate(expressions)}
            msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions=request)
            reply = await self.async_wait_for_reply(msg_id, cell)
            results = reply["content"].get("user_expressions", {})
            stored = []
            for i, expr in enumerate(expressions):
                result = results.get(str(i), {"status": "error", "ename": "NoResult", "evalue": expr,
                                              "traceback": []})
                if result.get("status") != "ok":
                    raise RuntimeError(f"Markdown cell {cell_index}: {{eval}}`{expr}` failed: "
                                       f"{result.get('ename')}: {result.get('evalue')}")
                stored.append({"expression": expr, "result": result})
            cell.metadata["user_expressions"] = stored

    return ChapterClient


def run_chapter(chapter: str, root: Path, timeout: int | None = None) -> Result:
    """Execute one chapter of the book at ``root`` as a plain notebook; never raises (errors go into the result)."""
    import nbformat

    start = time.perf_counter()
    try:
        nb = read_chapter(chapter, root)
        env = book_env()
        client = _client_class()(nb, timeout=timeout or _cell_timeout(), kernel_name="python3",
                                 resources={"metadata": {"path": os.fspath((root / chapter).parent)}},
                                 allow_errors=False, record_timing=False)  # timing would change the cache key
        client.execute(env=env)  # keyword arguments go to the kernel manager's start_kernel
        values = {}
        for index, cell in enumerate(nb.cells):
            for item in cell.metadata.get("user_expressions", []):
                expr, result = item["expression"], item["result"]
                if expr in values and values[expr]["data"] != result["data"]:
                    raise RuntimeError(f"{{eval}}`{expr}` has two values in this chapter "
                                       f"({values[expr]['data'].get('text/plain')} and "
                                       f"{result['data'].get('text/plain')}, the second in Markdown cell {index}): "
                                       "give the two numbers different names")
                values[expr] = result
        return Result(chapter, time.perf_counter() - start, notebook=nbformat.from_dict(nb), values=values)
    except Exception as exc:  # reported, not raised: other chapters go on
        text = str(exc)
        if hasattr(exc, "traceback") and exc.traceback:
            text = exc.traceback if isinstance(exc.traceback, str) else "\n".join(exc.traceback)
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # nbclient's tracebacks carry terminal colours
        return Result(chapter, time.perf_counter() - start, error=f"{type(exc).__name__}: {text}")


def _open_cache(cache=None):
    """A jupyter-cache object from one, from a folder, or the book's cache (``None``)."""
    from jupyter_cache import get_cache

    return get_cache(os.fspath(cache or CACHE)) if cache is None or isinstance(cache, (str, Path)) else cache


def cached_record(chapter: str, cache=None):
    """The jupyter-cache record of ``chapter``'s current code with all its inline values, or None.

    ``cache`` is a jupyter-cache object or a path (default: the book's cache).
    """
    cache = _open_cache(cache)
    nb = read_chapter(chapter)
    try:
        record = cache.match_cache_notebook(nb)
    except KeyError:
        return None
    stored = (record.data or {}).get("user_expressions")
    # The cache is keyed on the code cells only: an expression added to the prose needs a new run too.
    needed = {e for cell in nb.cells if cell.cell_type == "markdown" for e in inline_expressions(cell.source)}
    return record if stored is not None and needed <= set(stored) else None


def executed_notebook(chapter: str, cache=None):
    """The executed chapter as a reader downloads it: its code cells' outputs and its inline values filled in.

    Returns None when the chapter's current code is not in the cache.
    """
    cache = _open_cache(cache)
    record = cached_record(chapter, cache)
    if record is None:
        return None
    _, nb = cache.merge_match_into_notebook(read_chapter(chapter))
    values = record.data["user_expressions"]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            exprs = inline_expressions(cell.source)
            if exprs:
                cell.metadata["user_expressions"] = [{"expression": e, "result": values[e]} for e in exprs]
    return nb


def execute(chapters: list[str] | None = None, *, jobs: int | None = None, force: bool = False,
            cache_path: str | Path = CACHE, log=print) -> list[Result]:
    """Execute ``chapters`` (default: all) in parallel into the cache at ``cache_path``; one result per chapter."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    chapters = chapters or notebook_chapters()
    Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
    cache = get_cache(os.fspath(cache_path))
    results = {}
    todo = []
    for chapter in chapters:
        record = None if force else cached_record(chapter, cache)
        if record is not None:
            results[chapter] = Result(chapter, record.data.get("execution_seconds", 0.0), cached=True)
        else:
            todo.append(chapter)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        log(f"executing {len(todo)} chapter(s) as plain notebooks, {jobs} at a time")
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_chapter, chapter, ROOT) for chapter in todo]
        for future in as_completed(futures):
            result = future.result()
            results[result.chapter] = result
            if result.error:
                log(f"FAILED {result.chapter} after {result.seconds:.1f} s\n{result.error}")
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(result.notebook, os.fspath(ROOT / f"{result.chapter}.md"),
                              data={"execution_seconds": result.seconds, "user_expressions": result.values}),
                check_validity=False, overwrite=True)
            log(f"executed {result.chapter} in {result.seconds:.1f} s")
    return [results[c] for c in chapters]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapters as book/<name> (default: all)")
    parser.add_argument("--jobs", type=int, default=None, help="chapters run at once (default: CPU count)")
    parser.add_argument("--force", action="store_true", help="execute even when the cache has the chapter")
    parser.add_argument("--cache", default=os.fspath(CACHE), help="jupyter-cache folder (default: the book's)")
    args = parser.parse_args(argv)
    chapters = [c[:-3] if c.endswith(".md") else c for c in args.chapters] or None
    start = time.perf_counter()
    results = execute(chapters, jobs=args.jobs, force=args.force, cache_path=args.cache)
    failed = [r.chapter for r in results if r.error]
    slowest = max(results, key=lambda r: r.seconds)
    print(f"{len(results)} chapters ready in {time.perf_counter() - start:.0f} s "
          f"({sum(r.cached for r in results)} from the cache; slowest {slowest.chapter}, {slowest.seconds:.1f} s)")
    for r in results:
        if r.error:
            print(f"==== {r.chapter} failed:\n{r.error[-3000:]}")
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
