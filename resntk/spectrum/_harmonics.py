r"""Mercer eigenvalues of dot-product kernels on the sphere: Fourier, Funk-Hecke, Gegenbauer, multiplicities.

Book: Appendix B ("Spherical harmonics and the Funk-Hecke formula"), Definitions `harm-def-harmonics` and
`harm-def-gegenbauer`, Proposition `harm-prop-dimension`, Theorems `harm-thm-addition` and `harm-thm-funk-hecke`;
Chapter 2, Proposition `kreg-prop-circle`. A kernel :math:`k(x, x') = \kappa(\langle x, x'\rangle)` on
:math:`\mathbb S^{d-1}` with the uniform probability measure is diagonalised by the spherical harmonics: all harmonics
of degree :math:`k` share one Mercer eigenvalue :math:`\mu_k`, with multiplicity :math:`N(k, d)`:

.. math::

    \mu_k = \frac{\Gamma(d/2)}{\sqrt\pi\,\Gamma((d-1)/2)} \int_0^\pi \kappa(\cos\theta)\, P^{(d)}_k(\cos\theta)\,
            \sin^{d-2}\theta\, d\theta ,
    \qquad
    N(k, d) = \frac{2k+d-2}{k}\binom{k+d-3}{d-2}\ (k \ge 1),\quad N(0, d) = 1,

where :math:`P^{(d)}_k` is the Gegenbauer (Legendre) polynomial normalised by :math:`P^{(d)}_k(1) = 1`. The variable
:math:`\theta` (rather than :math:`t = \cos\theta`) makes the integrand smooth for residual kernels, whose
:math:`\sqrt{1-t^2}` cusps at :math:`t = \pm 1` would slow quadrature in :math:`t`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.special import gammaln, roots_legendre

from .._validation import DTYPE, as_float64, as_output, check_int, returns_torch

KernelFunction = Callable[[torch.Tensor], Any]


def _evaluate_kernel(kappa: KernelFunction, t: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``kappa`` at a float64 tensor of dot products: finite float64 values, and whether it returned a tensor."""
    if not callable(kappa):
        raise TypeError(f"kappa must be a callable of the dot product t = <x, x'>, got {type(kappa).__name__}")
    out = kappa(t)
    if isinstance(out, tuple) and hasattr(out, "ntk"):  # a ResidualKernel: take the NTK
        out = out.ntk
    values = as_float64(out, "kappa(t)", t.device)
    if tuple(values.shape) != tuple(t.shape):
        raise ValueError(f"kappa must return one value per input (shape {tuple(t.shape)}), got shape "
                         f"{tuple(values.shape)}")
    return values, isinstance(out, torch.Tensor)


def fourier_coefficients(kappa: KernelFunction, n_grid: int = 4096) -> torch.Tensor | np.ndarray:
    r"""Fourier coefficients of :math:`\kappa(\cos\theta)`: the Mercer eigenvalues on :math:`\mathbb S^1`.

    .. math::

        c_k = \frac{1}{2\pi}\int_{-\pi}^{\pi} \kappa(\cos\theta)\, e^{-ik\theta}\, d\theta
            \approx \frac1N \operatorname{Re}\,\texttt{rfft}\big(\kappa(\cos\theta_j)\big)_k,
        \qquad \theta_j = \frac{2\pi j}{N},

    (Chapter 2, Proposition `kreg-prop-circle`: eigenvalues for the uniform probability measure; each
    :math:`k \ge 1` belongs to the two eigenfunctions :math:`\cos k\theta, \sin k\theta`). The discrete sum aliases:
    it returns :math:`\sum_{m} c_{k+mN}`. Residual kernels have a :math:`|\theta|` kink at :math:`\theta = 0` (their
    coefficients decay like :math:`k^{-2}`), so the error is about :math:`2 C \zeta(2) N^{-2}` with
    :math:`c_k \approx C k^{-2}`: :math:`2\times10^{-8}` at :math:`N = 4096` for the two-layer NTK, whose exact
    values are :math:`c_0 = 3/\pi^2`, :math:`c_1 = \tfrac14`, and :math:`c_k = 0` for odd :math:`k \ge 3` (Appendix B,
    Corollary `harm-cor-odd`). For exact values use :func:`funk_hecke_eigenvalues` with ``dim=2``.

    Parameters
    ----------
    kappa : callable
        The kernel as a function of the dot product :math:`t \in [-1, 1]`; called once with a float64 torch tensor,
        may return a tensor or an array (a :class:`resntk.kernels.ResidualKernel` is read as its ``ntk``).
    n_grid : int
        Number :math:`N` of equispaced angles (even, at least 4).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        :math:`c_0, \dots, c_{N/2}` (float64): a tensor if ``kappa`` returns one, NumPy otherwise.
    """
    n_grid = check_int(n_grid, "n_grid", minimum=4)
    if n_grid % 2:
        raise ValueError(f"n_grid must be even, got {n_grid}")
    theta = 2.0 * math.pi * torch.arange(n_grid, dtype=DTYPE) / n_grid
    values, torch_out = _evaluate_kernel(kappa, torch.cos(theta))
    return as_output(torch.fft.rfft(values).real / n_grid, torch_out)


def _gegenbauer_table(max_degree: int, dim: int, t: torch.Tensor) -> torch.Tensor:
    table = torch.empty((max_degree + 1, *t.shape), dtype=DTYPE, device=t.device)
    table[0] = 1.0
    if max_degree >= 1:
        table[1] = t
    for k in range(1, max_degree):
        table[k + 1] = ((2 * k + dim - 2) * t * table[k] - k * table[k - 1]) / (k + dim - 2)
    return table


def gegenbauer(k: int, dim: int, t: torch.Tensor | np.ndarray | float) -> torch.Tensor | np.ndarray:
    r"""The Gegenbauer polynomial :math:`P^{(d)}_k` of degree ``k`` on :math:`\mathbb S^{d-1}`, with :math:`P_k(1) = 1`.

    Appendix B, Definition `harm-def-gegenbauer`. Three-term recurrence (from that of :math:`C^{(\lambda)}_k`,
    :math:`\lambda = (d-2)/2`), stable on :math:`[-1, 1]`:

    .. math::

        P_0 = 1,\quad P_1(t) = t,\quad (k+d-2)\,P_{k+1}(t) = (2k+d-2)\,t\,P_k(t) - k\,P_{k-1}(t).

    :math:`d = 2` gives the Chebyshev polynomials :math:`T_k`, :math:`d = 3` the Legendre polynomials. The output
    follows ``t`` (torch for a tensor, NumPy otherwise).
    """
    k = check_int(k, "k", minimum=0)
    dim = check_int(dim, "dim", minimum=2)
    return as_output(_gegenbauer_table(k, dim, as_float64(t, "t"))[k], returns_torch(t))


def funk_hecke_eigenvalues(kappa: KernelFunction, dim: int, max_degree: int, n_quad: int | None = None
                           ) -> torch.Tensor | np.ndarray:
    r"""Mercer eigenvalues :math:`\mu_0, \dots, \mu_K` of :math:`\kappa(\langle x, x'\rangle)` on :math:`\mathbb S^{d-1}`.

    The Funk-Hecke formula (Appendix B, Theorem `harm-thm-funk-hecke`; uniform probability measure) in the variable
    :math:`\theta` (module docstring), by Gauss-Legendre quadrature on :math:`[0, \pi]`.

    Parameters
    ----------
    kappa : callable
        The kernel as a function of :math:`t \in [-1, 1]` (see :func:`fourier_coefficients`).
    dim : int
        The ambient dimension :math:`d \ge 2` (the sphere :math:`\mathbb S^{d-1}`).
    max_degree : int
        Largest degree :math:`K`.
    n_quad : int, optional
        Number of quadrature nodes; default :math:`\max(1024, 2K + 512)`. Raise it for kernels with sharp features
        (deep kernels with large :math:`L\alpha^2` vary on the scale :math:`\theta \sim 1/(L\alpha^2)`).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        :math:`\mu_k` for :math:`k = 0, \dots, K` (degree :math:`k` has multiplicity :func:`multiplicity`); a tensor
        if ``kappa`` returns one, NumPy otherwise. On :math:`\mathbb S^1` they equal :func:`fourier_coefficients`.
    """
    dim = check_int(dim, "dim", minimum=2)
    max_degree = check_int(max_degree, "max_degree", minimum=0)
    n_quad = max(1024, 2 * max_degree + 512) if n_quad is None else check_int(n_quad, "n_quad", minimum=2)
    nodes, weights = roots_legendre(n_quad)  # O(n) asymptotic nodes; numpy's leggauss is O(n^3)
    theta = torch.from_numpy(0.5 * math.pi * (nodes + 1.0))
    t = torch.cos(theta)
    values, torch_out = _evaluate_kernel(kappa, t)
    log_const = gammaln(dim / 2) - 0.5 * math.log(math.pi) - gammaln((dim - 1) / 2)
    w = torch.from_numpy(0.5 * math.pi * weights) * values * torch.sin(theta) ** (dim - 2) * math.exp(log_const)
    return as_output(_gegenbauer_table(max_degree, dim, t) @ w, torch_out)


def multiplicity(k: int, dim: int) -> int:
    r"""Number :math:`N(k, d)` of linearly independent spherical harmonics of degree ``k`` on :math:`\mathbb S^{d-1}`.

    Appendix B, Proposition `harm-prop-dimension`:

    .. math::

        N(k, d) = \binom{k+d-1}{d-1} - \binom{k+d-3}{d-1}
                = \frac{2k+d-2}{k}\binom{k+d-3}{d-2}\quad (k \ge 1), \qquad N(0, d) = 1,

    exactly in integers (harmonic polynomials are the homogeneous polynomials of degree :math:`k` minus
    :math:`\|x\|^2` times those of degree :math:`k-2`). :math:`d = 2`: 2 for :math:`k \ge 1`; :math:`d = 3`:
    :math:`2k + 1`. The arguments come in the order of :func:`gegenbauer`: degree, then dimension.
    """
    k = check_int(k, "k", minimum=0)
    dim = check_int(dim, "dim", minimum=2)
    if k == 0:
        return 1
    return math.comb(k + dim - 1, dim - 1) - (math.comb(k + dim - 3, dim - 1) if k >= 2 else 0)


def repeat_by_multiplicity(mu: torch.Tensor | np.ndarray, dim: int) -> torch.Tensor | np.ndarray:
    r"""The Mercer eigenvalues in index form: each :math:`\mu_k` repeated :math:`N(k, d)` times, sorted decreasingly.

    These are what the eigenvalues of a Gram matrix divided by :math:`n` approximate, and what decays like
    :math:`j^{-d/(d-1)}` (the exponent :math:`\beta = d/(d-1)` of Chapter 2, Theorem `kreg-thm-minimax`). The output follows ``mu``.
    """
    values = as_float64(mu, "mu")
    if values.ndim != 1:
        raise ValueError(f"mu must be a 1-D array of eigenvalues by degree, got shape {tuple(values.shape)}")
    dim = check_int(dim, "dim", minimum=2)
    counts = torch.tensor([multiplicity(k, dim) for k in range(values.numel())], device=values.device)
    return as_output(torch.sort(torch.repeat_interleave(values, counts), descending=True).values, returns_torch(mu))
