r"""The infinite-depth limits of the residual kernels: the ODE kernel and the three regimes.

Book: Chapter 5 ("Constant scaling degenerates", Theorem `degen-thm-quarter`) and Chapter 6 ("Decaying scaling and
the phase diagram", Definition `decay-def-ode`, Theorems `decay-thm-fast` and `decay-thm-ode`); the regime
boundaries are those of :cite:`yu2026branch`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import solve_ivp

from .._validation import (
    DTYPE,
    as_output,
    as_rho,
    check_choice,
    check_real,
    check_trained,
    resolve_device,
    returns_torch,
)
from ._arccos import _Kappa0, _Kappa1
from ._recursion import ResidualKernel
from ._table import ThetaSpline

__all__ = ["LIMIT_REGIMES", "ode_kernel", "infinite_depth_ntk"]

#: The infinite-depth regimes: constant (or slowly decaying) ``alpha``, ``alpha = c/sqrt(L)``, and
#: ``alpha = L**-gamma`` with ``gamma > 1/2``.
LIMIT_REGIMES: tuple[str, ...] = ("constant", "critical", "fast")

_PI = math.pi
#: Right-hand-side evaluations allowed per ODE solve. The integration runs in log-time, so the cost grows like
#: log T (about 9,000 evaluations at T = 1e15); the cap turns a runaway integration into a ValueError.
_MAX_EVALUATIONS = 200_000


def _sin_minus_theta_cos(theta: np.ndarray) -> np.ndarray:
    r""":math:`\sin\theta - \theta\cos\theta = \pi(\kappa_1(\cos\theta) - \cos\theta)`, without cancellation.

    Below :math:`\theta = 1/2` the difference of the two terms loses digits (it is :math:`\theta^3/3` for small
    :math:`\theta`); there the series :math:`\sum_{k\ge1} (-1)^{k+1}\, 2k\,\theta^{2k+1}/(2k+1)!` is summed instead.
    """
    out = np.sin(theta) - theta * np.cos(theta)
    small = theta < 0.5
    if small.any():
        t = theta[small]
        t2 = t * t
        term = t * t2 / 3.0
        total = term.copy()
        for k in range(2, 10):  # term_k / term_{k-1} = -t^2 / ((2k - 2)(2k + 1)); 9 terms reach 1e-16 at 1/2
            term = -term * t2 / ((2 * k - 2) * (2 * k + 1))
            total += term
        out[small] = total
    return out


def _ode_solve(rho0: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Integrate the depth-time ODE from 0 to ``T`` for every :math:`\rho_0`; return :math:`(\rho(T), J(T), g(T))`.

    .. math::

        \delta' = -\big(\kappa_1(\rho) - \rho\big),\qquad
        J' = -\big(1-\kappa_0(\rho)\big)J + \tfrac12\big(\kappa_1(\rho) + \rho\kappa_0(\rho)\big),\qquad
        g' = 1 - \kappa_0(\rho),

    with :math:`\delta = 1 - \rho`, :math:`J(0) = g(0) = 0`, so that
    :math:`J(T) = \int_0^T e^{-(g(T)-g(\tau))}\tfrac12(\kappa_1+\rho\kappa_0)\,d\tau = T\,\Omega^{(T)}_\infty`.
    The state :math:`\delta` keeps full relative accuracy as :math:`\rho \to 1` (where
    :math:`\delta \sim (3\pi)^2/(2\tau^2)`), and the integration variable is :math:`s = \log(1 + \tau)`, in which the
    algebraic tails are smooth: the cost grows like :math:`\log T`.
    """
    n = rho0.size
    calls = 0

    def rhs(s: float, y: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls > _MAX_EVALUATIONS:
            raise _TooExpensive
        scale = math.exp(s)  # d tau / d s = 1 + tau
        delta = np.clip(y[:n], 0.0, 2.0)
        sin = np.sqrt(delta * (2.0 - delta))
        theta = np.arctan2(sin, 1.0 - delta)
        rho = 1.0 - delta
        k0 = 1.0 - theta / _PI
        k1 = rho * k0 + sin / _PI
        decay = theta / _PI
        out = np.concatenate([-_sin_minus_theta_cos(theta) / _PI, -decay * y[n:2 * n] + 0.5 * (k1 + rho * k0), decay])
        return scale * out

    y0 = np.concatenate([1.0 - rho0, np.zeros(n), np.zeros(n)])
    try:
        sol = solve_ivp(rhs, (0.0, math.log1p(T)), y0, method="DOP853", rtol=1e-12, atol=1e-14)
    except _TooExpensive:
        raise ValueError(f"ode_kernel: integrating the depth-time ODE up to T={T:g} needed more than "
                         f"{_MAX_EVALUATIONS} steps; use a smaller T (for large T the kernel is within O(1/T) of the "
                         "constant-regime limit, infinite_depth_ntk(rho, 'constant'))") from None
    if not sol.success:  # pragma: no cover - DOP853 on this smooth bounded system does not fail
        raise RuntimeError(f"ODE kernel integration failed: {sol.message}")
    y = sol.y[:, -1]
    return np.clip(1.0 - y[:n], -1.0, 1.0), y[n:2 * n], y[2 * n:]


class _TooExpensive(Exception):
    pass


def _check_T(T: object) -> float:
    return check_real(T, "T", minimum=0.0, what="the depth-time L * alpha**2")


def ode_kernel(rho: torch.Tensor | np.ndarray | float, *, T: float, trained: str = "hidden",
               device: torch.device | str | None = None) -> ResidualKernel:
    r"""The infinite-depth kernel at the critical scaling :math:`\alpha = c/\sqrt L`, depth-time :math:`T = c^2`.

    Chapter 6, Definition `decay-def-ode` and Theorem `decay-thm-ode`:

    .. math::

        \rho'(\tau) = \kappa_1(\rho) - \rho,\ \ \rho(0) = \rho_0,\qquad
        g(\tau) = \int_0^\tau \big(1 - \kappa_0(\rho(s))\big)ds,\qquad
        \Omega^{(T)}_\infty(\rho_0) = \frac1T\int_0^T e^{-(g(T)-g(\tau))}\,
            \frac{\kappa_1(\rho(\tau)) + \rho(\tau)\kappa_0(\rho(\tau))}{2}\,d\tau ,

    and for all layers :math:`(1+T)^{-1}\big[\tfrac12\rho(T) + \tfrac12 e^{-g(T)}\rho_0 + T\,\Omega^{(T)}_\infty\big]`;
    for the readout alone, :math:`\rho(T)`. Integrated with scipy's ``solve_ivp`` (DOP853, ``rtol=1e-12``) in
    log-time, so the cost grows like :math:`\log T` (a cap on the number of steps raises ``ValueError`` naming
    ``T``); for more than 4096 distinct :math:`\rho_0` the ODE is solved on the graded :math:`\theta`-grid of
    :class:`ResidualKernelTable` and interpolated (error below :math:`10^{-10}`). ``T = 0`` gives the limits
    :math:`T \to 0` (two-layer NTK, or :math:`\rho_0` for all layers and for the NNGP).

    Parameters
    ----------
    rho : tensor, array or float
        Correlations :math:`\rho_0 \in [-1, 1]`.
    T : float
        Depth-time :math:`L\alpha^2 \ge 0` (keyword-only).
    trained : {"hidden", "all", "readout"}
    device : optional

    Returns
    -------
    ResidualKernel
        ``nngp`` = :math:`\rho(T)` (the NNGP limit) and ``ntk`` = the normalised NTK limit; torch for a tensor
        ``rho``, NumPy otherwise.
    """
    trained = check_trained(trained)
    T = _check_T(T)
    dev = resolve_device(device, rho)
    r0 = as_rho(rho, "rho", dev)

    def fn_np(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if T == 0.0:
            k0 = 1.0 - np.arccos(values) / _PI
            k1 = values * k0 + np.sqrt((1.0 - values) * (1.0 + values)) / _PI
            hidden = 0.5 * (k1 + values * k0)
            return values.copy(), hidden if trained == "hidden" else values.copy()
        rT, J, g = _ode_solve(values, T)
        if trained == "hidden":
            return rT, J / T
        if trained == "readout":
            return rT, rT.copy()
        return rT, (0.5 * rT + 0.5 * np.exp(-g) * values + J) / (1.0 + T)

    flat = r0.reshape(-1).cpu().numpy()
    uniq, inverse = np.unique(flat, return_inverse=True)
    if uniq.size <= 4096:
        values = fn_np(uniq)
        out = ResidualKernel(*(torch.as_tensor(v[inverse].reshape(r0.shape), dtype=DTYPE, device=dev)
                               for v in values))
    else:
        def fn(theta: torch.Tensor) -> torch.Tensor:
            a, b = fn_np(np.cos(theta.cpu().numpy()))
            return torch.as_tensor(np.stack([a, b]), dtype=DTYPE, device=theta.device)

        vals = ThetaSpline(fn, tol=1e-10, device=dev).evaluate(r0)
        out = ResidualKernel(vals[0], vals[1])
    return as_output(out, returns_torch(rho))


def infinite_depth_ntk(rho: torch.Tensor | np.ndarray | float, regime: str, *, T: float | None = None,
                       trained: str = "hidden", device: torch.device | str | None = None) -> ResidualKernel:
    r"""The normalised kernels as :math:`L \to \infty` in the three regimes of the phase diagram.

    - ``"constant"``: :math:`\alpha > 0` fixed, or :math:`\alpha = L^{-\gamma}` with :math:`\gamma < \tfrac12`
      (Chapter 5, Theorem `degen-thm-quarter`). NTK limit (hidden and all layers alike):
      :math:`\tfrac14 + \tfrac34\mathbb 1\{x = x'\}`: kernel regression then predicts a constant.
    - ``"critical"``: :math:`\alpha = c/\sqrt L`, ``T`` :math:`= c^2`: :func:`ode_kernel` (Chapter 6, Theorem
      `decay-thm-ode`).
    - ``"fast"``: :math:`\alpha = L^{-\gamma}` with :math:`\gamma > \tfrac12` (Chapter 6, Theorem `decay-thm-fast`;
      the minimax setting of :cite:`yu2026branch`). NTK limit (hidden): :math:`\tfrac12(\kappa_1 + \rho_0\kappa_0)`;
      (all): :math:`\rho_0`.

    The NNGP limit (``nngp``, also the NTK of the readout alone) is 1 (a constant kernel without nugget),
    :math:`\rho(T)`, and :math:`\rho_0` respectively.

    Parameters
    ----------
    rho : tensor, array or float
        Correlations :math:`\rho_0 \in [-1, 1]`. In the constant regime :math:`x = x'` means :math:`\rho_0 = 1`
        exactly (inputs on the sphere).
    regime : {"constant", "critical", "fast"}
    T : float
        Depth-time :math:`L\alpha^2 = c^2`; required for (and only for) ``regime="critical"``.
    trained : {"hidden", "all", "readout"}
    device : optional
    """
    trained = check_trained(trained)
    regime = check_choice(regime, "regime", LIMIT_REGIMES)
    if regime == "critical":
        if T is None:
            raise ValueError("T (the depth-time c**2 of alpha = c / sqrt(L)) is required for regime='critical'")
        return ode_kernel(rho, T=T, trained=trained, device=device)
    if T is not None:
        raise ValueError(f"T is only used with regime='critical', got T={T!r} with regime={regime!r}")
    r0 = as_rho(rho, "rho", resolve_device(device, rho))
    if regime == "constant":
        nngp = torch.ones_like(r0)
        ntk = nngp.clone() if trained == "readout" else torch.where(r0 == 1.0, nngp, torch.full_like(r0, 0.25))
    else:
        nngp = r0.clone()
        ntk = 0.5 * (_Kappa1.apply(r0) + r0 * _Kappa0.apply(r0)) if trained == "hidden" else r0.clone()
    return as_output(ResidualKernel(nngp, ntk), returns_torch(rho))
