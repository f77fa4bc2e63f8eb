r"""The 1-D table fast path: the residual kernel on the sphere tabulated in :math:`\theta = \arccos\rho_0`.

Book: Chapter 4 ("The residual NTK derived"), Proposition `rntk-prop-scalar` (the kernels are functions of
:math:`\rho_0` alone on the sphere), used throughout Chapters 5-9 for large Gram matrices of deep kernels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from .._validation import (
    DTYPE,
    as_output,
    as_points,
    as_rho,
    check_alpha,
    check_bool,
    check_choice,
    check_depth,
    check_real,
    check_trained,
    resolve_device,
    returns_torch,
)
from ._arccos import _angle
from ._gram import TileFn, check_block_size, gram, raw_log_diagonals
from ._recursion import Buffers, ResidualKernel, scalar_forward

_PI = math.pi


class ThetaSpline:
    r"""Cubic-spline interpolant of functions of :math:`\theta \in [0, \pi]` on a doubly graded grid.

    With :math:`u = \theta/\pi`, the grid is uniform, with ``m`` intervals, on each octave
    :math:`u \in [2^{-j-1}, 2^{-j}]` (:math:`j = 1, \dots, J-1`) and on :math:`[0, 2^{-J}]`, and mirrored on
    :math:`[\tfrac12, 1]`. The spacing therefore shrinks towards both ends, where residual kernels vary fastest:
    near :math:`\theta = 0` on the scale :math:`\approx 6\pi(1+\alpha^2)/(L\alpha^2)` (deep kernels), near
    :math:`\theta = \pi` on the scale :math:`\approx \alpha` (the :math:`\sqrt{1+\rho}` cusp of the fast-decay limit,
    Chapter 6, Corollary `decay-cor-pointwise`). A query's interval is found by ``torch.searchsorted`` on the knots.

    ``fn`` maps a 1-D float64 tensor of angles to a ``(k, n)`` tensor of ``k`` functions, evaluated at the knots
    themselves (no rounding through :math:`\cos`). ``m`` doubles from ``m_start`` until the largest error at the
    midpoints of all intervals is at most ``tol`` (or ``m_max``; then a ``RuntimeWarning`` gives the error reached).
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], *, tol: float, device: torch.device,
                 octaves: int = 16, m_start: int = 16, m_max: int = 512) -> None:
        self.octaves = octaves
        self.device = device
        m = m_start
        nominal = self._nominal_knots(m)
        theta_k = torch.as_tensor(nominal * _PI, dtype=DTYPE, device=device)
        theta_m = torch.as_tensor(0.5 * (nominal[:-1] + nominal[1:]) * _PI, dtype=DTYPE, device=device)
        both = fn(torch.cat([theta_k, theta_m]))  # knots and midpoints in one call: fn's cost is mostly per call
        values, values_m = both[:, : theta_k.numel()], both[:, theta_k.numel():]
        while True:
            self._fit(theta_k, values)
            err = float((self.evaluate_theta(theta_m) - values_m).abs().max())
            self.error_estimate = err
            if err <= tol or 2 * m > m_max:
                break
            # The knots at 2m are the knots at m interleaved with their midpoints: reuse both evaluations.
            m *= 2
            nominal = self._nominal_knots(m)
            theta_k = torch.as_tensor(nominal * _PI, dtype=DTYPE, device=device)
            merged = torch.empty((values.shape[0], 2 * values.shape[1] - 1), dtype=DTYPE, device=device)
            merged[:, 0::2] = values
            merged[:, 1::2] = values_m
            values = merged
            theta_m = torch.as_tensor(0.5 * (nominal[:-1] + nominal[1:]) * _PI, dtype=DTYPE, device=device)
            values_m = fn(theta_m)
        if err > tol:
            warnings.warn(f"kernel table reached a midpoint error of {err:.2e} > tol={tol:.1e} with "
                          f"{self.n_knots} knots", RuntimeWarning, stacklevel=3)

    def _nominal_knots(self, m: int) -> np.ndarray:
        J = self.octaves
        lower = [np.arange(m) / m * 2.0**-J]
        for j in range(J - 1, 0, -1):
            lower.append(2.0 ** (-j - 1) * (1.0 + np.arange(m) / m))
        low = np.concatenate(lower)  # [0, 1/2), exact binary fractions
        return np.concatenate([low, [0.5], 1.0 - low[::-1]])  # theta / pi, ascending, 2 J m intervals

    def _fit(self, theta: torch.Tensor, values: torch.Tensor) -> None:
        th = theta.cpu().numpy()
        c = CubicSpline(th, values.cpu().numpy().T, axis=0, bc_type="not-a-knot").c  # (4, intervals, k)
        self.knots = theta.contiguous()
        self.n_knots = theta.numel()
        self.left = self.knots[:-1]
        self.k = c.shape[2]
        # coef[q][p]: the coefficient of (theta - left)^p for function q, each a contiguous 1-D table for take().
        self.coef = [[torch.as_tensor(np.ascontiguousarray(c[3 - p, :, q]), dtype=DTYPE, device=self.device)
                      for p in range(4)] for q in range(self.k)]

    def evaluate_theta(self, theta: torch.Tensor) -> torch.Tensor:
        """Interpolated values at angles ``theta``, shape ``(k, *theta.shape)``."""
        out = torch.empty((self.k, *theta.shape), dtype=DTYPE, device=theta.device)
        self.evaluate_into(theta.clone(), list(out))
        return out

    def evaluate(self, rho: torch.Tensor) -> torch.Tensor:
        """Interpolated values at correlations ``rho``, shape ``(k, *rho.shape)``."""
        out = torch.empty((self.k, *rho.shape), dtype=DTYPE, device=rho.device)
        self.evaluate_into(_angle(rho), list(out))
        return out

    def evaluate_into(self, theta: torch.Tensor, outs: list[torch.Tensor]) -> None:
        """Write the ``k`` interpolated functions at ``theta`` into ``outs``; ``theta`` is overwritten."""
        idx = torch.searchsorted(self.knots, theta, right=True).sub_(1).clamp_(0, self.n_knots - 2)
        x = theta.sub_(torch.take(self.left, idx))
        coefficient = torch.empty_like(x)
        for q, out in enumerate(outs):
            c = self.coef[q]
            torch.take(c[3], idx, out=out)
            for p in (2, 1, 0):  # Horner, one fused multiply-add pass per degree
                torch.take(c[p], idx, out=coefficient)
                torch.addcmul(coefficient, out, x, out=out)


class ResidualKernelTable:
    r"""The residual kernel on the sphere, tabulated once in :math:`\theta = \arccos\rho_0`; a callable kernel.

    The normalised kernels :math:`\rho_L(\rho_0)` and :math:`\Omega_L(\rho_0)` (Chapter 4, Proposition
    `rntk-prop-scalar`) are computed by the recursion of :func:`residual_ntk_scalar` on a grid of angles and
    interpolated by a cubic spline in :math:`\theta`. In :math:`\rho_0` the kernels have :math:`\sqrt{1-\rho_0^2}`
    cusps at :math:`\pm 1`; in :math:`\theta` they are smooth on :math:`[0, \pi]`, so the spline converges at fourth
    order.

    Error bound. For a function with a bounded fourth derivative a cubic spline on a grid of spacing :math:`h`
    satisfies :math:`\|f - s\|_\infty \le C h^4 \|f^{(4)}\|_\infty`; locally the error in an interval is
    :math:`\approx f^{(4)}(\theta)(\theta - \theta_i)^2(\theta - \theta_{i+1})^2/24`, largest at the midpoint. The
    table measures it a posteriori at the midpoints of **all** intervals against the direct recursion and doubles
    the resolution until it is at most ``tol`` (the achieved value is ``error_estimate``). Near
    :math:`\rho_0 = 1` the float :math:`\rho_0` itself limits any method: for :math:`1 - \rho_0 \lesssim 10^{-12}`
    the angle is known only to about :math:`10^{-16}/\theta`, and table and recursion both inherit that uncertainty.

    Parameters
    ----------
    depth, alpha, trained
        As in :func:`residual_ntk` (keyword-only; ``depth >= 1`` for ``trained="hidden"``).
    kernel : {"ntk", "nngp"}
        What :meth:`__call__` returns.
    normalize : bool
        :meth:`__call__` returns the unit-diagonal kernel (default) or the raw one.
    tol : float
        Target for the largest interpolation error of the normalised kernels (default ``1e-10``).
    device : optional
        Where the table lives and is evaluated (default the CPU).
    block_size : int
        Tile size of :meth:`gram`.

    Examples
    --------
    >>> # alpha = 1/L: close to the two-layer NTK
    >>> k = ResidualKernelTable(depth=1000, alpha=1e-3)
    >>> G = k(X_train, X_test)                                  # doctest: +SKIP
    """

    def __init__(self, *, depth: int, alpha: float, trained: str = "hidden", kernel: str = "ntk",
                 normalize: bool = True, tol: float = 1e-10, device: torch.device | str | None = None,
                 block_size: int = 512) -> None:
        self.trained = check_trained(trained)
        self.depth = check_depth(depth, minimum=1 if self.trained == "hidden" else 0)
        self.alpha = check_alpha(alpha)
        self.kernel = check_choice(kernel, "kernel", ("ntk", "nngp"))
        self.normalize = check_bool(normalize, "normalize")
        tol = check_real(tol, "tol", minimum=0.0, strict=True)
        self.block_size = check_block_size(block_size)
        self.device = resolve_device(device)

        def fn(theta: torch.Tensor) -> torch.Tensor:
            delta0 = torch.sin(0.5 * theta).square_().mul_(2.0)  # 1 - cos(theta), to full relative accuracy
            return torch.stack(list(scalar_forward(delta0, self.depth, self.alpha, self.trained)))

        with torch.no_grad():
            # m_start = 64: deep tables need m = 64-128, and each call of fn costs the same up to a few thousand
            # angles (a depth-long loop of vectorised passes), so starting fine saves calls without cost
            self._spline = ThetaSpline(fn, tol=tol, device=self.device, m_start=64)

    @property
    def error_estimate(self) -> float:
        """Largest measured interpolation error of the normalised kernels (at all interval midpoints)."""
        return self._spline.error_estimate

    @property
    def n_knots(self) -> int:
        """Number of tabulated angles."""
        return self._spline.n_knots

    def __repr__(self) -> str:
        return (f"ResidualKernelTable(depth={self.depth}, alpha={self.alpha:g}, trained={self.trained!r}, "
                f"kernel={self.kernel!r}, normalize={self.normalize}, n_knots={self.n_knots}, "
                f"error_estimate={self.error_estimate:.1e})")

    def scalar(self, rho: torch.Tensor | np.ndarray | float) -> ResidualKernel:
        """Interpolated normalised :math:`(\\rho_L, \\Omega_L)` at correlations ``rho`` (any shape)."""
        r = as_rho(rho, "rho", self.device)
        with torch.no_grad():
            vals = self._spline.evaluate(r)
        return as_output(ResidualKernel(vals[0], vals[1]), returns_torch(rho))

    def _tile_fn(self) -> TileFn:
        spline = self._spline

        def tile_fn(rho: torch.Tensor, ntk: torch.Tensor, buf: Buffers) -> None:
            theta, s = buf.views(tuple(rho.shape))[:2]
            torch.neg(rho, out=theta).add_(1.0)
            torch.add(rho, 1.0, out=s)
            s.mul_(theta).sqrt_()
            torch.atan2(s, rho, out=theta)  # _angle(rho) without allocating
            spline.evaluate_into(theta, [rho, ntk])

        return tile_fn

    def gram(self, x1: torch.Tensor | np.ndarray, x2: torch.Tensor | np.ndarray | None = None) -> ResidualKernel:
        """Both kernels between ``x1`` and ``x2`` (as :func:`residual_ntk` with ``method="table"``)."""
        X1 = as_points(x1, "x1", self.device)
        X2 = None if x2 is None else as_points(x2, "x2", self.device, n_features=X1.shape[1])
        raw = None if self.normalize else raw_log_diagonals(self.depth, self.alpha, self.trained)
        with torch.no_grad():
            out = gram(X1, X2, self._tile_fn(), raw=raw, block_size=self.block_size)
        return as_output(out, returns_torch(x1, x2))

    def __call__(self, x1: torch.Tensor | np.ndarray, x2: torch.Tensor | np.ndarray | None = None
                 ) -> torch.Tensor | np.ndarray:
        """The chosen kernel (``kernel``, ``normalize``) between ``x1`` and ``x2``: a callable kernel ``k(X1, X2)``."""
        out = self.gram(x1, x2)
        return out.ntk if self.kernel == "ntk" else out.nngp
