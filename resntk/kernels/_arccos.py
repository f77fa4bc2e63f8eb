r"""The arc-cosine functions :math:`\kappa_0`, :math:`\kappa_1` and the two-layer NTK, differentiable in torch.

Book: Chapter 4 ("The residual NTK derived"), Definition `rntk-def-arccos` and Proposition `rntk-prop-gaussian`;
Appendix A, Definition `arccos-def-kappa` and Theorem `arccos-thm-gaussian` :cite:`cho2009kernel`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import as_output, as_rho, returns_torch

_PI = math.pi


def _angle(rho: torch.Tensor) -> torch.Tensor:
    r""":math:`\theta = \arccos\rho`, as :math:`\operatorname{atan2}(\sqrt{(1-\rho)(1+\rho)}, \rho)`.

    As accurate as ``acos`` (relative :math:`3\times10^{-16}`, exact at :math:`\pm1`) and without ``acos``'s
    infinite derivative inside the forward pass.
    """
    return torch.atan2(torch.sqrt((1.0 - rho) * (1.0 + rho)), rho)


class _Kappa0(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u)
        # (pi - arccos u) / pi, written so that u = 1 gives exactly 1 and u = -1 exactly 0.
        return _angle(u).sub_(_PI).div_(-_PI)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (u,) = ctx.saved_tensors
        # kappa0'(u) = 1 / (pi sqrt(1 - u^2)): infinite at u = +-1, as it truly is (one-sided).
        return grad / (_PI * torch.sqrt((1.0 - u) * (1.0 + u)))


class _Kappa1(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u)
        s = torch.sqrt((1.0 - u) * (1.0 + u))
        k0 = torch.atan2(s, u).sub_(_PI).div_(-_PI)
        return torch.addcmul(s.div_(_PI), u, k0)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (u,) = ctx.saved_tensors
        # kappa1' = kappa0 exactly, finite on all of [-1, 1] (autograd through the formula would give inf - inf).
        return grad * _Kappa0.apply(u)


def kappa0(u: torch.Tensor | np.ndarray | float) -> torch.Tensor | np.ndarray:
    r"""The arc-cosine function of degree 0.

    .. math::

        \kappa_0(u) = \frac{1}{\pi}\big(\pi - \arccos u\big) = 2\,\mathbb E[\sigma'(z)\sigma'(z')],
        \qquad u \in [-1, 1],

    for standard Gaussians :math:`(z, z')` of correlation :math:`u` (Chapter 4, Proposition `rntk-prop-gaussian`).
    It is :math:`\dot\Sigma_\ell` of the residual recursion.

    Parameters
    ----------
    u : tensor, array or float
        Correlations in :math:`[-1, 1]`; values within :math:`10^{-9}` outside (rounding) are clamped.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Float64, the shape of ``u`` (torch for a tensor ``u``, NumPy otherwise). Exact at the ends:
        :math:`\kappa_0(1) = 1`, :math:`\kappa_0(-1) = 0`. Differentiable for a tensor ``u``:
        :math:`\kappa_0'(u) = 1/(\pi\sqrt{1-u^2})` (infinite at :math:`\pm 1`, as it truly is).

    Raises
    ------
    ValueError
        If ``u`` has NaN/inf entries or values outside :math:`[-1, 1]` beyond rounding.
    TypeError
        If ``u`` is complex or not numeric.
    """
    return as_output(_Kappa0.apply(as_rho(u, "u", keep_grad=True)), returns_torch(u))


def kappa1(u: torch.Tensor | np.ndarray | float) -> torch.Tensor | np.ndarray:
    r"""The arc-cosine function of degree 1.

    .. math::

        \kappa_1(u) = \frac{1}{\pi}\Big(u\,(\pi - \arccos u) + \sqrt{1-u^2}\Big) = 2\,\mathbb E[\sigma(z)\sigma(z')],

    for standard Gaussians of correlation :math:`u` (Chapter 4, Proposition `rntk-prop-gaussian`). It drives the
    residual NNGP map (Proposition `rntk-prop-nngp`).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Float64, the shape of ``u``; :math:`\kappa_1(1) = 1` and :math:`\kappa_1(-1) = 0` exactly. Its gradient is
        :math:`\kappa_1' = \kappa_0` (Appendix A, Proposition `arccos-prop-calculus`), finite on all of
        :math:`[-1, 1]` (a custom autograd rule: differentiating the formula term by term would give
        :math:`\infty - \infty` at the ends). Double backward is supported.

    Raises
    ------
    ValueError, TypeError
        As for :func:`kappa0`.
    """
    return as_output(_Kappa1.apply(as_rho(u, "u", keep_grad=True)), returns_torch(u))


def two_layer_ntk(rho: torch.Tensor | np.ndarray | float) -> torch.Tensor | np.ndarray:
    r"""The NTK of a two-layer bias-free ReLU network on the sphere.

    .. math::

        \Omega_\infty(\rho) = \tfrac12\big(\kappa_1(\rho) + \rho\,\kappa_0(\rho)\big).

    It is the normalised residual NTK at depth one (for every :math:`\alpha`), the :math:`\alpha \to 0` limit at
    fixed depth, and the infinite-depth limit for :math:`\alpha = L^{-\gamma}`, :math:`\gamma > 1/2` (Chapter 6,
    "Decaying scaling and the phase diagram", Theorem `decay-thm-fast`; :cite:`yu2026branch`). Differentiable for a
    tensor input; float64; :math:`\Omega_\infty(1) = 1`, :math:`\Omega_\infty(0) = 1/(2\pi)`.
    """
    t = as_rho(rho, "rho", keep_grad=True)
    return as_output(0.5 * (_Kappa1.apply(t) + t * _Kappa0.apply(t)), returns_torch(rho))
