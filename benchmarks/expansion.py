"""Benchmark: three ways to compute the descent matrix for a sweep over draws of W1.

The width x data sweep of the book's Chapter 14 ("Width, data and depth jointly") needs
:math:`\\hat{\\mathfrak G}_S = \\frac1n\\sum_i \\rho_i\\varphi_i^\\top` for many draws of the inserted
block's :math:`W_1`.  Compared side by side in one run, on the book's depth-expansion toy:

* ``precomputed rho``: :math:`\\rho` once per data draw (one backward pass), then one matrix product
  per draw of :math:`W_1` (``resntk.expansion.descent_matrix(rho=..., phi=...)``);
* ``autodiff per draw``: insert the block and back-propagate through the whole network per draw
  (:func:`resntk.expansion.descent_matrix`);
* ``finite differences``: central differences of the risk for every entry of :math:`W_2`
  (:math:`2dm` risk evaluations per draw), the naive approach.

All three must agree (the script checks it); the ratios are wall-clock per draw relative to
``precomputed rho``.  Run ``python benchmarks/expansion.py`` (a few seconds on 2 cores) or ``--quick`` (about 1 s).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from resntk.book._experiments import make_expansion_toy
from resntk.expansion import backprop_residual, descent_matrix, risk_along_ray
from resntk.nets import insert_block


def _draw(d: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    W1 = torch.randn(m, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    b1 = 0.1 * torch.randn(m, generator=gen, dtype=torch.float64)
    return W1, b1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in a few seconds")
    args = parser.parse_args()
    n, m, draws, fd_draws = (300, 16, 10, 1) if args.quick else (1000, 64, 40, 2)
    torch.set_num_threads(min(2, torch.get_num_threads()))

    toy = make_expansion_toy(n=n, n_test=10, seed=0)
    d, p = toy.model.width, 1
    seeds = list(range(draws))

    def expanded_for(seed: int):
        exp = insert_block(toy.model, p, m, seed=seed)
        W1, b1 = _draw(d, m, seed)
        with torch.no_grad():
            exp.blocks[p].linear1.weight.copy_(W1)
            exp.blocks[p].linear1.bias.copy_(b1)
        return exp

    # (a) precomputed rho: rho is independent of the new block, so one backward pass serves every draw
    t0 = time.perf_counter()
    rho = backprop_residual(expanded_for(0), p, toy.X, toy.y)
    with torch.no_grad():
        hp = toy.model.hidden_state(toy.X, p)
    G_pre = []
    for s in seeds:
        W1, b1 = _draw(d, m, s)
        phi = torch.relu(hp @ W1.T + b1) / math.sqrt(m)
        G_pre.append(descent_matrix(rho=rho, phi=phi))
    t_pre = (time.perf_counter() - t0) / draws

    # (b) autodiff through the whole network for every draw
    t0 = time.perf_counter()
    G_auto = [descent_matrix(expanded_for(s), p, toy.X, toy.y) for s in seeds]
    t_auto = (time.perf_counter() - t0) / draws

    # (c) central finite differences, one risk pair per entry of W2 (only a few draws: it is slow)
    t0 = time.perf_counter()
    G_fd = []
    h = 1e-5
    for s in seeds[:fd_draws]:
        exp = expanded_for(s)
        G = torch.zeros(d, m, dtype=torch.float64)
        for i in range(d):
            for j in range(m):
                E = torch.zeros(d, m, dtype=torch.float64)
                E[i, j] = 1.0
                rp, rm = risk_along_ray(exp, p, toy.X, toy.y, E, [h, -h])
                G[i, j] = (rp - rm) / (2 * h)
        G_fd.append(G)
    t_fd = (time.perf_counter() - t0) / fd_draws

    err_auto = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(G_pre, G_auto))
    err_fd = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(G_pre, G_fd))
    assert err_auto < 1e-10, f"precomputed rho and autodiff disagree: {err_auto:.2e}"
    assert err_fd < 1e-4, f"finite differences disagree: {err_fd:.2e}"

    print(f"descent matrix for {draws} draws of W1: n={n}, d={d}, m={m}, insertion after block {p}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'method':<22}{'ms / draw':>12}{'ratio':>10}{'max rel. diff':>16}")
    print(f"{'precomputed rho':<22}{1e3 * t_pre:>12.3f}{1.0:>10.1f}{'(reference)':>16}")
    print(f"{'autodiff per draw':<22}{1e3 * t_auto:>12.3f}{t_auto / t_pre:>10.1f}{err_auto:>16.1e}")
    print(f"{'finite differences':<22}{1e3 * t_fd:>12.3f}{t_fd / t_pre:>10.1f}{err_fd:>16.1e}")


if __name__ == "__main__":
    main()
