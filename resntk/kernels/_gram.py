r"""Gram matrices of the residual kernels: the tiled driver, the raw scale factors, and :func:`residual_ntk`.

Book: Chapter 4 ("The residual NTK derived"), Theorem `rntk-thm-ntk`, Propositions `rntk-prop-forward` and
`rntk-prop-diag`, Definition `rntk-def-normalised`.

Every kernel here is positively homogeneous of degree one in each argument (a bias-free ReLU network satisfies
:math:`f(cx) = c f(x)` for :math:`c > 0`), so

.. math::

    K_L(x, x') = (1+\alpha^2)^L \|x\|\|x'\|\, \rho_L(\rho_0), \qquad
    \Theta_L(x, x') = \Theta_L(\hat x, \hat x)\, \|x\|\|x'\|\, \Omega_L(\rho_0),

with :math:`\rho_0 = \langle x, x'\rangle / (\|x\|\|x'\|)`. The driver computes the normalised kernels tile by tile
and multiplies by the closed-form diagonals and the input norms at the end. Input norms are taken after scaling each
row by its largest entry, so inputs of any finite size (:math:`10^{-300}` to :math:`10^{300}`) have a direction;
raw kernels that would overflow float64 raise ``ValueError`` instead of returning ``inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .._validation import (
    DTYPE,
    as_output,
    as_points,
    check_alpha,
    check_bool,
    check_choice,
    check_depth,
    check_int,
    check_trained,
    resolve_device,
    returns_torch,
)
from ._recursion import Buffers, ResidualKernel, _weights, finish_, log_growth, recursion_

_EPS = float(np.finfo(np.float64).eps)
#: log of the largest float64, minus a margin for the rounding of the products.
_LOG_MAX = math.log(np.finfo(np.float64).max) - 1e-6
TileFn = Callable[[torch.Tensor, torch.Tensor, Buffers], None]


def raw_log_diagonals(depth: int, alpha: float, trained: str) -> tuple[float, float]:
    r"""Logs of the closed-form diagonals on the unit sphere (Proposition `rntk-prop-diag`).

    :math:`K_L(x,x) = (1+\alpha^2)^L`; :math:`\Theta^{\rm hid}_L(x,x) = 2L\alpha^2(1+\alpha^2)^{L-1}`;
    :math:`\Theta^{\rm all}_L(x,x) = 2(1+\alpha^2)^L + \Theta^{\rm hid}_L(x,x)`; for the readout alone
    :math:`K_L(x,x)`. ``-inf`` stands for a zero diagonal (hidden layers at :math:`\alpha = 0` or :math:`L = 0`).
    """
    growth = log_growth(alpha, depth)
    _, w = _weights(alpha)
    hid = math.log(2.0 * depth * w) + growth if depth > 0 and w > 0 else -math.inf
    if trained == "hidden":
        return growth, hid
    if trained == "all":
        return growth, math.log(2.0) + growth + math.log1p(math.exp(hid - growth - math.log(2.0)))
    return growth, growth


def unit_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows scaled to unit norm, and the natural log of each norm (``-inf`` for a zero row).

    Each row is divided by its largest absolute entry first, so the squares neither overflow nor underflow.
    """
    top = x.abs().amax(dim=1)
    safe_top = torch.where(top > 0, top, torch.ones_like(top))
    scaled = x / safe_top[:, None]
    norms = torch.linalg.vector_norm(scaled, dim=1)
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    return scaled / safe[:, None], torch.log(top) + torch.log(norms)


def _correlation_tile_(rho: torch.Tensor, u1: torch.Tensor, u2: torch.Tensor, snap: float) -> None:
    """:math:`\\rho_0 = \\langle u_1, u_2\\rangle` clamped to [-1, 1], values within ``snap`` of :math:`\\pm 1` set there.

    ``snap`` is the rounding error of a length-``d`` dot product of unit vectors (:math:`4 d \\varepsilon`), so a
    point present in both sets gets the exact diagonal value.
    """
    torch.matmul(u1, u2.T, out=rho)
    rho.clamp_(-1.0, 1.0)
    rho.masked_fill_(rho >= 1.0 - snap, 1.0)
    rho.masked_fill_(rho <= -1.0 + snap, -1.0)


def gram(x1: torch.Tensor, x2: torch.Tensor | None, tile_fn: TileFn, *,
         raw: tuple[float, float] | None, block_size: int) -> ResidualKernel:
    """Shared driver of the direct and table paths.

    ``tile_fn(rho, out_ntk, buf)`` replaces a tile of input correlations ``rho`` by the normalised NNGP and writes
    the normalised NTK into ``out_ntk``. ``raw`` holds the logs of the diagonal factors (``None``: the normalised
    kernels). With ``x2=None`` only the upper triangle of tiles is computed, the result is exactly symmetric and the
    diagonal is set to its closed form.
    """
    device = x1.device
    symmetric = x2 is None
    u1, log_n1 = unit_rows(x1)
    u2, log_n2 = (u1, log_n1) if symmetric else unit_rows(x2)
    if raw is None:
        for name, log_n in (("x1", log_n1), ("x2", log_n2)):
            if bool(torch.isinf(log_n).any()):
                raise ValueError(f"{name} has a row of zeros: the normalised (unit-diagonal) kernel is undefined "
                                 "there")
    else:
        # |K(x, x')| <= sqrt(K(x, x) K(x', x')): the largest diagonal factor and norms bound every entry, and each
        # side's half of the factor bounds the intermediate products of the scaling below
        big1, big2 = float(log_n1.max()), float(log_n2.max())
        half = 0.5 * max(raw)
        if max(2 * half + big1 + big2, half + big1, half + big2) > _LOG_MAX:
            raise ValueError(f"the raw kernels of these inputs overflow float64 (largest input norm "
                             f"e^{max(big1, big2):.0f}, diagonal factor e^{2 * half:.0f}): rescale x1/x2 or use "
                             "normalize=True")
    m1, m2 = x1.shape[0], u2.shape[0]
    b = min(block_size, max(m1, m2))
    snap = 4.0 * x1.shape[1] * _EPS
    # Plain torch.empty on purpose: a NumPy buffer (which asks for transparent huge pages) can stall in direct
    # compaction on first touch on a fragmented machine (measured in benchmarks/kernels.py).
    K = torch.empty((m1, m2), dtype=DTYPE, device=device)
    Th = torch.empty((m1, m2), dtype=DTYPE, device=device)
    buf = Buffers(b * b, device, count=7)
    if raw is not None:  # each side carries half of the diagonal factor, so no intermediate product overflows
        scale1 = [torch.exp(log_n1 + 0.5 * r) for r in raw]
        scale2 = scale1 if symmetric else [torch.exp(log_n2 + 0.5 * r) for r in raw]
    for i0 in range(0, m1, b):
        i1 = min(i0 + b, m1)
        for j0 in range(i0 if symmetric else 0, m2, b):
            j1 = min(j0 + b, m2)
            shape = (i1 - i0, j1 - j0)
            rho, ntk = buf.views(shape)[5:]
            _correlation_tile_(rho, u1[i0:i1], u2[j0:j1], snap)
            on_diagonal = symmetric and i0 == j0
            if on_diagonal:
                rho.fill_diagonal_(1.0)
            tile_fn(rho, ntk, buf)
            if raw is not None:
                for q, tile in enumerate((rho, ntk)):
                    tile.mul_(scale1[q][i0:i1, None]).mul_(scale2[q][None, j0:j1])
            if on_diagonal:
                for src, dst in ((rho, K), (ntk, Th)):
                    dst[i0:i1, j0:j1] = torch.triu(src) + torch.triu(src, 1).T
            else:
                K[i0:i1, j0:j1] = rho
                Th[i0:i1, j0:j1] = ntk
                if symmetric:
                    K[j0:j1, i0:i1] = rho.T
                    Th[j0:j1, i0:i1] = ntk.T
    if symmetric:  # the diagonal in closed form
        if raw is None:
            K.diagonal().fill_(1.0)
            Th.diagonal().fill_(1.0)
        else:
            K.diagonal().copy_(scale1[0] ** 2)
            Th.diagonal().copy_(scale1[1] ** 2)
    return ResidualKernel(K, Th)


def direct_tile_fn(depth: int, alpha: float, trained: str) -> TileFn:
    """The tile function of the direct recursion (Proposition `rntk-prop-forward`)."""
    u, w = _weights(alpha)

    def tile_fn(rho: torch.Tensor, ntk: torch.Tensor, buf: Buffers) -> None:
        if trained == "all":
            ntk.copy_(rho)
        else:
            ntk.zero_()
        delta = rho.neg_().add_(1.0)  # the state is 1 - rho, in place
        recursion_(delta, ntk, depth, u, w, trained, buf)
        finish_(delta, ntk, depth, w, trained)

    return tile_fn


def check_block_size(block_size: object) -> int:
    return check_int(block_size, "block_size", minimum=1)


def residual_ntk(
    x1: torch.Tensor | np.ndarray,
    x2: torch.Tensor | np.ndarray | None = None,
    *,
    depth: int,
    alpha: float,
    trained: str = "hidden",
    normalize: bool = False,
    method: str = "direct",
    block_size: int = 512,
    device: torch.device | str | None = None,
) -> ResidualKernel:
    r"""Residual NNGP and NTK of the scaled ResNet between two sets of inputs.

    Raw kernels (``normalize=False``), for inputs of any norm (Chapter 4, Proposition `rntk-prop-forward`):

    .. math::

        K_\ell = K_{\ell-1} + \alpha^2\Sigma_\ell, \qquad
        \Theta_\ell = \Theta_{\ell-1}\big(1+\alpha^2\dot\Sigma_\ell\big) + \alpha^2\big(\Sigma_\ell + K_{\ell-1}\dot\Sigma_\ell\big),
        \qquad \Theta = \Theta_L + \mathbb 1[v\ \text{trained}]\,K_L ,

    with :math:`K_0 = \langle x, x'\rangle`, :math:`\Theta_0 = \mathbb 1[A\ \text{trained}]\,K_0`,
    :math:`\Sigma_\ell = \sqrt{K^{xx}_{\ell-1}K^{x'x'}_{\ell-1}}\,\kappa_1(\rho_{\ell-1})` and
    :math:`\dot\Sigma_\ell = \kappa_0(\rho_{\ell-1})`. Diagonals (Proposition `rntk-prop-diag`):
    :math:`K_L(x,x) = (1+\alpha^2)^L\|x\|^2`, :math:`\Theta^{\rm hid}_L(x,x) = 2L\alpha^2(1+\alpha^2)^{L-1}\|x\|^2`
    (24 at :math:`L=3, \alpha=1`) and :math:`\Theta^{\rm all}_L(x,x) = [2(1+\alpha^2)^L + 2L\alpha^2(1+\alpha^2)^{L-1}]\|x\|^2`.
    With only the readout trained (``trained="readout"``) the NTK is the NNGP :math:`K_L`.

    Normalised kernels (``normalize=True``) are the unit-diagonal forms of Definition `rntk-def-normalised`,
    functions of the directions only: ``nngp`` :math:`= \rho_L(\rho_0)`, ``ntk`` :math:`= \Omega_L(\rho_0)`
    (hidden), :math:`\Omega^{\rm all}_L(\rho_0)` (all) or :math:`\rho_L(\rho_0)` (readout). At :math:`\alpha = 0` the
    raw hidden-layer NTK is 0; the normalised one is then its :math:`\alpha \to 0` limit, the two-layer NTK.

    Parameters
    ----------
    x1 : tensor or array, shape (n1, d)
        Inputs (any finite norm; rows of zeros give zero raw kernel rows).
    x2 : tensor or array, shape (n2, d), optional
        Second set of inputs. ``None`` means ``x1`` itself; the result is then exactly symmetric, with the diagonal
        set to its closed form, and only the upper triangle of tiles is computed (half the work).
    depth : int
        Number of residual blocks :math:`L \ge 0` (keyword-only, required).
    alpha : float
        Branch scale :math:`\alpha \ge 0` (keyword-only, required).
    trained : {"hidden", "all", "readout"}
        Training convention (Chapter 4, Definition `rntk-def-conventions`): ``"hidden"`` (the residual blocks only;
        the convention of the minimax result of :cite:`yu2026branch`), ``"all"`` (also :math:`A` and :math:`v`) or
        ``"readout"`` (:math:`v` alone).
    normalize : bool
        Return the unit-diagonal forms instead of the raw kernels.
    method : {"direct", "table"}
        ``"direct"``: the recursion, :math:`O(L)` work per entry, tiled so that the memory is the two outputs plus
        a few ``block_size**2`` work tensors. ``"table"``: :class:`ResidualKernelTable`, :math:`O(1)` work per
        entry after a one-off tabulation (error below :math:`10^{-10}` on the normalised kernels).
    block_size : int
        Rows and columns per tile (default 512; capped at the number of inputs).
    device : optional
        Where to compute; default the device of ``x1`` (CPU for arrays).

    Returns
    -------
    ResidualKernel
        ``(nngp, ntk)``, float64 of shape ``(n1, n2)``: torch tensors on the compute device when an input is a
        tensor, NumPy arrays otherwise.

    Raises
    ------
    ValueError
        Negative depth, negative or non-finite ``alpha``, NaN/inf inputs, mismatched feature dimensions, an unknown
        ``trained``/``method``, ``normalize=True`` with a zero input or with ``depth=0`` and ``trained="hidden"``, or
        raw kernels that overflow float64 (use ``normalize=True``).
    TypeError
        Arguments of the wrong type (complex inputs included).

    Notes
    -----
    Not differentiable (in-place updates); use :func:`residual_ntk_scalar` or the differentiable arc-cosine
    functions inside autograd code.
    """
    trained = check_trained(trained)
    depth = check_depth(depth)
    alpha = check_alpha(alpha)
    normalize = check_bool(normalize, "normalize")
    method = check_choice(method, "method", ("direct", "table"))
    block_size = check_block_size(block_size)
    dev = resolve_device(device, x1, x2)
    X1 = as_points(x1, "x1", dev)
    X2 = None if x2 is None else as_points(x2, "x2", dev, n_features=X1.shape[1])
    if normalize and trained == "hidden" and depth == 0:
        raise ValueError("depth must be >= 1 for normalize=True with trained='hidden' (no hidden layer to normalise)")
    if method == "table":
        from ._table import ResidualKernelTable

        tile_fn = ResidualKernelTable(depth=depth, alpha=alpha, trained=trained, device=dev)._tile_fn()
    else:
        tile_fn = direct_tile_fn(depth, alpha, trained)
    raw = None if normalize else raw_log_diagonals(depth, alpha, trained)
    with torch.no_grad():
        out = gram(X1, X2, tile_fn, raw=raw, block_size=block_size)
    return as_output(out, returns_torch(x1, x2))
