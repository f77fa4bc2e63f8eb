r"""Points on the sphere, projections onto it, and one-hot targets.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping": the data model, uniform inputs on
:math:`\mathbb S^{d-1}`) and Chapter 9 ("Real data", Proposition `real-prop-centring`: centring by the training mean,
then projecting).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._validation import DTYPE, as_batch, as_float64, as_output, check_bool, check_int, returns_torch


def sphere_points(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """``n`` uniform points on :math:`\\mathbb S^{d-1}` from a NumPy generator (redrawing a zero Gaussian vector)."""
    while True:
        Z = rng.standard_normal((n, dim))
        norms = np.linalg.norm(Z, axis=1, keepdims=True)
        if (norms > 0).all():
            return Z / norms


def sphere_uniform(n: int, dim: int, seed: int = 0, *, device: torch.device | str | None = None) -> torch.Tensor:
    r"""``n`` i.i.d. points uniform on the unit sphere :math:`\mathbb S^{d-1} \subset \mathbb R^d`.

    A standard Gaussian vector divided by its norm is uniform on the sphere (rotation invariance):

    .. math:: x = z / \|z\|, \qquad z \sim \mathcal N(0, I_d).

    Parameters
    ----------
    n
        Number of points, at least 1.
    dim
        Ambient dimension :math:`d \ge 2` (``dim=2`` is the circle :math:`\mathbb S^1`).
    seed
        Seed of :func:`numpy.random.default_rng` (the stream of resntk 0.1, so the points are unchanged).
    device
        Where the tensor lives.

    Returns
    -------
    torch.Tensor
        Shape ``(n, dim)``, float64, rows of unit norm (a generator has no array input: torch, as the data loaders).
    """
    n = check_int(n, "n", minimum=1)
    dim = check_int(dim, "dim", minimum=2)
    X = sphere_points(np.random.default_rng(check_int(seed, "seed", minimum=0)), n, dim)
    return torch.as_tensor(X, dtype=DTYPE, device=device)


def circle_points(theta: Any) -> torch.Tensor | np.ndarray:
    r"""Points :math:`(\cos\theta, \sin\theta)` on :math:`\mathbb S^1`, shape ``(n, 2)``; the output follows ``theta``."""
    th = as_float64(theta, "theta")
    if th.ndim != 1:
        raise ValueError(f"theta must be 1-D, got shape {tuple(th.shape)}")
    return as_output(torch.stack([torch.cos(th), torch.sin(th)], dim=1), returns_torch(theta))


def circle_angles(X: Any) -> torch.Tensor | np.ndarray:
    r"""Angles :math:`\theta = \operatorname{atan2}(x_2, x_1) \in (-\pi, \pi]` of points ``(n, 2)``; follows ``X``."""
    P = as_float64(X, "X")
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {tuple(P.shape)}")
    return as_output(torch.atan2(P[:, 1], P[:, 0]), returns_torch(X))


def _project(M: torch.Tensor, mean: torch.Tensor, name: str) -> torch.Tensor:
    C = M - mean
    norms = torch.linalg.vector_norm(C, dim=1, keepdim=True)
    # a row equal to the mean up to the rounding of the subtraction has no direction: refuse it rather than
    # normalising rounding noise
    noise = 64 * torch.finfo(C.dtype).eps * (torch.linalg.vector_norm(M, dim=1) + torch.linalg.vector_norm(mean))
    zero = (norms[:, 0] <= noise).nonzero()
    if zero.numel():
        raise ValueError(f"{name} row {int(zero[0, 0])} is zero after centering: it has no direction on the sphere")
    return C / norms


def project_to_sphere(X_train: Any, X_test: Any | None = None, *, center: bool = True) -> Any:
    r"""Center by the training mean, then scale every row to unit norm (Chapter 9, Proposition `real-prop-centring`).

    .. math:: x \mapsto \frac{x - \bar x_{\rm train}}{\|x - \bar x_{\rm train}\|} .

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
    array, or (array, array)
        The projected training inputs, and the projected test inputs if given; torch if ``X_train`` is a tensor,
        NumPy otherwise.
    """
    A = as_float64(X_train, "X_train")
    if A.ndim != 2 or A.shape[0] == 0:
        raise ValueError(f"X_train must have shape (n, p) with n >= 1, got {tuple(A.shape)}")
    mean = A.mean(dim=0) if check_bool(center, "center") else torch.zeros(A.shape[1], dtype=DTYPE, device=A.device)
    torch_out = returns_torch(X_train)
    out_train = as_output(_project(A, mean, "X_train"), torch_out)
    if X_test is None:
        return out_train
    B = as_float64(X_test, "X_test", A.device)
    if B.ndim != 2 or B.shape[1] != A.shape[1]:
        raise ValueError(f"X_test must have shape (m, {A.shape[1]}), got {tuple(B.shape)}")
    return out_train, as_output(_project(B, mean, "X_test"), torch_out)


def one_hot(labels: Any, n_classes: int | None = None, *, centered: bool = False) -> torch.Tensor | np.ndarray:
    r"""One-vs-rest regression targets :math:`Y_{ic} = \mathbb 1\{y_i = c\}` (minus :math:`1/C` if centered).

    Kernel regression on ``Y`` (multi-output) followed by ``argmax`` over the columns is the one-vs-rest classifier
    of Chapter 9 ("Real data"). Centering makes every row sum to zero, so the zero function :math:`f_0 = 0` is the
    uninformative prediction.

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
    array
        Shape ``(n, C)``, float64; torch if ``labels`` is a tensor, NumPy otherwise.
    """
    y = labels.detach() if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    if y.numel():
        y = as_batch(y, "labels")
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(y.shape)}")
    if y.numel() and y.is_floating_point() and not bool((y == torch.round(y)).all()):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    y = y.to(torch.int64)
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"labels must be non-negative, got min {int(y.min())}")
    if n_classes is None:
        if not y.numel():
            raise ValueError("n_classes must be given for empty labels")
        n_classes = int(y.max()) + 1
    C = check_int(n_classes, "n_classes", minimum=1)
    if y.numel() and int(y.max()) >= C:
        raise ValueError(f"labels must be < n_classes = {C}, got max {int(y.max())}")
    Y = torch.nn.functional.one_hot(y, C).to(DTYPE)
    if check_bool(centered, "centered"):
        Y -= 1.0 / C
    return as_output(Y, returns_torch(labels))
