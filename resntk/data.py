"""Data for the book: points on the sphere, targets of known smoothness, and real data sets (note §2.5, §5.8, §6).

* :func:`sphere_uniform` — i.i.d. uniform points on :math:`\\mathbb S^{d-1}` (the data model of note §2.5).
* :func:`rkhs_target`, :func:`random_rkhs_target` — finite sums of kernel sections
  :math:`f^* = \\sum_j c_j K(\\cdot, z_j)`, automatically inside the kernel's RKHS (note §3.11, "safe targets";
  the kernel-regression demo of §5.8).
* :func:`harmonic_target_circle` — :math:`f^*(\\theta) = \\sum_{k} k^{-s}\\cos k\\theta` over even degrees
  :math:`2 \\le k \\le 398` with :math:`s = 1.6`: the note's recipe (§5.8 "Rate on :math:`\\mathbb S^1`", pitfall 8)
  whose coefficients lie just inside the RKHS of the two-layer NTK, so that early stopping shows the minimax
  exponent rather than the faster rate of a smooth target.
* :func:`load_digits_sphere`, :func:`load_mnist1d` — the digits shipped with scikit-learn and MNIST-1D generated
  locally by the ``mnist1d`` package: nothing is downloaded.
* :func:`load_mnist`, :func:`load_cifar100` — the real data sets. They download only when asked
  (``download=True``), verify the official SHA-256 digest of the exact bytes before any parsing (a CIFAR pickle is
  never unpickled unverified, and even then only through an unpickler restricted to NumPy arrays), write
  atomically (temporary file, then :func:`os.replace`) and fail with a clear message offline.

Real inputs are *projected onto the sphere*: the training mean is subtracted from every input (training and test),
then every input is divided by its Euclidean norm (:func:`project_to_sphere`). Splits are fixed by a seed.

Fidelity: the sampling model and the targets are the note's [reconstructed]/[derived] experimental setting; the
data-set choices follow the papers' experiments in spirit (MNIST, CIFAR-100) and are the book's own where the note
says so (digits, MNIST-1D).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import numbers
import os
import pickle
import random
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

__all__ = [
    "sphere_uniform",
    "circle_points",
    "circle_angles",
    "project_to_sphere",
    "one_hot",
    "KernelSectionTarget",
    "rkhs_target",
    "random_rkhs_target",
    "HarmonicTarget",
    "harmonic_target_circle",
    "Dataset",
    "load_digits_sphere",
    "load_mnist1d",
    "load_mnist",
    "load_cifar100",
    "parse_idx",
    "ChecksumError",
    "MNIST_FILES",
    "CIFAR100_FILES",
]

KernelFn = Callable[[Any, Any], Any]


# --------------------------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------------------------

def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _as_float_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object or array.dtype == bool or not np.issubdtype(array.dtype, np.number) \
            or np.iscomplexobj(array):
        raise TypeError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return array


def _kernel_values(kernel: KernelFn, X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    out = kernel(X1, X2)
    out = _as_float_array(out, "kernel(X1, X2)")
    if out.shape != (X1.shape[0], X2.shape[0]):
        raise ValueError(f"kernel(X1, X2) must return shape {(X1.shape[0], X2.shape[0])}, got {out.shape}")
    return out


# --------------------------------------------------------------------------------------------------------------
# points on the sphere
# --------------------------------------------------------------------------------------------------------------

def _sphere(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    while True:
        Z = rng.standard_normal((n, dim))
        norms = np.linalg.norm(Z, axis=1, keepdims=True)
        if (norms > 0).all():  # a zero Gaussian vector has probability 0; redraw rather than divide by 0
            return Z / norms


def sphere_uniform(n: int, dim: int, seed: int = 0, *, as_tensor: bool = False,
                   device: torch.device | str | None = None) -> np.ndarray | torch.Tensor:
    """``n`` i.i.d. points uniform on the unit sphere :math:`\\mathbb S^{d-1} \\subset \\mathbb R^d` (note §2.5).

    A standard Gaussian vector divided by its norm is uniform on the sphere (rotation invariance):

    .. math:: x = z / \\|z\\|, \\qquad z \\sim \\mathcal N(0, I_d).

    Parameters
    ----------
    n
        Number of points, at least 1.
    dim
        Ambient dimension :math:`d \\ge 2` (``dim=2`` is the circle :math:`\\mathbb S^1`).
    seed
        Seed of :func:`numpy.random.default_rng`; the points do not depend on ``as_tensor`` or ``device``.
    as_tensor
        Return a float64 torch tensor (on ``device``) instead of a NumPy array.
    device
        Device of the tensor when ``as_tensor`` is true.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape ``(n, dim)``, float64, rows of unit norm.
    """
    n = _check_int(n, "n", 1)
    dim = _check_int(dim, "dim", 2)
    X = _sphere(np.random.default_rng(seed), n, dim)
    if as_tensor:
        return torch.as_tensor(X, dtype=torch.float64, device=device)
    return X


def circle_points(theta: Any) -> np.ndarray:
    """Points :math:`(\\cos\\theta, \\sin\\theta)` on :math:`\\mathbb S^1`, shape ``(n, 2)``."""
    th = _as_float_array(theta, "theta")
    if th.ndim != 1:
        raise ValueError(f"theta must be 1-D, got shape {th.shape}")
    return np.stack([np.cos(th), np.sin(th)], axis=1)


def circle_angles(X: Any) -> np.ndarray:
    """Angles :math:`\\theta = \\operatorname{atan2}(x_2, x_1) \\in (-\\pi, \\pi]` of points in the plane."""
    P = _as_float_array(X, "X")
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {P.shape}")
    return np.arctan2(P[:, 1], P[:, 0])


def project_to_sphere(X_train: Any, X_test: Any | None = None, *, center: bool = True
                      ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Center by the training mean, then scale every row to unit norm.

    .. math:: x \\mapsto \\frac{x - \\bar x_{\\rm train}}{\\|x - \\bar x_{\\rm train}\\|} .

    The mean comes from the training rows only, so no test information leaks into the training inputs.

    Parameters
    ----------
    X_train
        Training inputs, shape ``(n, p)``.
    X_test
        Optional test inputs, shape ``(m, p)``, transformed with the training mean.
    center
        Subtract the training mean first (default ``True``).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        The projected training inputs, and the projected test inputs if given.
    """
    A = _as_float_array(X_train, "X_train")
    if A.ndim != 2 or A.shape[0] == 0:
        raise ValueError(f"X_train must have shape (n, p) with n >= 1, got {A.shape}")
    mean = A.mean(axis=0) if center else np.zeros(A.shape[1])

    def _project(M: np.ndarray, name: str) -> np.ndarray:
        C = M - mean
        norms = np.linalg.norm(C, axis=1, keepdims=True)
        if (norms == 0).any():
            bad = int(np.flatnonzero(norms[:, 0] == 0)[0])
            raise ValueError(f"{name} row {bad} is zero after centering: it has no direction on the sphere")
        return C / norms

    out_train = _project(A, "X_train")
    if X_test is None:
        return out_train
    B = _as_float_array(X_test, "X_test")
    if B.ndim != 2 or B.shape[1] != A.shape[1]:
        raise ValueError(f"X_test must have shape (m, {A.shape[1]}), got {B.shape}")
    return out_train, _project(B, "X_test")


def one_hot(labels: Any, n_classes: int | None = None, *, centered: bool = False) -> np.ndarray:
    """One-vs-rest regression targets :math:`Y_{ic} = \\mathbb 1\\{y_i = c\\}` (minus :math:`1/C` if centered).

    Kernel regression on ``Y`` (multi-output) followed by ``argmax`` over the columns is the one-vs-rest
    classifier used in the book's real-data chapter. Centering makes every row sum to zero, so the zero function
    :math:`f_0 = 0` is the uninformative prediction.

    Parameters
    ----------
    labels
        Integer class labels in ``[0, n_classes)``, shape ``(n,)``.
    n_classes
        Number of classes :math:`C`; defaults to ``max(labels) + 1``.
    centered
        Subtract :math:`1/C` from every entry.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, C)``, float64.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.size and not (np.issubdtype(y.dtype, np.integer) or
                       (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"labels must be non-negative, got min {y.min()}")
    C = int(y.max()) + 1 if n_classes is None and y.size else n_classes
    if C is None:
        raise ValueError("n_classes must be given for empty labels")
    C = _check_int(C, "n_classes", 1)
    if y.size and y.max() >= C:
        raise ValueError(f"labels must be < n_classes = {C}, got max {y.max()}")
    Y = np.zeros((y.size, C))
    Y[np.arange(y.size), y] = 1.0
    if centered:
        Y -= 1.0 / C
    return Y


# --------------------------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class KernelSectionTarget:
    """A finite sum of kernel sections :math:`f^*(x) = \\sum_{j=1}^J c_j K(x, z_j)`.

    Such a function lies in the RKHS :math:`\\mathcal H_K` with
    :math:`\\|f^*\\|_{\\mathcal H_K}^2 = c^\\top K(Z, Z)\\, c` (the reproducing property), which makes it the note's
    "safe target" for the source condition of Result B (§3.11, pitfall 6).

    Attributes
    ----------
    kernel
        The kernel ``kernel(X1, X2) -> (n1, n2)`` array or tensor.
    centers
        :math:`Z`, shape ``(J, d)``.
    coefs
        :math:`c`, shape ``(J,)`` (or ``(J, k)`` for a vector-valued target).
    """

    kernel: KernelFn
    centers: np.ndarray
    coefs: np.ndarray

    def __call__(self, X: Any) -> np.ndarray:
        """:math:`f^*(X) = K(X, Z)\\,c`, shape ``(n,)`` (or ``(n, k)``)."""
        P = _as_float_array(X, "X")
        if P.ndim != 2 or P.shape[1] != self.centers.shape[1]:
            raise ValueError(f"X must have shape (n, {self.centers.shape[1]}), got {P.shape}")
        return _kernel_values(self.kernel, P, self.centers) @ self.coefs

    def rkhs_norm(self) -> float:
        """:math:`\\|f^*\\|_{\\mathcal H_K} = \\sqrt{c^\\top K(Z, Z)\\,c}` (the trace over outputs if vector-valued)."""
        G = _kernel_values(self.kernel, self.centers, self.centers)
        G = 0.5 * (G + G.T)
        c = self.coefs.reshape(self.coefs.shape[0], -1)
        return float(np.sqrt(max(float(np.trace(c.T @ G @ c)), 0.0)))


def rkhs_target(kernel: KernelFn, centers: Any, coefs: Any) -> KernelSectionTarget:
    """The target :math:`f^* = \\sum_j c_j K(\\cdot, z_j)`, inside :math:`\\mathcal H_K` by construction.

    Parameters
    ----------
    kernel
        Callable ``kernel(X1, X2)``; it is called with float64 NumPy arrays.
    centers
        :math:`z_j`, shape ``(J, d)``.
    coefs
        :math:`c_j`, shape ``(J,)`` or ``(J, k)``.

    Returns
    -------
    KernelSectionTarget
        A callable ``f(X) -> numpy.ndarray`` with an :meth:`~KernelSectionTarget.rkhs_norm` method.
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be callable, got {type(kernel).__name__}")
    Z = _as_float_array(centers, "centers")
    c = _as_float_array(coefs, "coefs")
    if Z.ndim != 2 or Z.shape[0] == 0:
        raise ValueError(f"centers must have shape (J, d) with J >= 1, got {Z.shape}")
    if c.ndim not in (1, 2) or c.shape[0] != Z.shape[0]:
        raise ValueError(f"coefs must have shape ({Z.shape[0]},) or ({Z.shape[0]}, k), got {c.shape}")
    return KernelSectionTarget(kernel=kernel, centers=Z, coefs=c)


def random_rkhs_target(kernel: KernelFn, dim: int, n_centers: int = 5, seed: int = 0) -> KernelSectionTarget:
    """The kernel-regression demo's target (note §5.8): :math:`J` centers uniform on :math:`\\mathbb S^{d-1}`,
    :math:`c_j \\sim \\mathcal N(0, 1)`, :math:`f^* = \\sum_j c_j K(\\cdot, z_j)`.

    Parameters
    ----------
    kernel
        Callable ``kernel(X1, X2)``.
    dim
        Ambient dimension :math:`d`.
    n_centers
        :math:`J` (the demo uses 5).
    seed
        Seed of the centers and coefficients.
    """
    dim = _check_int(dim, "dim", 2)
    n_centers = _check_int(n_centers, "n_centers", 1)
    rng = np.random.default_rng(seed)
    Z = _sphere(rng, n_centers, dim)
    c = rng.standard_normal(n_centers)
    return rkhs_target(kernel, Z, c)


@dataclass(frozen=True, eq=False)
class HarmonicTarget:
    """A trigonometric polynomial :math:`f^*(\\theta) = \\sum_k a_k \\cos k\\theta` on :math:`\\mathbb S^1`.

    Attributes
    ----------
    degrees
        The frequencies :math:`k`, shape ``(K,)``.
    coefficients
        The amplitudes :math:`a_k`, shape ``(K,)``.
    """

    degrees: np.ndarray
    coefficients: np.ndarray

    def __call__(self, X: Any) -> np.ndarray:
        """:math:`f^*` at angles (1-D input) or at points of the circle (input of shape ``(n, 2)``)."""
        A = _as_float_array(X, "X")
        if A.ndim == 1:
            theta = A
        elif A.ndim == 2 and A.shape[1] == 2:
            theta = np.arctan2(A[:, 1], A[:, 0])
        else:
            raise ValueError(f"X must be angles of shape (n,) or points of shape (n, 2), got {A.shape}")
        return np.cos(np.outer(theta, self.degrees)) @ self.coefficients

    @property
    def l2_norm_sq(self) -> float:
        """:math:`\\|f^*\\|^2_{L^2}` for the uniform probability measure: :math:`a_0^2 + \\sum_{k \\ge 1} a_k^2/2`."""
        w = np.where(self.degrees == 0, 1.0, 0.5)
        return float(np.sum(w * self.coefficients ** 2))

    def rkhs_norm_sq(self, mu: Any) -> float:
        """:math:`\\|f^*\\|^2_{\\mathcal H}` for a dot-product kernel with Fourier coefficients ``mu``.

        For :math:`\\kappa(\\cos\\delta) = \\mu_0 + \\sum_{k\\ge1} 2\\mu_k\\cos k\\delta` (so :math:`\\mu_k` is the
        Mercer eigenvalue of the degree-:math:`k` harmonics for the uniform probability measure, note §3.11),

        .. math:: \\|f^*\\|^2_{\\mathcal H} = \\frac{a_0^2}{\\mu_0} + \\sum_{k\\ge1} \\frac{a_k^2}{2\\mu_k},

        and ``inf`` if some :math:`a_k \\ne 0` has :math:`\\mu_k \\le 0` (the function is outside the RKHS, e.g. odd
        harmonics of degree :math:`\\ge 3` for the two-layer NTK, note pitfall 6).

        Parameters
        ----------
        mu
            Array indexed by the degree, of length greater than ``max(degrees)``.
        """
        m = _as_float_array(mu, "mu")
        if m.ndim != 1 or m.size <= int(self.degrees.max()):
            raise ValueError(f"mu must be 1-D with length > max degree {int(self.degrees.max())}, got {m.shape}")
        mk = m[self.degrees]
        active = self.coefficients != 0
        if (mk[active] <= 0).any():
            return float("inf")
        w = np.where(self.degrees == 0, 1.0, 0.5)
        return float(np.sum(w[active] * self.coefficients[active] ** 2 / mk[active]))


def harmonic_target_circle(decay: float = 1.6, max_degree: int = 398, parity: str = "even", *,
                           min_degree: int | None = None, amplitude: float = 1.0) -> HarmonicTarget:
    """The note's target with prescribed harmonic decay on :math:`\\mathbb S^1` (§5.8 "Rate on S¹", pitfall 8).

    .. math:: f^*(\\theta) = A \\sum_{k \\in \\mathcal K} k^{-s} \\cos k\\theta ,

    with the defaults :math:`s = 1.6` and :math:`\\mathcal K = \\{2, 4, \\dots, 398\\}`. Against the two-layer NTK,
    whose Fourier coefficients decay like :math:`\\mu_k \\asymp k^{-2}`, the RKHS norm
    :math:`\\sum_k k^{-3.2}/\\mu_k \\approx \\sum_k k^{-1.2}` converges: the target lies just inside the RKHS, which
    is what makes the fitted rate approach the minimax exponent :math:`-2/3` (:math:`s = 1.5` would be borderline
    divergent). Only even degrees (and degree 1) lie in the RKHS of the infinite-depth limit (pitfall 6).

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
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not (np.isfinite(decay) and decay > 0):
        raise ValueError(f"decay must be a positive finite number, got {decay!r}")
    if isinstance(amplitude, bool) or not isinstance(amplitude, numbers.Real) or not np.isfinite(amplitude):
        raise ValueError(f"amplitude must be a finite number, got {amplitude!r}")
    if parity not in ("even", "odd", "all"):
        raise ValueError(f"parity must be 'even', 'odd' or 'all', got {parity!r}")
    lo = (2 if parity == "even" else 1) if min_degree is None else _check_int(min_degree, "min_degree", 1)
    hi = _check_int(max_degree, "max_degree", lo)
    k = np.arange(lo, hi + 1)
    if parity == "even":
        k = k[k % 2 == 0]
    elif parity == "odd":
        k = k[k % 2 == 1]
    if k.size == 0:
        raise ValueError(f"no {parity} degree between min_degree={lo} and max_degree={hi}")
    return HarmonicTarget(degrees=k, coefficients=float(amplitude) * k.astype(np.float64) ** (-float(decay)))


# --------------------------------------------------------------------------------------------------------------
# data sets
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set with a fixed train/test split.

    Attributes
    ----------
    X_train, X_test
        Inputs, float64, shapes ``(n, p)`` and ``(m, p)``; on the unit sphere when the loader projected them.
    y_train, y_test
        Integer labels in ``[0, n_classes)``.
    n_classes
        Number of classes.
    name
        A short description of the source and the preprocessing.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str

    def one_hot(self, centered: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """One-vs-rest targets ``(Y_train, Y_test)``, see :func:`one_hot`."""
        return (one_hot(self.y_train, self.n_classes, centered=centered),
                one_hot(self.y_test, self.n_classes, centered=centered))


def _check_test_size(test_size: Any) -> float | int:
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a fraction in (0, 1) or a positive int, got {type(test_size).__name__}")
    if isinstance(test_size, numbers.Integral):
        return _check_int(test_size, "test_size", 1)
    if not 0 < float(test_size) < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a positive int, got {test_size!r}")
    return float(test_size)


def load_digits_sphere(seed: int = 0, test_size: float | int = 0.25, *,
                       classes: Sequence[int] | None = None) -> Dataset:
    """scikit-learn's 8×8 digits (1797 images, 64 features), projected onto :math:`\\mathbb S^{63}`.

    The data ship with scikit-learn: nothing is downloaded. The split is stratified and fixed by ``seed``; the
    inputs are centered by the training mean and scaled to unit norm (:func:`project_to_sphere`).

    Parameters
    ----------
    seed
        Seed of the stratified split.
    test_size
        Fraction (or number) of test images.
    classes
        Keep only these digits (e.g. ``(3, 8)`` for a binary problem); labels are renumbered ``0..len-1`` in the
        given order.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_size = _check_test_size(test_size)
    digits = load_digits()
    X, y = digits.data.astype(np.float64), digits.target.astype(np.int64)
    name = "digits (scikit-learn), centered and projected onto the sphere"
    if classes is not None:
        keep = [int(c) for c in classes]
        if len(keep) < 2 or len(set(keep)) != len(keep) or not all(0 <= c <= 9 for c in keep):
            raise ValueError(f"classes must hold at least two distinct digits in 0..9, got {classes!r}")
        mask = np.isin(y, keep)
        relabel = np.full(10, -1, dtype=np.int64)
        relabel[keep] = np.arange(len(keep))
        X, y = X[mask], relabel[y[mask]]
        name += f", classes {tuple(keep)}"
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    X_tr, X_te = project_to_sphere(X_tr, X_te)
    n_classes = int(y.max()) + 1
    return Dataset(X_train=X_tr, y_train=y_tr, X_test=X_te, y_test=y_te, n_classes=n_classes, name=name)


def load_mnist1d(num_samples: int = 5000, *, seed: int = 42, train_split: float = 0.8) -> Dataset:
    """MNIST-1D (Greydanus 2020) generated locally by the ``mnist1d`` package, projected onto :math:`\\mathbb S^{39}`.

    Calls ``mnist1d.data.make_dataset`` with the package's default arguments (``seed=42``, 5000 sequences of length
    40, the first 80 % for training), which reproduce the published data set without downloading it (the
    package's ``get_dataset`` would fetch a pickle; it is not used). The package seeds NumPy's and Python's global
    random generators; their states are restored afterwards.

    Parameters
    ----------
    num_samples
        Total number of sequences (a multiple of 10 keeps the classes balanced), at least 20.
    seed
        The generator's seed.
    train_split
        Fraction of the sequences used for training (the package splits in order).
    """
    from mnist1d.data import get_dataset_args, make_dataset

    num_samples = _check_int(num_samples, "num_samples", 20)
    if isinstance(train_split, bool) or not isinstance(train_split, numbers.Real) or not 0 < train_split < 1:
        raise ValueError(f"train_split must be in (0, 1), got {train_split!r}")
    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = int(seed)
    args.train_split = float(train_split)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    if len(data["y"]) == 0 or len(data["y_test"]) == 0:
        raise ValueError(f"train_split={train_split} leaves an empty train or test set for {num_samples} samples")
    X_tr, X_te = project_to_sphere(data["x"], data["x_test"])
    return Dataset(X_train=X_tr, y_train=np.asarray(data["y"], dtype=np.int64), X_test=X_te,
                   y_test=np.asarray(data["y_test"], dtype=np.int64), n_classes=10,
                   name="MNIST-1D (generated locally), centered and projected onto the sphere")


# --------------------------------------------------------------------------------------------------------------
# verified downloads
# --------------------------------------------------------------------------------------------------------------

class ChecksumError(ValueError):
    """A file's SHA-256 digest differs from the official one (corrupted, truncated or a different file)."""


#: The official MNIST files and their SHA-256 digests (the same digests are used by torchvision, TensorFlow and
#: others for these files; sizes 9,912,422 / 28,881 / 1,648,877 / 4,542 bytes).
MNIST_FILES: dict[str, str | None] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: The official CIFAR-100 archive (python version, 169,001,437 bytes) and its SHA-256 digest (as used by Keras and
#: torchvision).
CIFAR100_FILES: dict[str, str | None] = {
    "cifar-100-python.tar.gz": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
}
CIFAR100_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)

_CHUNK = 1 << 20


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected_digest(name: str, checksums: dict[str, str | None]) -> str:
    digest = checksums.get(name)
    if digest is None:
        raise ValueError(f"no SHA-256 digest is known for {name!r}; refusing to read it unverified. Pass "
                         f"checksums={{{name!r}: '<sha256 hex digest>'}} after verifying the file yourself.")
    digest = str(digest).lower()
    if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
        raise ValueError(f"the SHA-256 digest for {name!r} must be 64 hex characters, got {digest!r}")
    return digest


def _download(name: str, digest: str, mirrors: Sequence[str], root: Path, timeout: float) -> bytes:
    """Download ``name`` from the first mirror that serves the right bytes; write it atomically under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    failures = []
    for base in mirrors:
        url = base + name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=root)
        tmp = Path(tmp_name)
        try:
            hasher = hashlib.sha256()
            chunks = []
            with os.fdopen(fd, "wb") as handle, urllib.request.urlopen(url, timeout=timeout) as response:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    hasher.update(chunk)
                    chunks.append(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            got = hasher.hexdigest()
            if got != digest:
                failures.append(f"{url}: SHA-256 {got} does not match the expected {digest}")
                continue
            os.replace(tmp, target)
            return b"".join(chunks)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            if tmp.exists():
                tmp.unlink()
    raise ConnectionError(
        f"could not download {name} ({'; '.join(failures)}). If this machine is offline, download the file "
        f"elsewhere from {mirrors[0] + name if mirrors else 'its official source'} and place it at {target}.")


def _fetch_verified(root: Any, name: str, checksums: dict[str, str | None], mirrors: Sequence[str],
                    download: bool, timeout: float) -> bytes:
    """The bytes of ``root/name``, verified against the SHA-256 digest before anything else looks at them."""
    digest = _expected_digest(name, checksums)
    root = Path(os.fspath(root)).expanduser()
    path = root / name
    if path.is_file():
        data = path.read_bytes()
        got = _sha256(data)
        if got == digest:
            return data
        if not download:
            raise ChecksumError(
                f"{path} ({len(data)} bytes) has SHA-256 {got}, expected {digest}: the file is corrupted, "
                f"truncated or not the official one. Delete it and call again with download=True, or replace it "
                f"with the official file.")
    elif not download:
        source = mirrors[0] + name if mirrors else "its official source"
        raise FileNotFoundError(
            f"{path} not found. Call with download=True (needs internet), or download {source} yourself and "
            f"place it at {path}.")
    return _download(name, digest, mirrors, root, timeout)


def _check_download_args(download: Any, timeout: Any, checksums: Any, default: dict[str, str | None]
                         ) -> dict[str, str | None]:
    if not isinstance(download, bool):
        raise TypeError(f"download must be a bool, got {type(download).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    table = dict(default)
    if checksums is not None:
        if not isinstance(checksums, dict):
            raise TypeError(f"checksums must be a dict mapping file names to SHA-256 digests, got "
                            f"{type(checksums).__name__}")
        unknown = set(checksums) - set(default)
        if unknown:
            raise ValueError(f"checksums has unknown file names {sorted(unknown)}; expected some of {sorted(default)}")
        table.update(checksums)
    return table


# --------------------------------------------------------------------------------------------------------------
# MNIST (IDX)
# --------------------------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(data: bytes) -> np.ndarray:
    """Parse an (uncompressed) IDX file: a 4-byte magic ``0 0 type ndim``, ``ndim`` big-endian uint32 sizes, data.

    Raises
    ------
    ValueError
        On a wrong magic number, an unknown type code, or a payload whose length does not match the header
        (truncated or padded file).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4:
        raise ValueError(f"IDX data too short for a header ({len(data)} bytes): truncated file")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _IDX_DTYPES:
        raise ValueError(f"not an IDX file: magic bytes {data[:4].hex()}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"IDX header announces {ndim} dimensions but the data ends at {len(data)} bytes")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"IDX payload has {len(data) - header} bytes but the header {dims} needs {expected}: "
                         f"truncated or corrupted file")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _read_idx_gz(data: bytes, name: str) -> np.ndarray:
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise ValueError(f"{name} is not a valid gzip file: {exc}") from exc
    return parse_idx(raw)


def _images_to_inputs(images_train: np.ndarray, images_test: np.ndarray, sphere: bool
                      ) -> tuple[np.ndarray, np.ndarray]:
    A = images_train.reshape(images_train.shape[0], -1).astype(np.float64) / 255.0
    B = images_test.reshape(images_test.shape[0], -1).astype(np.float64) / 255.0
    if sphere:
        return project_to_sphere(A, B)
    return A, B


def _check_subset(value: Any, name: str) -> int | None:
    return None if value is None else _check_int(value, name, 1)


def load_mnist(root: str | os.PathLike[str], download: bool = False, *, sphere: bool = True,
               n_train: int | None = None, n_test: int | None = None,
               checksums: dict[str, str | None] | None = None, timeout: float = 60.0) -> Dataset:
    """Real MNIST from the four official IDX files, verified by SHA-256 (optional download).

    Looks for ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` in ``root``. Each file is read into memory and its SHA-256 digest compared with
    :data:`MNIST_FILES` before it is decompressed or parsed. With ``download=True`` a missing or corrupted file is
    fetched (mirrors in ``MNIST_MIRRORS``) into a temporary file in ``root``, verified, and renamed into place.

    Parameters
    ----------
    root
        Directory of the files.
    download
        Allow downloading (default ``False``: never touches the network).
    sphere
        Center by the training mean and project every image onto the unit sphere :math:`\\mathbb S^{783}`;
        otherwise pixel values scaled to ``[0, 1]``.
    n_train, n_test
        Keep only the first ``n_train`` / ``n_test`` images of the official splits (the projection uses the kept
        training images).
    checksums
        Override digests of the table (e.g. for tests), ``{file name: sha256 hex}``.
    timeout
        Seconds before a download attempt gives up.

    Raises
    ------
    FileNotFoundError
        A file is missing and ``download`` is false.
    ChecksumError
        A file's digest is wrong and ``download`` is false.
    ConnectionError
        A download was needed and failed (e.g. offline); the message says where to put the file.
    ValueError
        Unknown digest, or a verified file that does not parse as the expected IDX arrays.
    """
    table = _check_download_args(download, timeout, checksums, MNIST_FILES)
    n_train, n_test = _check_subset(n_train, "n_train"), _check_subset(n_test, "n_test")
    if not isinstance(sphere, bool):
        raise TypeError(f"sphere must be a bool, got {type(sphere).__name__}")
    arrays = {}
    for name in MNIST_FILES:  # verify all four before parsing any
        arrays[name] = _fetch_verified(root, name, table, MNIST_MIRRORS, download, float(timeout))
    parsed = {name: _read_idx_gz(data, name) for name, data in arrays.items()}
    Xtr, ytr = parsed["train-images-idx3-ubyte.gz"], parsed["train-labels-idx1-ubyte.gz"]
    Xte, yte = parsed["t10k-images-idx3-ubyte.gz"], parsed["t10k-labels-idx1-ubyte.gz"]
    for images, labels, split in ((Xtr, ytr, "train"), (Xte, yte, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"MNIST {split} files have inconsistent shapes: images {images.shape}, "
                             f"labels {labels.shape}")
        if labels.size and labels.max() > 9:
            raise ValueError(f"MNIST {split} labels must be digits 0..9, got max {labels.max()}")
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    Xte, yte = Xte[:n_test], yte[:n_test]
    A, B = _images_to_inputs(Xtr, Xte, sphere)
    name = "MNIST" + (", centered and projected onto the sphere" if sphere else ", pixels in [0, 1]")
    return Dataset(X_train=A, y_train=ytr.astype(np.int64), X_test=B, y_test=yte.astype(np.int64),
                   n_classes=10, name=name)


# --------------------------------------------------------------------------------------------------------------
# CIFAR-100 (python pickles in a tar.gz)
# --------------------------------------------------------------------------------------------------------------

class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays, lists, dicts, numbers and strings, and nothing else.

    The CIFAR pickles are only opened after the archive's SHA-256 digest has been verified; this restriction is a
    second line of defence: any other global (a function, a class) is refused.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle the global {module}.{name}")
        if module == "numpy.core.multiarray" and hasattr(np, "_core"):
            module = "numpy._core.multiarray"  # NumPy 2 moved the module; avoid its deprecation shim
        return super().find_class(module, name)


def _unpickle_arrays(data: bytes) -> Any:
    """Unpickle *verified* bytes with :class:`_ArrayUnpickler` (Python 2 strings decoded as bytes)."""
    return _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()


def _cifar_batch(archive: tarfile.TarFile, member: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        handle = archive.extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise ValueError(f"the CIFAR-100 archive has no member {member!r}")
    try:
        batch = _unpickle_arrays(handle.read())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read {member!r} from the CIFAR-100 archive: {exc}") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{member!r} must hold a dict, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise ValueError(f"{member!r} lacks the keys 'data' and {label_key!r}")
    X = np.asarray(batch["data"])
    y = np.asarray(batch[label_key], dtype=np.int64)
    if X.ndim != 2 or X.shape[1] != 3072 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{member!r} has data of shape {X.shape} and {y.shape[0]} labels; expected (N, 3072)")
    return X.astype(np.uint8), y


def load_cifar100(root: str | os.PathLike[str], download: bool = False, *, label_mode: str = "fine",
                  sphere: bool = True, n_train: int | None = None, n_test: int | None = None,
                  checksums: dict[str, str | None] | None = None, timeout: float = 120.0) -> Dataset:
    """Real CIFAR-100 from the official ``cifar-100-python.tar.gz``, verified by SHA-256 (optional download).

    The archive is read into memory and its SHA-256 digest compared with :data:`CIFAR100_FILES` *before* the tar
    is opened; the ``train`` and ``test`` pickles are then read from those verified bytes with an unpickler that
    only rebuilds NumPy arrays (nothing is extracted to disk). With ``download=True`` a missing or corrupted archive
    is fetched into a temporary file in ``root``, verified and renamed into place.

    Parameters
    ----------
    root
        Directory holding ``cifar-100-python.tar.gz``.
    download
        Allow downloading (default ``False``).
    label_mode
        ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
    sphere
        Center by the training mean and project onto :math:`\\mathbb S^{3071}`; otherwise pixels in ``[0, 1]``
        (channel-major, as stored: 1024 red, 1024 green, 1024 blue values).
    n_train, n_test
        Keep only the first images of the official splits.
    checksums
        Override the digest (e.g. for tests).
    timeout
        Seconds before a download attempt gives up.

    Raises
    ------
    FileNotFoundError, ChecksumError, ConnectionError, ValueError
        As for :func:`load_mnist`.
    """
    table = _check_download_args(download, timeout, checksums, CIFAR100_FILES)
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"label_mode must be 'fine' or 'coarse', got {label_mode!r}")
    if not isinstance(sphere, bool):
        raise TypeError(f"sphere must be a bool, got {type(sphere).__name__}")
    n_train, n_test = _check_subset(n_train, "n_train"), _check_subset(n_test, "n_test")
    name = "cifar-100-python.tar.gz"
    data = _fetch_verified(root, name, table, CIFAR100_MIRRORS, download, float(timeout))
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"{name} is not a valid tar.gz archive: {exc}") from exc
    with archive:
        key = f"{label_mode}_labels"
        Xtr, ytr = _cifar_batch(archive, "cifar-100-python/train", key)
        Xte, yte = _cifar_batch(archive, "cifar-100-python/test", key)
    n_classes = 100 if label_mode == "fine" else 20
    for labels, split in ((ytr, "train"), (yte, "test")):
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"CIFAR-100 {split} {label_mode} labels must lie in 0..{n_classes - 1}")
    Xtr, ytr, Xte, yte = Xtr[:n_train], ytr[:n_train], Xte[:n_test], yte[:n_test]
    A, B = _images_to_inputs(Xtr, Xte, sphere)
    desc = f"CIFAR-100 ({label_mode} labels)" + (", centered and projected onto the sphere" if sphere
                                                  else ", pixels in [0, 1]")
    return Dataset(X_train=A, y_train=ytr, X_test=B, y_test=yte, n_classes=n_classes, name=desc)
