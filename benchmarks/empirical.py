"""Empirical NTK of a ScaledResNet: its own layer-Gram method vs the general vmap(jacrev) path, side by side.

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

from resntk.nets import ScaledResNet, empirical_ntk


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
    net = ScaledResNet(d, width, depth=depth, alpha=0.5, trained="hidden", mirrored=True, device=args.device, seed=0)
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)

    fast = empirical_ntk(net, x, method="model")
    ref = empirical_ntk(net, x, method="jacobian")
    rel = ((fast - ref).abs().max() / ref.abs().max()).item()
    t_fast = best_time(lambda: empirical_ntk(net, x, method="model"), args.repeat)
    t_jac = best_time(lambda: empirical_ntk(net, x, method="jacobian"), args.repeat)

    print(f"empirical NTK, ScaledResNet width={width} depth={depth} (mirrored, hidden: {n_params:,} trained "
          f"parameters), {n} inputs, float64, {args.device}, torch threads={torch.get_num_threads()}")
    print(f"  jacobian   (vmap of jacrev): {t_jac * 1e3:10.2f} ms")
    print(f"  ScaledResNet.ntk (layer Gram): {t_fast * 1e3:10.2f} ms")
    print(f"  speed-up ntk method / jacobian: {t_jac / t_fast:.1f}x   (target >= 20x at width 256, depth 4, 64 inputs)")
    print(f"  max |difference| / max |Theta|: {rel:.2e}   (target <= 1e-10)")


if __name__ == "__main__":
    main()


# ------------------------------------------------------------------ rows for benchmarks/run_all.py
def matmul_flops(size: int = 1024, repeat: int = 3) -> float:
    """Float64 matrix-multiply FLOP/s on this machine (best of ``repeat`` square products)."""
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(size, size, generator=gen, dtype=torch.float64)
    b = torch.randn(size, size, generator=gen, dtype=torch.float64)
    return 2.0 * size**3 / best_time(lambda: a @ b, repeat)


def measure(quick: bool = False) -> list:
    """Empirical-NTK rows: ScaledResNet.ntk against vmap(jacrev) and against the Jacobian-Gram FLOP floor."""
    from _table import Row  # noqa: PLC0415

    width, depth, n, d = (64, 2, 16, 8) if quick else (256, 4, 64, 8)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    net = ScaledResNet(d, width, depth=depth, alpha=0.5, trained="hidden", mirrored=True, seed=0)
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    repeat = 2 if quick else 3
    t_fast = best_time(lambda: empirical_ntk(net, x, method="model"), repeat)
    t_jac = best_time(lambda: empirical_ntk(net, x, method="jacobian"), repeat)
    flops = matmul_flops(256 if quick else 1024)
    floor = 2.0 * n * n * n_params / flops            # the Gram product J J^T alone, at matmul speed
    where = f"m={width}, L={depth}, {n} inputs"
    return [
        Row("empirical NTK", f"vmap(jacrev) vs ScaledResNet.ntk, layer Gram ({where})", t_jac * 1e3, "ms",
            "ScaledResNet.ntk",
            t_fast * 1e3, ">= 20x" if not quick else "", None if quick else t_jac / t_fast >= 20),
        Row("empirical NTK", f"ScaledResNet.ntk vs FLOP floor ({where}, P={n_params:,})", t_fast * 1e3, "ms",
            f"2n^2P / {flops / 1e9:.1f} GFLOP/s", floor * 1e3, "", None),
    ]
