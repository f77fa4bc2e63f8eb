"""All benchmarks in one run, printed as one table: each figure next to its reference, measured side by side.

Usage::

    python benchmarks/run_all.py            # full sizes and the book builds (about 10 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # small sizes, no full book build (under a minute)
    python benchmarks/run_all.py --only book   # one capability: kernels, empirical, regression, book

Every ratio is ``value / reference`` with both measured in this process (or its child builds), so that the noise of
a shared machine moves both. The targets are those of the issues that set them; descriptive rows have none.
``benchmarks/README.md`` records a run and what bounds each figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

import book  # noqa: E402
import empirical  # noqa: E402
import kernels  # noqa: E402
import regression  # noqa: E402
from _table import format_table  # noqa: E402

CAPABILITIES = {"kernels": kernels.measure, "empirical": empirical.measure,
                "regression": regression.measure, "book": book.measure}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; the book part builds chapter 1 only")
    parser.add_argument("--only", choices=sorted(CAPABILITIES), action="append",
                        help="run only these capabilities (repeatable)")
    parser.add_argument("--no-book", action="store_true", help="skip the book builds")
    args = parser.parse_args(argv)
    names = args.only or [n for n in CAPABILITIES if not (args.no_book and n == "book")]
    import torch  # noqa: PLC0415

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; torch {torch.__version__}; {'quick' if args.quick else 'full'} sizes")
    rows = []
    for name in names:
        t0 = time.perf_counter()
        rows += CAPABILITIES[name](args.quick)
        print(f"  {name}: measured in {time.perf_counter() - t0:.1f} s", flush=True)
    print(format_table(rows))
    missed = [r for r in rows if r.met is False]
    if missed:
        print("targets missed: " + "; ".join(r.measurement for r in missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
