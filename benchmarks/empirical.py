"""Empirical NTK of a ScaledResNet: layer-Gram fast path vs the general vmap(jacrev) path, side by side.

Usage::

    python benchmarks/empirical.py            # width 256, depth 4, 64 inputs (the issue's target: ratio >= 20)
    python benchmarks/empirical.py --quick    # width 64, depth 2, 16 inputs (a few seconds)

Both methods run on the same float64 mirrored network and the same inputs, in one process; each is timed as the
best of ``--repeat`` runs after one warm-up, and the script prints the ratio and the largest relative difference.
"""

from __future__ import annotations

import argparse
import time

import torch

from resntk.empirical import empirical_ntk
from resntk.models import ScaledResNet


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up (lazy initialisation of torch.func, allocator)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in a few seconds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    width, depth, n, d = (64, 2, 16, 8) if args.quick else (256, 4, 64, 8)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    x = (x / x.norm(dim=1, keepdim=True)).to(args.device)
    net = ScaledResNet(d, width, depth, 0.5, trained="hidden", mirrored=True, device=args.device, seed=0)
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)

    fast = empirical_ntk(net, x, method="layer_gram")
    ref = empirical_ntk(net, x, method="jacobian")
    rel = ((fast - ref).abs().max() / ref.abs().max()).item()
    t_fast = best_time(lambda: empirical_ntk(net, x, method="layer_gram"), args.repeat)
    t_jac = best_time(lambda: empirical_ntk(net, x, method="jacobian"), args.repeat)

    print(f"empirical NTK, ScaledResNet width={width} depth={depth} (mirrored, hidden: {n_params:,} trained "
          f"parameters), {n} inputs, float64, {args.device}, torch threads={torch.get_num_threads()}")
    print(f"  jacobian   (vmap of jacrev): {t_jac * 1e3:10.2f} ms")
    print(f"  layer_gram (Gram products) : {t_fast * 1e3:10.2f} ms")
    print(f"  speed-up layer_gram / jacobian: {t_jac / t_fast:.1f}x   (target >= 20x at width 256, depth 4, 64 inputs)")
    print(f"  max |difference| / max |Theta|: {rel:.2e}   (target <= 1e-10)")


if __name__ == "__main__":
    main()
