"""Many stopping times from one fit: GradientFlowRegressor against KernelRidge refits.

The gradient-flow predictor diagonalises the training Gram matrix once (one library eigendecomposition) and then
evaluates every stopping time with a few matrix products (book, Chapter 2, Proposition `kreg-prop-closed-form`). The
ridge alternative refits for every regularisation. The two are matched by the standard correspondence between the
flow filter and the ridge filter (Proposition `kreg-prop-ridge`),

    (1 - exp(-lambda t / n)) / lambda  ~  1 / (lambda + n / t),

i.e. ``KernelRidge(alpha=n/t)`` for the gradient-flow time ``t``. The filters are not equal, so the two predictions
differ; the oracle errors of both paths are printed as a sanity check.

Run ``python benchmarks/regression.py`` (n = 2000, 100 times; about a minute on 2 cores) or ``--quick`` (n = 400).
The ratio is measured side by side in one run, in five interleaved rounds (each round: one gradient-flow run, then a
fifth of the ridge refits and of the bare Cholesky solves), so that slow drifts of a shared machine hit both sides
alike; the gradient-flow time is the mean of its five runs. The target is >= 10x against KernelRidge. A bare
Cholesky loop (``scipy.linalg.cho_factor``/``cho_solve``, no scikit-learn overhead) is also timed, to show how much
of the ratio is scikit-learn's per-fit overhead rather than linear algebra, and the two library eigendecompositions
the fit could use are timed against each other (SciPy's ``dsyevd`` driver, which the fit uses on the CPU, and
``torch.linalg.eigh``).

BLAS/OpenMP threads are pinned (``--threads``, default 1) for every contender alike: on a small machine shared with
other jobs, multithreaded BLAS is erratic, while the single-thread ratio is a stable measure of the work saved.
``--threads 0`` leaves the libraries' defaults.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg as sla
import torch
from sklearn.kernel_ridge import KernelRidge
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resntk.regression import GradientFlowRegressor  # noqa: E402

TARGET = 10.0


def ntk2(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """The two-layer ReLU NTK on the sphere, 1/2 (kappa1(rho) + rho kappa0(rho)), inline."""
    rho = np.clip(X1 @ X2.T, -1.0, 1.0)
    acos = np.arccos(rho)
    k0 = (np.pi - acos) / np.pi
    k1 = (rho * (np.pi - acos) + np.sqrt(1.0 - rho * rho)) / np.pi
    return 0.5 * (k1 + rho * k0)


def sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    Z = rng.standard_normal((n, d))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 400, a few seconds")
    parser.add_argument("--n", type=int, default=None, help="training points (default 2000, 400 with --quick)")
    parser.add_argument("--times", type=int, default=100, help="number of stopping times")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for all contenders (0: default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        with threadpool_limits(args.threads):
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> dict:
    n = args.n or (400 if args.quick else 2000)
    m = n // 2
    T = args.times

    rng = np.random.default_rng(0)
    d = 3
    X, Xt, Z = sphere(n, d, rng), sphere(m, d, rng), sphere(5, d, rng)
    c = rng.standard_normal(5)
    f_star = lambda A: ntk2(A, Z) @ c  # noqa: E731  (a target inside the RKHS: a sum of kernel sections)
    y = f_star(X) + 0.3 * rng.standard_normal(n)
    K, Kt = ntk2(X, X), ntk2(Xt, X)
    times = np.geomspace(1e-1, 1e6, T)
    alphas = n / times

    # --- interleaved rounds: each round times one gradient-flow run (fit + all times) and a fifth of the ridge
    # refits and of the bare Cholesky solves, so slow drifts of a shared machine hit every contender alike -------
    rounds = 5
    per_round = np.array_split(np.arange(T), rounds)
    flow_runs, fit_runs = [], []
    krr_s = chol_s = 0.0
    pred_krr = np.empty((T, m))
    eye = np.eye(n)
    for idx in per_round:
        t0 = time.perf_counter()
        model = GradientFlowRegressor(kernel="precomputed").fit(K, y)
        t1 = time.perf_counter()
        pred_flow = model.predict(Kt, t=times)
        t2 = time.perf_counter()
        flow_runs.append(t2 - t0)
        fit_runs.append(t1 - t0)

        t0 = time.perf_counter()
        for i in idx:
            pred_krr[i] = KernelRidge(kernel="precomputed", alpha=alphas[i]).fit(K, y).predict(Kt)
        krr_s += time.perf_counter() - t0

        # the same maths as KernelRidge without scikit-learn's per-fit overhead
        t0 = time.perf_counter()
        for i in idx:
            cf = sla.cho_factor(K + alphas[i] * eye, lower=True, check_finite=False)
            _ = Kt @ sla.cho_solve(cf, y, check_finite=False)
        chol_s += time.perf_counter() - t0
    flow_s, fit_s = float(np.mean(flow_runs)), float(np.mean(fit_runs))

    # --- the two library eigendecompositions the fit could use, interleaved, best of three each ---------------
    Kt_torch = torch.from_numpy(K)
    evd_s = torch_s = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        sla.eigh(K, driver="evd", check_finite=False)
        t1 = time.perf_counter()
        torch.linalg.eigh(Kt_torch)
        t2 = time.perf_counter()
        evd_s, torch_s = min(evd_s, t1 - t0), min(torch_s, t2 - t1)

    fs = f_star(Xt)
    err_flow = np.mean((pred_flow - fs) ** 2, axis=1)
    err_krr = np.mean((pred_krr - fs) ** 2, axis=1)
    threads = args.threads if args.threads > 0 else "library default"
    ratio = krr_s / flow_s
    print(f"n = {n} training points, m = {m} test points, {T} stopping times in [1e-1, 1e6], ridge alpha = n/t, "
          f"threads: {threads}")
    print(f"gradient flow, one fit + {T} times : {flow_s:8.3f} s   (fit {fit_s:.3f} s, "
          f"predict {flow_s - fit_s:.3f} s; mean of {rounds} runs, spread "
          f"{min(flow_runs):.3f}-{max(flow_runs):.3f} s)")
    print(f"KernelRidge, {T} refits            : {krr_s:8.3f} s")
    print(f"bare Cholesky, {T} solves          : {chol_s:8.3f} s")
    print(f"  eigendecomposition: scipy dsyevd {evd_s:.3f} s (the fit's), torch.linalg.eigh {torch_s:.3f} s")
    print(f"speed-up vs KernelRidge            : {ratio:8.1f}x   (target >= {TARGET:g}x: "
          f"{'met' if ratio >= TARGET else 'MISSED'})")
    print(f"speed-up vs bare Cholesky loop     : {chol_s / flow_s:8.1f}x")
    print(f"oracle excess risk: flow {err_flow.min():.5f} at t = {times[err_flow.argmin()]:.3g}; "
          f"ridge {err_krr.min():.5f} at alpha = {alphas[err_krr.argmin()]:.3g} (t = {times[err_krr.argmin()]:.3g})")
    return {"flow": flow_s, "fit": fit_s, "krr": krr_s, "chol": chol_s, "evd": evd_s, "torch_eigh": torch_s}


if __name__ == "__main__":
    main()


# ------------------------------------------------------------------ rows for benchmarks/run_all.py
def measure(quick: bool = False) -> list:
    """Gradient-flow rows: 100 stopping times from one fit against 100 KernelRidge refits (one BLAS thread)."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    from _table import Row  # noqa: PLC0415

    args = argparse.Namespace(quick=quick, n=None, times=100, threads=1)
    buf = io.StringIO()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1), contextlib.redirect_stdout(buf):
            timings = run(args)
    finally:
        torch.set_num_threads(before)
    n = 400 if quick else 2000
    return [
        Row("gradient flow", f"100 KernelRidge refits vs one fit + 100 times (n={n}, 1 thread)",
            timings["krr"], "s", "GradientFlowRegressor", timings["flow"],
            f">= {TARGET:g}x" if not quick else "", None if quick else timings["krr"] / timings["flow"] >= TARGET),
        Row("gradient flow", f"bare Cholesky loop vs one fit + 100 times (n={n}, 1 thread)",
            timings["chol"], "s", "GradientFlowRegressor", timings["flow"], "", None),
        Row("gradient flow", f"fit (one eigendecomposition) share of the flow (n={n})",
            timings["fit"], "s", "one fit + 100 times", timings["flow"], "", None),
        Row("gradient flow", f"torch.linalg.eigh vs scipy dsyevd, the fit's (n={n})",
            timings["torch_eigh"], "s", "scipy dsyevd", timings["evd"], "", None),
    ]
