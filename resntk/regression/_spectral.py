r"""One eigendecomposition of a Gram matrix and the spectral filters of kernel gradient flow and descent.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping"), Definition `kreg-def-flow` and Proposition
`kreg-prop-closed-form`. With :math:`K = U\Lambda U^\top`,

.. math::

    f_t(x) = K(x, X)\, U\, \mathrm{diag}\big(\varphi(\lambda_j)\big) U^\top \mathbf y, \qquad
    \varphi_t(\lambda) = \frac{1 - e^{-\lambda t/s}}{\lambda}, \qquad
    \varphi_k(\lambda) = \frac{1 - (1 - \eta\lambda/s)^k}{\lambda},

for gradient flow for a time :math:`t` and :math:`k` steps of gradient descent with step :math:`\eta`. Eigenvalues
at most ``rcond`` times :math:`\lambda_{\max}` (default :math:`n\varepsilon`, the rounding level of a symmetric
eigensolver) are treated as exactly zero: their filter is 0, not its limit :math:`t/s`. Their eigenvectors span
the numerical null space of :math:`K`, on which every kernel section vanishes, so a nonzero filter there would
only amplify rounding (without bound as :math:`t \to \infty`); with the filter 0 the flow stays in the range of
:math:`K` and converges, as :math:`t \to \infty`, to the minimum-norm interpolant :math:`K(x, X) K^{+}\mathbf y`,
which ``t = inf`` returns exactly.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

#: Relative tolerance for the symmetry of a Gram matrix.
SYMMETRY_RTOL = 1e-8
#: Eigenvalues below ``-PSD_RTOL * lambda_max`` mean the Gram matrix is not positive semi-definite; anything above
#: is rounding (or the interpolation error of a tabulated kernel) and is clipped to 0.
PSD_RTOL = 1e-6


def symmetric_part(K: torch.Tensor, name: str) -> torch.Tensor:
    """:math:`(K + K^\\top)/2` (a new tensor), after checking that ``K`` is symmetric to rounding."""
    low, high = torch.aminmax(K)
    scale = max(-float(low), float(high))
    if scale == 0.0:
        raise ValueError(f"{name} is identically zero: the kernel cannot fit anything")
    skew = K - K.T  # one transposed pass serves the check and the repair
    low, high = torch.aminmax(skew)
    asym = max(-float(low), float(high))
    if asym > SYMMETRY_RTOL * scale:
        raise ValueError(f"{name} must be symmetric: max |K - K^T| = {asym:.3g} (relative {asym / scale:.3g})")
    return K.sub(skew, alpha=0.5)


def check_spectrum(lam: torch.Tensor, name: str) -> float:
    """:math:`\\lambda_{\\max}` of an ascending spectrum, after checking positive semi-definiteness."""
    lam_max, lam_min = float(lam[-1]), float(lam[0])
    if lam_max <= 0:
        raise ValueError(f"{name} has no positive eigenvalue (lambda_max = {lam_max:.3g}): it is not a positive "
                         "semi-definite kernel matrix")
    if lam_min < -PSD_RTOL * lam_max:
        raise ValueError(f"{name} is not positive semi-definite: lambda_min = {lam_min:.3g}, lambda_max = "
                         f"{lam_max:.3g}")
    return lam_max


def eigh(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric float64 matrix; ``K`` may be overwritten.

    On the CPU, LAPACK's divide and conquer ``dsyevd`` through SciPy (``benchmarks/regression.py`` measures it
    against ``torch.linalg.eigh`` in the same run: about 25 % faster at n = 2000 on one thread); elsewhere
    ``torch.linalg.eigh``.
    """
    if K.device.type != "cpu":
        return torch.linalg.eigh(K)
    lam, U = scipy.linalg.eigh(K.numpy(), driver="evd", overwrite_a=True, check_finite=False)
    return torch.from_numpy(lam), torch.from_numpy(U)


def flow_filter(lam: torch.Tensor, keep: torch.Tensor, times: torch.Tensor, scale: float) -> torch.Tensor:
    """:math:`\\varphi_t(\\lambda) = -\\mathrm{expm1}(-\\lambda t/s)/\\lambda` on the kept eigenvalues, 0 elsewhere.

    Shape ``(T, n)``; accurate for every :math:`\\lambda t/s \\ge 0`, and :math:`1/\\lambda` at :math:`t = \\infty`.
    """
    safe = torch.where(keep, lam, torch.ones_like(lam))
    z = (times / scale)[:, None] * safe[None, :]
    return torch.where(keep[None, :], -torch.expm1(-z) / safe[None, :], torch.zeros_like(z))


def gd_filter(lam: torch.Tensor, keep: torch.Tensor, steps: torch.Tensor, lr: float, scale: float) -> torch.Tensor:
    """:math:`\\varphi_k(\\lambda) = (1 - (1 - \\eta\\lambda/s)^k)/\\lambda` on the kept eigenvalues, 0 elsewhere.

    For :math:`0 \\le \\eta\\lambda/s < 1` the bracket is :math:`-\\mathrm{expm1}(k\\,\\mathrm{log1p}(-\\eta\\lambda/s))`,
    which keeps full relative accuracy for small eigenvalues. Shape ``(T, n)``.
    """
    safe = torch.where(keep, lam, torch.ones_like(lam))
    z = (lr / scale) * safe[None, :]
    k = steps[:, None]
    below = z < 1
    bracket = torch.where(below, -torch.expm1(k * torch.log1p(-torch.where(below, z, torch.zeros_like(z)))),
                          1.0 - torch.pow(1.0 - z, k))
    return torch.where(keep[None, :], bracket / safe[None, :], torch.zeros_like(z))


def default_rcond(n: int) -> float:
    """The relative eigenvalue threshold below which an eigenvalue is zero: :math:`n\\varepsilon`."""
    return n * float(np.finfo(np.float64).eps)
