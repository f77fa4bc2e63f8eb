r"""Eigenvalues of dot-product kernels on the sphere, and power-law fits of their decay (note §3.11, §5.7; Result I).

A kernel :math:`k(x, x') = \kappa(\langle x, x'\rangle)` on :math:`\mathbb S^{d-1}` with the uniform probability
measure is diagonalised by the spherical harmonics: all harmonics of degree :math:`k` share one Mercer eigenvalue
:math:`\mu_k`, with multiplicity :math:`N(d, k)` (Funk–Hecke) [derived; standard]:

.. math::

    \mu_k = \frac{\Gamma(d/2)}{\sqrt\pi\,\Gamma((d-1)/2)} \int_{-1}^{1} \kappa(t)\, P^{(d)}_k(t)\,
            (1-t^2)^{\frac{d-3}{2}}\, dt ,
    \qquad
    N(d, k) = \frac{2k+d-2}{k}\binom{k+d-3}{d-2}\ (k \ge 1),\quad N(d, 0) = 1,

where :math:`P^{(d)}_k` is the Gegenbauer (Legendre) polynomial normalised by :math:`P^{(d)}_k(1) = 1`. On the circle
(:math:`d = 2`) :math:`P^{(2)}_k = T_k` and :math:`\mu_k = c_k`, the Fourier coefficient of :math:`\kappa(\cos\theta)`.

Residual kernels have :math:`\sqrt{1-t^2}` cusps at :math:`t = \pm 1`, so quadrature in :math:`t` converges slowly.
:func:`funk_hecke_eigenvalues` substitutes :math:`t = \cos\theta`,

.. math::

    \mu_k = \frac{\Gamma(d/2)}{\sqrt\pi\,\Gamma((d-1)/2)} \int_0^\pi \kappa(\cos\theta)\, P^{(d)}_k(\cos\theta)\,
            \sin^{d-2}\theta\, d\theta ,

whose integrand is smooth on :math:`[0, \pi]` for these kernels, and uses Gauss–Legendre quadrature in
:math:`\theta` (exponential convergence once the oscillation of :math:`P_k` is resolved).

The book uses these in Part II (spectrum of the residual NTK; odd harmonics of the fast-decay limit vanish; decay
:math:`k^{-d}`, i.e. :math:`\lambda_j \asymp j^{-d/(d-1)}`) and in the minimax-rate chapter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from scipy import stats
from scipy.special import gammaln, roots_legendre

__all__ = [
    "PowerLawFit",
    "fourier_coefficients",
    "funk_hecke_eigenvalues",
    "gegenbauer",
    "multiplicity",
    "repeat_by_multiplicity",
    "fit_power_law",
]

KernelFunction = Callable[[torch.Tensor], "torch.Tensor | np.ndarray"]


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _evaluate_kernel(kappa: KernelFunction, t: np.ndarray) -> np.ndarray:
    """Call ``kappa`` on a float64 torch tensor of dot products and return a finite float64 NumPy array."""
    if not callable(kappa):
        raise TypeError(f"kappa must be a callable of the dot product t = <x, x'>, got {type(kappa).__name__}")
    out = kappa(torch.as_tensor(t, dtype=torch.float64))
    if isinstance(out, tuple) and hasattr(out, "ntk"):  # a ResidualKernel: take the NTK
        out = out.ntk
    values = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != t.shape:
        raise ValueError(f"kappa must return one value per input (shape {t.shape}), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("kappa returned NaN or inf")
    return values


def fourier_coefficients(kappa: KernelFunction, n_grid: int = 4096) -> np.ndarray:
    r"""Fourier coefficients of :math:`\kappa(\cos\theta)` on the circle: the Mercer eigenvalues on :math:`\mathbb S^1`.

    .. math::

        c_k = \frac{1}{2\pi}\int_{-\pi}^{\pi} \kappa(\cos\theta)\, e^{-ik\theta}\, d\theta
            \approx \frac1N \operatorname{Re}\,\texttt{rfft}\big(\kappa(\cos\theta_j)\big)_k,
        \qquad \theta_j = \frac{2\pi j}{N},

    the convention of note §5.7 (eigenvalues for the uniform probability measure; each :math:`k \ge 1` belongs to
    the two eigenfunctions :math:`\cos k\theta, \sin k\theta`). The discrete sum aliases:
    it returns :math:`\sum_{m} c_{k+mN}`. Residual kernels have a :math:`|\theta|` kink at :math:`\theta = 0`
    (their coefficients decay like :math:`k^{-2}`), so the error is about :math:`2 C \zeta(2) N^{-2}` with
    :math:`c_k \approx C k^{-2}`: :math:`2\times10^{-8}` at :math:`N = 4096` for the two-layer NTK, whose
    exact values are :math:`c_0 = 3/\pi^2`, :math:`c_1 = \tfrac14`, and :math:`c_k = 0` for odd :math:`k \ge 3` (these
    alias only onto odd degrees, so they come out below :math:`10^{-17}`). For exact values use
    :func:`funk_hecke_eigenvalues` with ``dim=2`` (Gauss–Legendre in :math:`\theta`, error about :math:`10^{-15}`).

    Parameters
    ----------
    kappa : callable
        The kernel as a function of the dot product :math:`t = \langle x, x'\rangle \in [-1, 1]`; called once with a
        float64 torch tensor, may return a tensor or an array (a :class:`~resntk.kernels.ResidualKernel` is read as its
        ``ntk``).
    n_grid : int
        Number :math:`N` of equispaced angles (even, at least 4).

    Returns
    -------
    numpy.ndarray
        :math:`c_0, \dots, c_{N/2}` (float64).
    """
    n_grid = _check_int(n_grid, "n_grid", 4)
    if n_grid % 2:
        raise ValueError(f"n_grid must be even, got {n_grid}")
    theta = 2.0 * np.pi * np.arange(n_grid) / n_grid
    values = _evaluate_kernel(kappa, np.cos(theta))
    return np.fft.rfft(values).real / n_grid


def gegenbauer(k: int, dim: int, t: np.ndarray | float) -> np.ndarray:
    r"""The Gegenbauer/Legendre polynomial of degree ``k`` on :math:`\mathbb S^{d-1}`, normalised by :math:`P_k(1) = 1`.

    Three-term recurrence (from that of :math:`C^{(\lambda)}_k`, :math:`\lambda = (d-2)/2`), stable on
    :math:`[-1, 1]`:

    .. math::

        P_0 = 1,\quad P_1(t) = t,\quad (k+d-2)\,P_{k+1}(t) = (2k+d-2)\,t\,P_k(t) - k\,P_{k-1}(t).

    :math:`d = 2` gives the Chebyshev polynomials :math:`T_k`, :math:`d = 3` the Legendre polynomials.
    """
    k = _check_int(k, "k", 0)
    dim = _check_int(dim, "dim", 2)
    return _gegenbauer_table(k, dim, np.asarray(t, dtype=np.float64))[k]


def _gegenbauer_table(max_degree: int, dim: int, t: np.ndarray) -> np.ndarray:
    table = np.empty((max_degree + 1, *t.shape))
    table[0] = 1.0
    if max_degree >= 1:
        table[1] = t
    for k in range(1, max_degree):
        table[k + 1] = ((2 * k + dim - 2) * t * table[k] - k * table[k - 1]) / (k + dim - 2)
    return table


def funk_hecke_eigenvalues(
    kappa: KernelFunction, dim: int, max_degree: int, n_quad: int | None = None
) -> np.ndarray:
    r"""Mercer eigenvalues :math:`\mu_0, \dots, \mu_K` of :math:`\kappa(\langle x, x'\rangle)` on :math:`\mathbb S^{d-1}`.

    The Funk–Hecke formula of note §3.11 (uniform probability measure) in the variable :math:`\theta`
    (module docstring), by Gauss–Legendre quadrature on :math:`[0, \pi]`.

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
        (e.g. deep kernels with large :math:`L\alpha^2`, which vary on the scale :math:`\theta \sim 1/(L\alpha^2)`).

    Returns
    -------
    numpy.ndarray
        :math:`\mu_k` for :math:`k = 0, \dots, K`; degree :math:`k` has multiplicity :func:`multiplicity`.
        On :math:`\mathbb S^1` they equal :func:`fourier_coefficients`.
    """
    dim = _check_int(dim, "dim", 2)
    max_degree = _check_int(max_degree, "max_degree", 0)
    n_quad = max(1024, 2 * max_degree + 512) if n_quad is None else _check_int(n_quad, "n_quad", 2)
    nodes, weights = roots_legendre(n_quad)  # O(n) asymptotic nodes; numpy's leggauss is O(n^3)
    theta = 0.5 * np.pi * (nodes + 1.0)
    weights = 0.5 * np.pi * weights
    t = np.cos(theta)
    values = _evaluate_kernel(kappa, t)
    log_const = gammaln(dim / 2) - 0.5 * math.log(math.pi) - gammaln((dim - 1) / 2)
    w = weights * values * np.sin(theta) ** (dim - 2) * math.exp(log_const)
    return _gegenbauer_table(max_degree, dim, t) @ w


def multiplicity(dim: int, k: int) -> int:
    r"""Number :math:`N(d, k)` of linearly independent spherical harmonics of degree ``k`` on :math:`\mathbb S^{d-1}`.

    .. math::

        N(d, k) = \binom{k+d-1}{d-1} - \binom{k+d-3}{d-1}
                = \frac{2k+d-2}{k}\binom{k+d-3}{d-2}\quad (k \ge 1), \qquad N(d, 0) = 1,

    computed exactly in integers (the first form: harmonic polynomials are the homogeneous polynomials of degree
    :math:`k` minus :math:`\|x\|^2` times those of degree :math:`k-2`). :math:`d = 2`: 2 for :math:`k \ge 1`;
    :math:`d = 3`: :math:`2k + 1`.
    """
    dim = _check_int(dim, "dim", 2)
    k = _check_int(k, "k", 0)
    if k == 0:
        return 1
    return math.comb(k + dim - 1, dim - 1) - (math.comb(k + dim - 3, dim - 1) if k >= 2 else 0)


def repeat_by_multiplicity(mu: np.ndarray, dim: int) -> np.ndarray:
    r"""The Mercer eigenvalues in index form: each :math:`\mu_k` repeated :math:`N(d, k)` times, sorted decreasingly.

    These are what the eigenvalues of a Gram matrix divided by :math:`n` approximate (note §3.12), and what decays
    like :math:`j^{-d/(d-1)}` (note §3.11).
    """
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 1:
        raise ValueError(f"mu must be a 1-D array of eigenvalues by degree, got shape {mu.shape}")
    counts = [multiplicity(dim, k) for k in range(mu.size)]
    return np.sort(np.repeat(mu, counts))[::-1]


class PowerLawFit(NamedTuple):
    r"""Least-squares fit of :math:`\log|v| = \log C + p \log k` (see :func:`fit_power_law`)."""

    exponent: float
    r"""The fitted exponent :math:`p` (e.g. :math:`-2` for :math:`c_k \propto k^{-2}`)."""
    prefactor: float
    """The fitted constant :math:`C`."""
    stderr: float
    """Standard error of the exponent."""
    ci_low: float
    """Lower end of the confidence interval of the exponent."""
    ci_high: float
    """Upper end of the confidence interval of the exponent."""


def fit_power_law(
    k: np.ndarray | list[float], values: np.ndarray | list[float], confidence: float = 0.95
) -> PowerLawFit:
    r"""Fit :math:`v \approx C k^p` by ordinary least squares on :math:`(\log k, \log v)`.

    The confidence interval is the Student-:math:`t` interval :math:`p \pm t_{n-2} \cdot \mathrm{se}(p)` of the
    regression slope; it reflects the scatter about the fitted line, not bias from fitting a pre-asymptotic range.

    Parameters
    ----------
    k : array
        Positive abscissae (degrees, indices or sample sizes), at least three distinct values.
    values : array
        Positive values (eigenvalues, errors). Zero or negative values raise ``ValueError``: select the non-zero
        harmonics first (e.g. even degrees of the two-layer NTK).
    confidence : float
        Level of the interval, in :math:`(0, 1)`.
    """
    x = np.asarray(k, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"k and values must be 1-D arrays of the same length, got shapes {x.shape} and {y.shape}")
    if x.size < 3:
        raise ValueError(f"k must have at least 3 points to fit a power law with an interval, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(x > 0)):
        raise ValueError("k must be finite and positive")
    if not (np.all(np.isfinite(y)) and np.all(y > 0)):
        raise ValueError("values must be finite and positive (drop zero harmonics before fitting)")
    if np.unique(x).size < 3:
        raise ValueError("k must contain at least 3 distinct values")
    if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    lx, ly = np.log(x), np.log(y)
    res = stats.linregress(lx, ly)
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 2) * res.stderr
    return PowerLawFit(
        exponent=float(res.slope),
        prefactor=float(math.exp(res.intercept)),
        stderr=float(res.stderr),
        ci_low=float(res.slope - half),
        ci_high=float(res.slope + half),
    )
