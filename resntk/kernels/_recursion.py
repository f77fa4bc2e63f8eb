r"""The residual kernels' forward recursion in normalised variables, and the scalar form on the sphere.

Book: Chapter 4 ("The residual NTK derived"), Propositions `rntk-prop-nngp`, `rntk-prop-forward` and
`rntk-prop-scalar`. In the normalised variables of Definition `rntk-def-normalised` the recursion is

.. math::

    \delta_\ell = u\,\delta_{\ell-1} + w\,\big(1 - \kappa_1(\rho_{\ell-1})\big), \qquad
    \vartheta_\ell = \vartheta_{\ell-1}\big(u + w\,\kappa_0(\rho_{\ell-1})\big)
        + c\,\big(\kappa_1(\rho_{\ell-1}) + \rho_{\ell-1}\kappa_0(\rho_{\ell-1})\big),

with :math:`\delta_\ell = 1 - \rho_\ell`, :math:`u = 1/(1+\alpha^2)`, :math:`w = \alpha^2/(1+\alpha^2)`, and
:math:`c = 1`, :math:`\vartheta_0 = 0` for hidden layers (then :math:`\Omega_L = \vartheta_L/(2L)`) or
:math:`c = w`, :math:`\vartheta_0 = \rho_0` for all layers (then
:math:`\Omega^{\rm all}_L = (\rho_L + \vartheta_L)/(2 + 2Lw)`); for the readout alone the NTK is the NNGP,
:math:`\rho_L`. The weights :math:`u, w` are computed without forming :math:`\alpha^2`, so every finite
:math:`\alpha \ge 0` is valid (:math:`\alpha \to \infty` gives :math:`u = 0, w = 1`).

Why :math:`\delta`: for deep kernels :math:`\rho_\ell \to 1`, and a float :math:`\rho_\ell` keeps
:math:`1 - \rho_\ell` only to :math:`10^{-16}` absolute; the error compounds over the layers (a float64 recursion in
:math:`\rho` is off by :math:`2\times 10^{-7}` at :math:`L = 1000`, :math:`\alpha = 1`,
:math:`\theta_0 = 1.35\times10^{-5}`, against a 40-digit reference). In :math:`\delta`,
:math:`\theta = \operatorname{atan2}(\sqrt{\delta(2-\delta)}, 1 - \delta)` is accurate relative to :math:`\theta`,
and :math:`1 - \kappa_1(\rho) = \kappa_0(\rho)\,\delta + (\theta - \sin\theta)/\pi` has no cancellation.
:math:`\rho = 1` stays exact and :math:`\rho = -1` gives exactly :math:`\kappa_0 = \kappa_1 = 0`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from .._validation import (
    DTYPE,
    as_float64,
    as_output,
    as_rho,
    check_alpha,
    check_depth,
    check_trained,
    resolve_device,
    returns_torch,
)

_PI = math.pi


class ResidualKernel(NamedTuple):
    r"""The pair of kernels returned by :mod:`resntk.kernels` (arrays of the same shape and type).

    Attributes
    ----------
    nngp
        The NNGP kernel :math:`K_L` (the covariance of the network output at initialisation, and the NTK when only
        the readout :math:`v` is trained), or its normalised form :math:`\rho_L`.
    ntk
        The neural tangent kernel :math:`\Theta_L` for the chosen training convention, or its normalised form
        (:math:`\Omega_L` for hidden layers, :math:`\Omega^{\rm all}_L` for all layers, :math:`\rho_L` for the
        readout alone).
    """

    nngp: torch.Tensor | np.ndarray
    ntk: torch.Tensor | np.ndarray


def _weights(alpha: float) -> tuple[float, float]:
    r""":math:`u = 1/(1+\alpha^2)` and :math:`w = \alpha^2/(1+\alpha^2)`, without overflow for large :math:`\alpha`."""
    if alpha <= 1.0:
        a2 = alpha * alpha
        return 1.0 / (1.0 + a2), a2 / (1.0 + a2)
    b2 = (1.0 / alpha) ** 2
    return b2 / (1.0 + b2), 1.0 / (1.0 + b2)


def _weights_tensor(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_weights` elementwise."""
    small = alpha <= 1.0
    a2 = torch.where(small, alpha, alpha.reciprocal()).square_()
    inv = (1.0 + a2).reciprocal_()
    return torch.where(small, inv, a2 * inv), torch.where(small, a2 * inv, inv)


def log_growth(alpha: float, depth: int) -> float:
    r""":math:`\log (1+\alpha^2)^L`, without overflow."""
    if alpha <= 1.0:
        return depth * math.log1p(alpha * alpha)
    return depth * (2.0 * math.log(alpha) + math.log1p(alpha**-2))


class Buffers:
    """Work tensors for the in-place recursion, reused across tiles."""

    def __init__(self, numel: int, device: torch.device, count: int = 5) -> None:
        self.storage = [torch.empty(numel, dtype=DTYPE, device=device) for _ in range(count)]

    def views(self, shape: tuple[int, ...]) -> list[torch.Tensor]:
        n = math.prod(shape)
        return [b[:n].view(shape) for b in self.storage]


def _axpy_(y: torch.Tensor, x: torch.Tensor, a: float | torch.Tensor) -> torch.Tensor:
    """``y += a * x`` for a scalar or a tensor ``a`` (one fused pass)."""
    return y.add_(x, alpha=a) if isinstance(a, float) else y.addcmul_(x, a)


def recursion_(delta: torch.Tensor, acc: torch.Tensor, depth: int, u: float | torch.Tensor,
               w: float | torch.Tensor, trained: str, buf: Buffers) -> None:
    r"""Run ``depth`` layers of the normalised forward recursion in place.

    On entry ``delta`` holds :math:`1 - \rho_0` and ``acc`` holds :math:`\vartheta_0` (:func:`initial_state`); on
    exit :math:`\delta_L` and :math:`\vartheta_L`. ``u``, ``w`` are floats or tensors broadcasting against
    ``delta``. About 21 passes over memory per layer (``benchmarks/kernels.py``).
    """
    k0, k1, s, t, rho = buf.views(tuple(delta.shape))[:5]
    c = 1.0 if trained == "hidden" else w
    track = trained != "readout"
    for _ in range(depth):
        torch.neg(delta, out=rho).add_(1.0)  # rho = 1 - delta
        torch.neg(delta, out=t).add_(2.0)  # 1 + rho
        torch.mul(delta, t, out=s).sqrt_()  # sin(theta) = sqrt((1 - rho)(1 + rho))
        torch.atan2(s, rho, out=t)  # theta
        torch.sub(t, _PI, out=k0).div_(-_PI)  # kappa0 = 1 - theta/pi
        t.sub_(s)  # theta - sin(theta)
        torch.addcmul(t, k0, delta, value=_PI, out=k1).div_(_PI)  # 1 - kappa1
        _axpy_(delta.mul_(u), k1, w)
        if track:
            torch.mul(rho, k0, out=t)  # rho kappa0
            torch.add(t, s, alpha=1.0 / _PI, out=k1)  # kappa1 = rho kappa0 + sin(theta)/pi
            k0.mul_(w).add_(u)  # u + w kappa0
            _axpy_(_axpy_(acc.mul_(k0), k1, c), t, c)


def initial_state(delta0: torch.Tensor, trained: str) -> torch.Tensor:
    r""":math:`\vartheta_0`: :math:`\rho_0 = 1 - \delta_0` for all layers, 0 otherwise."""
    return delta0.neg().add_(1.0) if trained == "all" else torch.zeros_like(delta0)


def finish_(delta: torch.Tensor, acc: torch.Tensor, depth: int, w: float | torch.Tensor, trained: str
            ) -> ResidualKernel:
    r"""Turn :math:`(\delta_L, \vartheta_L)` into :math:`(\rho_L, \Omega_L)` in place."""
    rho = delta.neg_().add_(1.0)
    if trained == "hidden":
        # depth 0: no hidden layer; the raw kernel is 0 and the normalised one is undefined (never returned)
        acc.div_(2.0 * depth) if depth else acc.zero_()
    elif trained == "all":
        acc.add_(rho).div_(2.0 + 2.0 * depth * w)
    else:
        acc.copy_(rho)
    return ResidualKernel(rho, acc)


def scalar_forward(delta0: torch.Tensor, depth: int, alpha: float, trained: str) -> ResidualKernel:
    """Normalised :math:`(\\rho_L, \\Omega_L)` from a tensor of ``delta0 = 1 - rho0`` at one ``alpha``."""
    u, w = _weights(alpha)
    delta = delta0.clone()
    acc = initial_state(delta0, trained)
    recursion_(delta, acc, depth, u, w, trained, Buffers(delta.numel(), delta.device))
    return finish_(delta, acc, depth, w, trained)


def residual_ntk_scalar(
    rho: torch.Tensor | np.ndarray | float,
    *,
    depth: int,
    alpha: float | torch.Tensor | np.ndarray,
    trained: str = "hidden",
    device: torch.device | str | None = None,
) -> ResidualKernel:
    r"""The normalised residual NNGP and NTK on the sphere as functions of :math:`\rho_0 = \langle x, x'\rangle`.

    Chapter 4, Proposition `rntk-prop-scalar` (:math:`O(1)` memory per value, well defined at :math:`\alpha = 0`):

    .. math::

        \rho_\ell = \frac{\rho_{\ell-1} + \alpha^2\kappa_1(\rho_{\ell-1})}{1+\alpha^2}, \qquad
        \tilde\vartheta_\ell = \tilde\vartheta_{\ell-1}\frac{1+\alpha^2\kappa_0(\rho_{\ell-1})}{1+\alpha^2}
            + \frac{\kappa_1(\rho_{\ell-1}) + \rho_{\ell-1}\kappa_0(\rho_{\ell-1})}{1+\alpha^2},
        \qquad \Omega_L = \frac{(1+\alpha^2)\,\tilde\vartheta_L}{2L},

    and for all layers (starting from :math:`\vartheta_0 = \rho_0`, the bracket multiplied by :math:`\alpha^2`)
    :math:`\Omega^{\rm all}_L = (\rho_L + \vartheta_L)/(2 + 2L\alpha^2/(1+\alpha^2))`; for the readout alone the
    NTK is :math:`\rho_L`.

    Parameters
    ----------
    rho : tensor, array or float
        Correlations :math:`\rho_0 \in [-1, 1]` (any shape).
    depth : int
        Number of residual blocks :math:`L \ge 1` for ``trained="hidden"`` (:math:`\ge 0` otherwise).
    alpha : float or tensor/array
        Branch scale :math:`\alpha \ge 0`; an array is broadcast against ``rho`` (to evaluate several
        :math:`\alpha` at one depth in one pass), e.g. ``alpha`` of shape ``(k, 1)`` with ``rho`` of shape ``(m,)``.
    trained : {"hidden", "all", "readout"}
        Training convention (Chapter 4, Definition `rntk-def-conventions`).
    device : optional
        Where to compute (default: the device of ``rho`` or ``alpha`` if a tensor, else the CPU).

    Returns
    -------
    ResidualKernel
        ``nngp`` = :math:`\rho_L`, ``ntk`` = the normalised NTK, float64, of the broadcast shape; torch if ``rho``
        or ``alpha`` is a tensor, NumPy otherwise. Both equal 1 at :math:`\rho_0 = 1`. At :math:`\alpha = 0` the
        hidden kernel is its :math:`\alpha \to 0` limit, the two-layer NTK.
    """
    trained = check_trained(trained)
    depth = check_depth(depth, minimum=1 if trained == "hidden" else 0)
    dev = resolve_device(device, rho, alpha)
    r0 = as_rho(rho, "rho", dev)
    torch_out = returns_torch(rho, alpha)
    if np.ndim(alpha) == 0 and not (isinstance(alpha, torch.Tensor) and alpha.ndim > 0):
        a = check_alpha(alpha)
        flat = r0.reshape(-1).neg().add_(1.0)  # delta_0 = 1 - rho_0, exact for rho_0 >= 1/2 (Sterbenz)
        out = scalar_forward(flat, depth, a, trained)
        return as_output(ResidualKernel(out.nngp.view(r0.shape), out.ntk.view(r0.shape)), torch_out)
    a_t = as_float64(alpha, "alpha", dev)
    if a_t.numel() and float(a_t.min()) < 0:
        raise ValueError(f"alpha must be >= 0 (the branch scale), got a minimum of {float(a_t.min())}")
    try:
        shape = torch.broadcast_shapes(r0.shape, a_t.shape)
    except RuntimeError as exc:
        raise ValueError(f"alpha of shape {tuple(a_t.shape)} does not broadcast against rho {tuple(r0.shape)}") from exc
    u, w = (v.expand(shape).contiguous() for v in _weights_tensor(a_t))
    delta = r0.expand(shape).neg().add_(1.0).contiguous()
    acc = initial_state(delta, trained)
    recursion_(delta, acc, depth, u, w, trained, Buffers(delta.numel(), delta.device))
    return as_output(finish_(delta, acc, depth, w, trained), torch_out)
