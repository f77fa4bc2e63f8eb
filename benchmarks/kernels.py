"""Benchmark: the analytic residual kernels (resntk.kernels), measured side by side in one run.

Four measurements (the book's Chapter 4 describes the methods; the targets are those of the issues that set them):

1. **Cost per kernel entry per layer** of the direct forward recursion at n = 2000 and 4000 for depth 10 and 100,
   for the tiled path (default ``block_size``) against the same code untiled (one n x n tile) and against a NumPy
   transcription of the raw recursion (Proposition `rntk-prop-forward`), all on the same inputs. "Per entry" counts the n^2 output entries; with
   ``x2`` omitted only the upper triangle of tiles is computed, so the cost per computed entry is about twice that.
2. **The 1-D table fast path against the direct recursion** at n = 4000, depth 1000 (alpha = 1, the hardest
   case: the kernel varies fastest near rho = 1), inputs on S^2 so that close pairs exist. Target: at least 50x
   faster with a largest error of at most 1e-8 on the normalised kernels. The table path (build + Gram matrix) is
   timed after a small warm-up call, as the median of three runs; the direct run (about 40 s) once.
3. **Peak memory of the tiled path** at n = 20000, in a fresh subprocess (max RSS growth during the call, in units
   of n^2 float64 numbers). Target: at most 4 (the two outputs alone are 2). Depth 1, since the memory does not
   depend on the depth.
4. **Small problems and threads** (in the table of ``run_all.py``): the scalar recursion on 2001 x 3 angles at depth
   10^4 with torch's default intra-op thread count against one thread. On a loaded two-core machine each small
   elementwise call waits at the thread pool's barrier, so small problems can run several times faster on one
   thread. The library never changes the global thread count (it is process-wide state); a notebook or a script
   that runs many small kernels can call ``torch.set_num_threads(1)`` itself.

Run ``python benchmarks/kernels.py`` (a few minutes on 2 cores: the direct n = 4000, depth 1000 run alone is
1-2 minutes) or ``--quick`` (a few seconds, smaller sizes).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import textwrap
import time

import numpy as np
import torch

from resntk.kernels import ResidualKernelTable, residual_ntk


def _sphere(n: int, d: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True)


def _numpy_reference(X1: np.ndarray, X2: np.ndarray, L: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The raw recursion of Proposition `rntk-prop-forward` in NumPy, hidden layers only."""

    def k0(u: np.ndarray) -> np.ndarray:
        u = np.clip(u, -1.0, 1.0)
        return (np.pi - np.arccos(u)) / np.pi

    def k1(u: np.ndarray) -> np.ndarray:
        u = np.clip(u, -1.0, 1.0)
        return (u * (np.pi - np.arccos(u)) + np.sqrt(1.0 - u * u)) / np.pi

    a2 = alpha**2
    K = X1 @ X2.T
    q1 = (X1 * X1).sum(1)
    q2 = (X2 * X2).sum(1)
    T = np.zeros_like(K)
    for _ in range(L):
        nrm = np.sqrt(np.outer(q1, q2))
        rho = np.clip(K / nrm, -1.0, 1.0)
        S = nrm * k1(rho)
        D = k0(rho)
        T = T * (1 + a2 * D) + a2 * (S + K * D)
        K = K + a2 * S
        q1 = q1 * (1 + a2)
        q2 = q2 * (1 + a2)
    return K, T


def _time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def per_entry(sizes: list[int], depths: list[int], repeat: int, reference_n: int) -> None:
    print("1. direct recursion: ns per kernel entry per layer (n^2 entries, x2 omitted, alpha = 0.5)")
    print(f"   {'n':>6} {'depth':>6} {'tiled':>9} {'untiled':>9} {'untiled/tiled':>14}")
    residual_ntk(_sphere(600, 10, seed=0), depth=2, alpha=0.5)  # warm-up: first-call costs are not per entry
    for n in sizes:
        X = _sphere(n, 10, seed=n)
        for L in depths:
            tiled = _time(lambda: residual_ntk(X, depth=L, alpha=0.5), repeat)
            untiled = _time(lambda: residual_ntk(X, depth=L, alpha=0.5, block_size=n), repeat)
            scale = 1e9 / (n * n * L)
            print(f"   {n:>6} {L:>6} {tiled * scale:>9.2f} {untiled * scale:>9.2f} {untiled / tiled:>14.2f}")
    n, L = reference_n, 10
    X = _sphere(n, 10, seed=1)
    Xn = X.numpy()
    ours = _time(lambda: residual_ntk(X, depth=L, alpha=0.5), repeat)
    ref = _time(lambda: _numpy_reference(Xn, Xn, L, 0.5), 1)
    K, T = _numpy_reference(Xn, Xn, L, 0.5)
    got = residual_ntk(X, depth=L, alpha=0.5)
    diff = np.abs(got.ntk.numpy() - T) / np.abs(T).max()
    off = float((diff - np.diag(np.diag(diff))).max())
    on = float(np.diag(diff).max())
    print(
        f"   the NumPy reference recursion at n = {n}, depth {L}: {ref * 1e9 / (n * n * L):.2f} ns/entry/layer, "
        f"{ref / ours:.1f}x the time of resntk; largest relative difference {off:.1e} off the diagonal, {on:.1e} on it"
        f" (the reference's rounding of rho near 1)"
    )


def table_vs_direct(n: int, L: int, alpha: float) -> None:
    print(f"2. table fast path vs direct recursion: n = {n}, depth {L}, alpha = {alpha:g}, inputs on S^2")
    X = _sphere(n, 3, seed=7)
    t0 = time.perf_counter()
    direct = residual_ntk(X, depth=L, alpha=alpha, normalize=True)
    t_direct = time.perf_counter() - t0
    ResidualKernelTable(depth=10, alpha=alpha).gram(X[:50])  # warm-up: first-call imports (scipy.interpolate) and allocations
    runs = []
    for _ in range(3):  # median of three: a sub-second measurement is noisier than the long direct one
        t0 = time.perf_counter()
        table = ResidualKernelTable(depth=L, alpha=alpha)
        t1 = time.perf_counter()
        fast = table.gram(X)
        runs.append((time.perf_counter() - t0, t1 - t0))
    t_fast, t_build = sorted(runs)[1]
    t_eval = t_fast - t_build
    err_ntk = float((fast.ntk - direct.ntk).abs().max())
    err_nngp = float((fast.nngp - direct.nngp).abs().max())
    U = X @ X.T
    U.fill_diagonal_(-1.0)
    min_angle = float(torch.arccos(U.max().clamp(max=1.0)))
    print(f"   direct {t_direct:.2f} s; table {t_fast:.3f} s (build {t_build:.3f} s with {table.n_knots} knots, "
          f"evaluation {t_eval:.3f} s)")
    print(f"   speed-up {t_direct / t_fast:.0f}x (target >= 50x); largest error: NTK {err_ntk:.1e}, NNGP {err_nngp:.1e} "
          f"(target <= 1e-8; table's own estimate {table.error_estimate:.1e}); closest pair {min_angle:.1e} rad")


_MEMORY_CHILD = textwrap.dedent(
    """
    import json, resource, sys, torch
    from resntk.kernels import residual_ntk
    n = int(sys.argv[1])
    torch.set_num_threads(min(2, torch.get_num_threads()))
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, 10, generator=gen, dtype=torch.float64)
    X /= torch.linalg.vector_norm(X, dim=1, keepdim=True)
    residual_ntk(X[:600], depth=1, alpha=0.5)  # warm up allocator and libraries
    def rss_kb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    before = rss_kb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = residual_ntk(X, depth=1, alpha=0.5)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kb": before, "peak_before_kb": peak_before, "peak_kb": peak,
                      "diag_ok": bool(torch.all(out.ntk.diagonal() == 1.0))}))
    """
)


def peak_memory(n: int) -> None:
    print(f"3. peak memory of the tiled direct path at n = {n} (depth 1, x2 omitted, fresh subprocess)")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(n)], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t0
    info = json.loads(res.stdout.strip().splitlines()[-1])
    grown = (max(info["peak_kb"], info["peak_before_kb"]) - info["before_kb"]) * 1024
    n2 = 8.0 * n * n
    print(f"   RSS grew by {grown / 2**30:.2f} GiB = {grown / n2:.2f} n^2 floats (target <= 4; the two outputs are 2.00)"
          f"; {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in a few seconds")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, CPU")
    if args.quick:
        per_entry([500, 1000], [10], repeat=1, reference_n=500)
        table_vs_direct(1000, 200, 1.0)
        peak_memory(3000)
    else:
        per_entry([2000, 4000], [10, 100], repeat=1, reference_n=2000)
        table_vs_direct(4000, 1000, 1.0)
        peak_memory(20000)


if __name__ == "__main__":
    main()


# ------------------------------------------------------------------ rows for benchmarks/run_all.py
def bandwidth_floor_ns(n: int, repeat: int = 3) -> float:
    """Nanoseconds per entry of one elementwise pass over an n x n float64 buffer (read one, write one).

    The direct recursion does a few elementwise passes per layer over buffers of this size, so this is the floor
    that memory bandwidth puts under its cost per entry per layer, measured on the machine at hand.
    """
    a = torch.rand(n, n, dtype=torch.float64)
    out = torch.empty_like(a)
    torch.mul(a, 1.000001, out=out)  # touch the pages
    return _time(lambda: torch.mul(a, 1.000001, out=out), repeat) * 1e9 / (n * n)


def measure(quick: bool = False) -> list:
    """The kernel rows of the benchmark table (see the module docstring), measured side by side."""
    from _table import Row  # noqa: PLC0415  (benchmarks/ is on sys.path when run from run_all.py)

    rows = []
    torch.set_num_threads(min(2, torch.get_num_threads()))
    n, depth = (1000, 10) if quick else (4000, 100)
    X = _sphere(n, 10, seed=n)
    residual_ntk(X[:200], depth=2, alpha=0.5)  # warm-up
    t = _time(lambda: residual_ntk(X, depth=depth, alpha=0.5), 1 if not quick else 2)
    per = t * 1e9 / (n * n * depth)
    floor = bandwidth_floor_ns(n)
    rows.append(Row("analytic kernel", f"direct recursion, ns/entry/layer (n={n}, L={depth})", per, "ns",
                    "one elementwise pass over n x n", floor, "", None))
    n, depth = (600, 100) if quick else (4000, 1000)
    Xs = _sphere(n, 3, seed=7)
    t0 = time.perf_counter()
    direct = residual_ntk(Xs, depth=depth, alpha=1.0, normalize=True)
    t_direct = time.perf_counter() - t0
    ResidualKernelTable(depth=10, alpha=1.0).gram(Xs[:50])  # warm-up: first-call imports (scipy.interpolate) and allocations
    fast_runs = []
    for _ in range(3):  # a 0.5 s measurement is noisier than the 40 s direct one: the median of three
        t0 = time.perf_counter()
        fast = ResidualKernelTable(depth=depth, alpha=1.0).gram(Xs)
        fast_runs.append(time.perf_counter() - t0)
    t_fast = float(np.median(fast_runs))
    err = float((fast.ntk - direct.ntk).abs().max())
    rows.append(Row("analytic kernel", f"direct recursion vs table fast path (n={n}, L={depth})", t_direct, "s",
                    "table fast path", t_fast, ">= 50x" if not quick else "", None if quick else t_direct / t_fast >= 50))
    rows.append(Row("analytic kernel", f"table fast path, largest error (n={n}, L={depth})", err, "",
                    "", None, "<= 1e-8", err <= 1e-8))
    n = 3000 if quick else 20000
    res = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(n)], capture_output=True, text=True, check=True)
    info = json.loads(res.stdout.strip().splitlines()[-1])
    grown = (max(info["peak_kb"], info["peak_before_kb"]) - info["before_kb"]) * 1024 / (8.0 * n * n)
    rows.append(Row("analytic kernel", f"peak memory of the tiled path, n^2 floats (n={n})", grown, "",
                    "the two outputs", 2.0, "<= 4 n^2 floats", grown <= 4))
    threads = max(2, torch.get_num_threads())
    t_many, t_one = small_problem_threads(threads, 10**3 if quick else 10**4)
    rows.append(Row("analytic kernel", f"small scalar recursion (2001 x 3 angles), {threads} threads vs 1 thread",
                    t_many, "s", "1 thread", t_one, "", None))
    return rows


def small_problem_threads(threads: int, depth: int) -> tuple[float, float]:
    """Seconds of ``residual_ntk_scalar`` on 2001 x 3 angles at ``depth``, with ``threads`` and with one thread.

    Benchmark code may set the process-wide thread count; the library never does. The count is restored.
    """
    from resntk.kernels import residual_ntk_scalar  # noqa: PLC0415

    rho = np.cos(np.linspace(0, np.pi, 2001))
    alphas = np.array([0.1, 0.2, 0.3])[:, None]
    before = torch.get_num_threads()
    out = []
    try:
        for k in (threads, 1):
            torch.set_num_threads(k)
            out.append(_time(lambda: residual_ntk_scalar(rho, depth=depth, alpha=alphas), 2))
    finally:
        torch.set_num_threads(before)
    return out[0], out[1]
