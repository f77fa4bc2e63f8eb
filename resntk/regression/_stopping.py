r"""Early stopping, the excess risk, and the gradient-descent step from a kernel.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping"), Theorem `kreg-thm-bias-variance`, Corollary
`kreg-cor-rate`, Theorem `kreg-thm-minimax` and Exercise `ex-kreg-validation`; the stopping rules are the standard
spectral-filter results of :cite:`yao2007early` and :cite:`raskutti2014early`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import clone

from .._validation import as_float64, as_kernel_matrix, check_int, check_real
from ._estimator import GradientFlowRegressor
from ._spectral import check_spectrum, symmetric_part


@dataclass(frozen=True)
class StoppingTime:
    """The outcome of a stopping-time search.

    Attributes
    ----------
    best
        The selected time (or number of steps when the search was over ``steps``).
    index
        Its position in ``times`` (the earliest of tied minima).
    times
        The candidate times, shape ``(T,)`` (NumPy).
    errors
        Mean squared error of each candidate on the validation (or oracle) set, shape ``(T,)`` (NumPy).
    """

    best: float
    index: int
    times: np.ndarray
    errors: np.ndarray

    @property
    def best_error(self) -> float:
        """The smallest error, at :attr:`best`."""
        return float(self.errors[self.index])


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor | float:
    if pred.shape == target.shape:
        return float(((pred - target) ** 2).mean())
    return ((pred - target) ** 2).reshape(pred.shape[0], -1).mean(dim=1)


def select_stopping_time(estimator: GradientFlowRegressor, X_val: Any, y_val: Any, times: Any = None, *,
                         steps: Any = None) -> StoppingTime:
    r"""Pick the stopping time with the smallest mean squared error on held-out data.

    .. math::

        \hat t = \arg\min_{t \in \text{times}} \frac{1}{m k}\sum_{i=1}^m \|f_t(x^{\rm val}_i) - y^{\rm val}_i\|^2 .

    All candidates come from one :meth:`GradientFlowRegressor.predict` call. Passing the noiseless target values
    :math:`f^*(x)` of a test set as ``y_val`` gives the *oracle* stopping time.

    Parameters
    ----------
    estimator
        A fitted :class:`GradientFlowRegressor`.
    X_val
        Validation inputs (or the validation-by-training cross Gram matrix for ``kernel="precomputed"``).
    y_val
        Validation targets, shape ``(m,)`` or ``(m, k)`` matching the training targets.
    times
        1-D array of candidate stopping times (``numpy.inf`` allowed).
    steps
        Instead of ``times``: candidate numbers of gradient-descent steps.

    Returns
    -------
    StoppingTime
    """
    if not isinstance(estimator, GradientFlowRegressor):
        raise TypeError(f"estimator must be a GradientFlowRegressor, got {type(estimator).__name__}")
    if (times is None) == (steps is None):
        raise ValueError("pass exactly one of times (gradient flow) or steps (gradient descent)")
    grid = times if times is not None else steps
    grid_arr = np.atleast_1d(np.asarray(grid.detach().cpu() if isinstance(grid, torch.Tensor) else grid))
    if grid_arr.ndim != 1:
        raise ValueError(f"{'times' if times is not None else 'steps'} must be a 1-D array")
    preds = estimator.predict(X_val, t=grid_arr) if times is not None else estimator.predict(X_val, steps=grid_arr)
    preds = as_float64(preds, "predictions")
    target = as_float64(y_val, "y_val", preds.device)
    if tuple(target.shape) != tuple(preds.shape[1:]):
        raise ValueError(f"y_val must have shape {tuple(preds.shape[1:])} to match the predictions, got "
                         f"{tuple(target.shape)}")
    errors = _mse(preds, target).cpu().numpy()
    index = int(np.argmin(errors))
    return StoppingTime(best=float(grid_arr[index]), index=index, times=grid_arr.astype(np.float64), errors=errors)


def early_stopping_by_validation(estimator: GradientFlowRegressor, X: Any, y: Any, times: Any, *,
                                 val_fraction: float = 0.2, seed: int = 0
                                 ) -> tuple[GradientFlowRegressor, StoppingTime]:
    r"""Hold out a random fraction of the data, fit on the rest and stop where the held-out error is smallest.

    The returned estimator is a fitted :func:`sklearn.base.clone` of ``estimator`` trained on the
    :math:`(1 - \texttt{val\_fraction})\,n` remaining points, with its ``t`` set to the selected time, so
    ``model.predict(X_test)`` predicts at :math:`\hat t`. It is not refitted on all :math:`n` points: the optimal time
    depends on the sample size (:func:`theoretical_stopping_time`), so the selected time belongs to the estimator it
    was selected for (Chapter 2, Exercise `ex-kreg-validation`).

    Parameters
    ----------
    estimator
        A :class:`GradientFlowRegressor` (cloned, not modified).
    X
        Inputs, or the full ``(n, n)`` Gram matrix for ``kernel="precomputed"`` (sliced into blocks here).
    y
        Targets, shape ``(n,)`` or ``(n, k)``.
    times
        Candidate stopping times.
    val_fraction
        Fraction of the points held out, in ``(0, 1)``.
    seed
        Seed of the split.

    Returns
    -------
    (GradientFlowRegressor, StoppingTime)
    """
    if not isinstance(estimator, GradientFlowRegressor):
        raise TypeError(f"estimator must be a GradientFlowRegressor, got {type(estimator).__name__}")
    val_fraction = check_real(val_fraction, "val_fraction", minimum=0.0, maximum=1.0, strict=True)
    n = len(y)
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n_val > n - 1:
        raise ValueError(f"val_fraction={val_fraction} leaves no training or no validation point for n = {n}")
    perm = np.random.default_rng(check_int(seed, "seed", minimum=0)).permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    model = clone(estimator)
    if model.kernel == "precomputed":
        K = X if isinstance(X, torch.Tensor) else np.asarray(X)
        if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] != n:
            raise ValueError(f"X must be the full (n, n) Gram matrix with n = {n} for kernel='precomputed', got "
                             f"shape {tuple(K.shape)}")
        tr, va = (torch.as_tensor(train_idx), torch.as_tensor(val_idx)) if isinstance(K, torch.Tensor) \
            else (train_idx, val_idx)
        X_tr, X_va = K[tr][:, tr], K[va][:, tr]
    else:
        X_tr, X_va = X[train_idx], X[val_idx]
    y_arr = y if isinstance(y, torch.Tensor) else np.asarray(y)
    model.fit(X_tr, y_arr[train_idx])
    result = select_stopping_time(model, X_va, y_arr[val_idx], times)
    model.set_params(t=result.best)
    return model, result


def theoretical_stopping_time(n: int, dim: int, scale: float = 1.0) -> float:
    r"""The minimax-optimal stopping time :math:`t^* = c\,n^{d/(2d-1)}` (Chapter 2, Corollary `kreg-cor-rate`).

    For inputs on :math:`\mathbb S^{d-1}` the eigenvalues of the (normalised) residual NTK decay like
    :math:`\lambda_j \asymp j^{-d/(d-1)}` (Chapter 7, Theorem `minimax-thm-deep`); gradient flow in the
    ``time_scale="n"`` convention acts like ridge regression with regularisation :math:`1/t`, whose optimal value is
    :math:`n^{-d/(2d-1)}`. Only the order is determined by the theory; ``scale`` is the constant :math:`c`.

    Parameters
    ----------
    n
        Sample size, at least 1.
    dim
        The ambient dimension :math:`d` (points on :math:`\mathbb S^{d-1} \subset \mathbb R^d`), at least 2.
    scale
        Positive constant :math:`c`.
    """
    n = check_int(n, "n", minimum=1)
    dim = check_int(dim, "dim", minimum=2)
    scale = check_real(scale, "scale", minimum=0.0, strict=True)
    return scale * float(n) ** (dim / (2.0 * dim - 1.0))


def excess_risk(pred: Any, f_star_values: Any) -> float | np.ndarray | torch.Tensor:
    r"""Mean squared difference between predictions and the target function's values.

    .. math::

        \widehat{\mathcal E}(f) = \frac{1}{m k}\sum_{i=1}^{m} \|f(x_i) - f^*(x_i)\|^2 ,

    the Monte Carlo estimate of :math:`\|f - f^*\|_{L^2(\mu)}^2` on test points :math:`x_i \sim \mu` (Chapter 2,
    Theorem `kreg-thm-bias-variance`).

    Parameters
    ----------
    pred
        Predictions of shape ``S``, or ``(T,) + S`` for ``T`` stopping times (as returned by
        :meth:`GradientFlowRegressor.predict` with an array of times).
    f_star_values
        :math:`f^*` at the same points, shape ``S`` (``(m,)`` or ``(m, k)``).

    Returns
    -------
    float, or an array of shape ``(T,)`` (torch if ``pred`` is a tensor, NumPy otherwise)
    """
    P = as_float64(pred, "pred")
    F = as_float64(f_star_values, "f_star_values", P.device)
    if F.ndim == 0 or F.numel() == 0:
        raise ValueError("f_star_values must be a non-empty array of shape (m,) or (m, k)")
    if P.shape != F.shape and not (P.ndim == F.ndim + 1 and P.shape[1:] == F.shape):
        raise ValueError(f"pred must have shape {tuple(F.shape)} or (T,) + {tuple(F.shape)} to match f_star_values, "
                         f"got {tuple(P.shape)}")
    out = _mse(P, F)
    if isinstance(out, float):
        return out
    return out if isinstance(pred, torch.Tensor) else out.cpu().numpy()


def lr_from_ntk(ntk_train: Any, n: int | None = None) -> float:
    r"""The gradient-descent step :math:`\eta = n / \lambda_{\max}(\Theta(X, X))` (Chapter 8, Exercise `wide-ex-clock`).

    With the :math:`\frac{1}{2n}\sum` loss, gradient descent in the kernel regime is
    :math:`f \leftarrow f - \frac{\eta}{n}\Theta(X,X)(f - y)`, stable iff :math:`\eta < 2n/\lambda_{\max}`; this rule
    takes half the stability limit, so the top eigen-direction is fitted in one step. It is the step
    ``GradientFlowRegressor(lr="auto")`` uses.

    Parameters
    ----------
    ntk_train
        The symmetric positive semi-definite ``(n, n)`` NTK Gram matrix of the training inputs (analytic or
        empirical), checked like :meth:`GradientFlowRegressor.fit` checks it.
    n
        The number of samples the loss averages over; defaults to ``ntk_train.shape[0]`` (full batch).

    Returns
    -------
    float
    """
    K = symmetric_part(as_kernel_matrix(ntk_train, "ntk_train", square=True), "ntk_train")
    n = K.shape[0] if n is None else check_int(n, "n", minimum=1)
    return n / check_spectrum(torch.linalg.eigvalsh(K), "ntk_train")
