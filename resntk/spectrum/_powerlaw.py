r"""One power-law fit, with a confidence interval for the exponent: eigenvalue decay, error rates, widths.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping"), Corollary `kreg-cor-rate`; Chapter 7 ("Minimax
optimality and the cost of overfitting"), Theorem `minimax-thm-deep`; Appendix B, Exercise `harm-ex-circle`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats

from .._validation import as_float64, as_output, check_real, returns_torch


@dataclass(frozen=True)
class PowerLawFit:
    r"""A least-squares power law :math:`y \approx C x^{p}` fitted on a log-log scale (:func:`fit_power_law`).

    Attributes
    ----------
    exponent
        The fitted exponent :math:`p` (e.g. :math:`-2` for :math:`c_k \propto k^{-2}`).
    prefactor
        The fitted constant :math:`C`.
    ci_low, ci_high
        The two-sided confidence interval of the exponent (Student :math:`t` with ``dof`` degrees of freedom).
    stderr
        Standard error of the exponent.
    dof
        Degrees of freedom: number of points minus 2.
    confidence
        The confidence level of the interval.
    """

    exponent: float
    prefactor: float
    ci_low: float
    ci_high: float
    stderr: float
    dof: int
    confidence: float

    @property
    def ci(self) -> tuple[float, float]:
        """``(ci_low, ci_high)``."""
        return self.ci_low, self.ci_high

    def predict(self, x: Any) -> torch.Tensor | np.ndarray:
        """The fitted power law :math:`C x^p` at ``x`` (torch for a tensor ``x``, NumPy otherwise)."""
        return as_output(self.prefactor * as_float64(x, "x") ** self.exponent, returns_torch(x))


def fit_power_law(x: Any, y: Any, *, confidence: float = 0.95) -> PowerLawFit:
    r"""Fit :math:`\log y = \log C + p \log x` by ordinary least squares, with a confidence interval for :math:`p`.

    .. math::

        \hat p = \frac{\sum (u_i - \bar u)(v_i - \bar v)}{\sum (u_i - \bar u)^2}, \qquad
        \mathrm{se}(\hat p) = \sqrt{\frac{\sum r_i^2 / (N-2)}{\sum (u_i - \bar u)^2}}, \qquad
        \hat p \pm t_{N-2,\,(1+c)/2}\,\mathrm{se}(\hat p),

    with :math:`u = \log x`, :math:`v = \log y`, residuals :math:`r`, :math:`N` points and confidence :math:`c`.
    Repeated abscissae (several seeds at one sample size) are allowed. The interval assumes independent,
    homoscedastic Gaussian errors on the log scale; it reflects the scatter about the line, not the bias of fitting a
    pre-asymptotic range. It is what the book reports next to a measured rate (e.g. the minimax :math:`-d/(2d-1)`,
    Chapter 2, Corollary `kreg-cor-rate`) or an eigenvalue decay (:math:`k^{-d}`, Chapter 7).

    Parameters
    ----------
    x
        Positive abscissae (degrees, indices, sample sizes, widths), 1-D, at least two distinct values.
    y
        Positive values (eigenvalues, errors), the same length, at least 3 points. Zero values raise
        ``ValueError``: select the non-zero harmonics first (e.g. even degrees of the two-layer NTK).
    confidence
        Level of the interval, in :math:`(0, 1)`.

    Returns
    -------
    PowerLawFit
    """
    u, v = as_float64(x, "x"), as_float64(y, "y")
    if u.ndim != 1 or v.ndim != 1 or u.shape != v.shape:
        raise ValueError(f"x and y must be 1-D arrays of the same length, got shapes {tuple(u.shape)} and "
                         f"{tuple(v.shape)}")
    if u.numel() < 3:
        raise ValueError(f"x must hold at least 3 points for a confidence interval, got {u.numel()}")
    if bool((u <= 0).any()):
        raise ValueError("x must be positive (it is fitted on a log scale)")
    if bool((v <= 0).any()):
        raise ValueError("y must be positive (it is fitted on a log scale; drop zero harmonics before fitting)")
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, strict=True)
    lu, lv = torch.log(u), torch.log(v)
    du = lu - lu.mean()
    sxx = float(du @ du)
    if sxx == 0.0:
        raise ValueError("x must contain at least two distinct values")
    slope = float(du @ (lv - lv.mean())) / sxx
    intercept = float(lv.mean()) - slope * float(lu.mean())
    resid = lv - (intercept + slope * lu)
    dof = u.numel() - 2
    stderr = math.sqrt(float(resid @ resid) / dof / sxx)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, dof)) * stderr
    return PowerLawFit(exponent=slope, prefactor=math.exp(intercept), ci_low=slope - half, ci_high=slope + half,
                       stderr=stderr, dof=dof, confidence=confidence)
