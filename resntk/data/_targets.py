r"""Regression targets of known smoothness: finite sums of kernel sections, and harmonic targets on the circle.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping"), Definition `kreg-def-rkhs`, Proposition
`kreg-prop-parity` and Theorem `kreg-thm-minimax`; Chapter 7 ("Minimax optimality and the cost of overfitting") for
the rate experiments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import DTYPE, as_float64, as_output, as_points, check_choice, check_int, check_real, returns_torch
from ._sphere import sphere_points

KernelFn = Callable[[Any, Any], Any]


def _kernel_values(kernel: KernelFn, A: torch.Tensor, B: torch.Tensor, as_torch: bool) -> torch.Tensor:
    """``kernel(A, B)`` called with tensors or NumPy arrays, as float64 of shape ``(len(A), len(B))``."""
    out = kernel(A, B) if as_torch else kernel(A.cpu().numpy(), B.cpu().numpy())
    K = as_float64(out, "kernel(X1, X2)", A.device)
    if tuple(K.shape) != (A.shape[0], B.shape[0]):
        raise ValueError(f"kernel(X1, X2) must return shape {(A.shape[0], B.shape[0])}, got {tuple(K.shape)}")
    return K


@dataclass(frozen=True, eq=False)
class KernelSectionTarget:
    r"""A finite sum of kernel sections :math:`f^*(x) = \sum_{j=1}^J c_j K(x, z_j)`.

    Such a function lies in the RKHS :math:`\mathcal H_K` with
    :math:`\|f^*\|_{\mathcal H_K}^2 = c^\top K(Z, Z)\, c` (the reproducing property, Chapter 2, Definition
    `kreg-def-rkhs`): a target that satisfies the source condition of the minimax theorem by construction.

    Attributes
    ----------
    kernel
        The kernel ``kernel(X1, X2) -> (n1, n2)`` array or tensor; it is called with tensors when the points are
        tensors and with NumPy arrays otherwise.
    centers
        :math:`Z`, shape ``(J, d)``, float64 tensor.
    coefs
        :math:`c`, shape ``(J,)`` (or ``(J, k)`` for a vector-valued target), float64 tensor.
    tensor_centers
        Whether the centers were given as a tensor; :meth:`rkhs_norm` then calls the kernel with tensors.
    """

    kernel: KernelFn
    centers: torch.Tensor
    coefs: torch.Tensor
    tensor_centers: bool = field(default=True, repr=False)

    def __call__(self, X: Any) -> torch.Tensor | np.ndarray:
        """:math:`f^*(X) = K(X, Z)\\,c`, shape ``(n,)`` (or ``(n, k)``); torch for a tensor ``X``, NumPy otherwise."""
        P = as_points(X, "X", self.centers.device, n_features=self.centers.shape[1])
        torch_out = returns_torch(X)
        return as_output(_kernel_values(self.kernel, P, self.centers, torch_out) @ self.coefs, torch_out)

    def rkhs_norm(self) -> float:
        """:math:`\\|f^*\\|_{\\mathcal H_K} = \\sqrt{c^\\top K(Z, Z)\\,c}` (the trace over outputs if vector-valued)."""
        G = _kernel_values(self.kernel, self.centers, self.centers, self.tensor_centers)
        c = self.coefs.reshape(self.coefs.shape[0], -1)
        return float(torch.sqrt(torch.clamp(torch.trace(c.T @ (0.5 * (G + G.T)) @ c), min=0.0)))


def rkhs_target(kernel: KernelFn, centers: Any, coefs: Any) -> KernelSectionTarget:
    r"""The target :math:`f^* = \sum_j c_j K(\cdot, z_j)`, inside :math:`\mathcal H_K` by construction.

    Parameters
    ----------
    kernel
        Callable ``kernel(X1, X2)``.
    centers
        :math:`z_j`, shape ``(J, d)``.
    coefs
        :math:`c_j`, shape ``(J,)`` or ``(J, k)``.

    Returns
    -------
    KernelSectionTarget
        A callable ``f(X)`` with an :meth:`~KernelSectionTarget.rkhs_norm` method.
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be callable, got {type(kernel).__name__}")
    Z = as_points(centers, "centers")
    c = as_float64(coefs, "coefs", Z.device)
    if c.ndim not in (1, 2) or c.shape[0] != Z.shape[0]:
        raise ValueError(f"coefs must have shape ({Z.shape[0]},) or ({Z.shape[0]}, k), got {tuple(c.shape)}")
    return KernelSectionTarget(kernel=kernel, centers=Z, coefs=c, tensor_centers=returns_torch(centers))


def random_rkhs_target(kernel: KernelFn, dim: int, n_centers: int = 5, seed: int = 0) -> KernelSectionTarget:
    r"""A random target inside the RKHS: :math:`J` centers uniform on :math:`\mathbb S^{d-1}`, :math:`c_j \sim \mathcal N(0, 1)`.

    :math:`f^* = \sum_j c_j K(\cdot, z_j)`, the target of the book's kernel-regression demonstrations (Chapter 2,
    Chapter 6).

    Parameters
    ----------
    kernel
        Callable ``kernel(X1, X2)``.
    dim
        Ambient dimension :math:`d`.
    n_centers
        :math:`J`.
    seed
        Seed of the centers and coefficients (:func:`numpy.random.default_rng`).
    """
    dim = check_int(dim, "dim", minimum=2)
    n_centers = check_int(n_centers, "n_centers", minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    Z = sphere_points(rng, n_centers, dim)
    return rkhs_target(kernel, torch.as_tensor(Z), torch.as_tensor(rng.standard_normal(n_centers)))


@dataclass(frozen=True, eq=False)
class HarmonicTarget:
    r"""A trigonometric polynomial :math:`f^*(\theta) = \sum_k a_k \cos k\theta` on :math:`\mathbb S^1`.

    Attributes
    ----------
    degrees
        The frequencies :math:`k`, shape ``(K,)``, int64 tensor.
    coefficients
        The amplitudes :math:`a_k`, shape ``(K,)``, float64 tensor.
    """

    degrees: torch.Tensor
    coefficients: torch.Tensor

    def __call__(self, X: Any) -> torch.Tensor | np.ndarray:
        """:math:`f^*` at angles (1-D input) or at points of the circle (``(n, 2)``); follows ``X``."""
        A = as_float64(X, "X")
        if A.ndim == 1:
            theta = A
        elif A.ndim == 2 and A.shape[1] == 2:
            theta = torch.atan2(A[:, 1], A[:, 0])
        else:
            raise ValueError(f"X must be angles of shape (n,) or points of shape (n, 2), got {tuple(A.shape)}")
        return as_output(torch.cos(torch.outer(theta, self.degrees.to(DTYPE))) @ self.coefficients, returns_torch(X))

    @property
    def l2_norm_sq(self) -> float:
        """:math:`\\|f^*\\|^2_{L^2}` for the uniform probability measure: :math:`a_0^2 + \\sum_{k \\ge 1} a_k^2/2`."""
        w = torch.where(self.degrees == 0, 1.0, 0.5)
        return float((w * self.coefficients**2).sum())

    def rkhs_norm_sq(self, mu: Any) -> float:
        r""":math:`\|f^*\|^2_{\mathcal H}` for a dot-product kernel with Fourier coefficients ``mu``.

        For :math:`\kappa(\cos\delta) = \mu_0 + \sum_{k\ge1} 2\mu_k\cos k\delta` (so :math:`\mu_k` is the Mercer
        eigenvalue of the degree-:math:`k` harmonics for the uniform probability measure),

        .. math:: \|f^*\|^2_{\mathcal H} = \frac{a_0^2}{\mu_0} + \sum_{k\ge1} \frac{a_k^2}{2\mu_k},

        and ``inf`` if some :math:`a_k \ne 0` has :math:`\mu_k \le 0` (the function is outside the RKHS, e.g. odd
        harmonics of degree :math:`\ge 3` for the two-layer NTK, Chapter 2, Proposition `kreg-prop-parity`).

        Parameters
        ----------
        mu
            Array indexed by the degree, of length greater than ``max(degrees)``.
        """
        m = as_float64(mu, "mu")
        top = int(self.degrees.max())
        if m.ndim != 1 or m.numel() <= top:
            raise ValueError(f"mu must be 1-D with length > max degree {top}, got {tuple(m.shape)}")
        mk = m[self.degrees]
        active = self.coefficients != 0
        if bool((mk[active] <= 0).any()):
            return float("inf")
        w = torch.where(self.degrees == 0, 1.0, 0.5)
        return float((w[active] * self.coefficients[active] ** 2 / mk[active]).sum())


def harmonic_target_circle(decay: float = 1.6, max_degree: int = 398, parity: str = "even", *,
                           min_degree: int | None = None, amplitude: float = 1.0) -> HarmonicTarget:
    r"""A target with prescribed harmonic decay on :math:`\mathbb S^1` (Chapter 7's rate experiment).

    .. math:: f^*(\theta) = A \sum_{k \in \mathcal K} k^{-s} \cos k\theta ,

    with the defaults :math:`s = 1.6` and :math:`\mathcal K = \{2, 4, \dots, 398\}`. Against the two-layer NTK, whose
    Fourier coefficients decay like :math:`\mu_k \asymp k^{-2}`, the RKHS norm
    :math:`\sum_k k^{-3.2}/\mu_k \approx \sum_k k^{-1.2}` converges: the target lies just inside the RKHS, which is
    what makes the fitted rate approach the minimax exponent :math:`-2/3` (:math:`s = 1.5` would be borderline
    divergent). Only even degrees (and degree 1) lie in the RKHS of the infinite-depth limit (Chapter 2,
    Proposition `kreg-prop-parity`).

    Parameters
    ----------
    decay
        The exponent :math:`s > 0`.
    max_degree
        Largest frequency, at least ``min_degree``.
    parity
        ``"even"``, ``"odd"`` or ``"all"`` frequencies.
    min_degree
        Smallest frequency; defaults to 2 for ``"even"`` and 1 otherwise.
    amplitude
        Overall factor :math:`A`.

    Returns
    -------
    HarmonicTarget
        Callable on angles ``(n,)`` or points ``(n, 2)``.
    """
    decay = check_real(decay, "decay", minimum=0.0, strict=True)
    amplitude = check_real(amplitude, "amplitude")
    parity = check_choice(parity, "parity", ("even", "odd", "all"))
    lo = (2 if parity == "even" else 1) if min_degree is None else check_int(min_degree, "min_degree", minimum=1)
    hi = check_int(max_degree, "max_degree", minimum=lo)
    k = torch.arange(lo, hi + 1)
    if parity != "all":
        k = k[k % 2 == (0 if parity == "even" else 1)]
    if k.numel() == 0:
        raise ValueError(f"no {parity} degree between min_degree={lo} and max_degree={hi}")
    return HarmonicTarget(degrees=k, coefficients=amplitude * k.to(DTYPE) ** (-decay))
