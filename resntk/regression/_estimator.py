r"""Kernel gradient flow and gradient descent from zero, for many stopping times from one fit.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping"), Definition `kreg-def-flow`, Propositions
`kreg-prop-closed-form` and `kreg-prop-ridge`; Chapter 8 ("Wide ResNets train like kernel regression") for what a
wide network tracks (:cite:`jacot2018ntk`, :cite:`lee2019wide`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin

from .._validation import (
    as_float64,
    as_kernel_matrix,
    as_matrix,
    as_output,
    as_targets,
    check_fitted,
    check_real,
    resolve_device,
    returns_torch,
)
from ._spectral import check_spectrum, default_rcond, eigh, flow_filter, gd_filter, symmetric_part

KernelFn = Callable[[Any, Any], Any]


def _time_scale(time_scale: Any, n: int) -> float:
    """The divisor :math:`s` in :math:`e^{-\\lambda t/s}`: ``"n"`` gives :math:`s=n`, ``"none"`` gives 1."""
    if isinstance(time_scale, str):
        if time_scale == "n":
            return float(n)
        if time_scale == "none":
            return 1.0
        raise ValueError(f"time_scale must be 'n', 'none' or a positive number, got {time_scale!r}")
    return check_real(time_scale, "time_scale", minimum=0.0, strict=True)


def _grid(values: Any, name: str, *, steps: bool) -> tuple[torch.Tensor, bool]:
    """Stopping times (``inf`` allowed) or numbers of steps (integers) as a 1-D float64 tensor, and whether a scalar
    was passed."""
    what = "a non-negative integer" if steps else "a non-negative real number"
    arr = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)
    if arr.dtype in (bool, object) or np.iscomplexobj(arr) or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be {what} or a 1-D array of them, got dtype {arr.dtype}")
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    out = np.atleast_1d(arr).astype(np.float64)
    if out.size == 0:
        raise ValueError(f"{name} must contain at least one value")
    if np.isnan(out).any():
        raise ValueError(f"{name} must not contain NaN")
    if (out < 0).any():
        raise ValueError(f"{name} must be non-negative, got min({name}) = {out.min()}")
    if steps and (not np.isfinite(out).all() or (out != np.round(out)).any()):
        raise ValueError("steps must be finite non-negative integers (use t=numpy.inf for the interpolant)")
    return torch.from_numpy(out), arr.ndim == 0


class GradientFlowRegressor(RegressorMixin, BaseEstimator):
    r"""Kernel gradient flow (or gradient descent) from :math:`f_0 = 0`, for many stopping times from one fit.

    For a training Gram matrix :math:`K = \Theta(X, X) = U \Lambda U^\top` (one symmetric eigendecomposition in
    :meth:`fit`, rounding negatives clipped to 0) the prediction at time :math:`t` is (Chapter 2, Proposition
    `kreg-prop-closed-form`)

    .. math::

        f_t(x) = \Theta(x, X)\, U\, \mathrm{diag}\big(\varphi_t(\lambda_j)\big)\, U^\top \mathbf y, \qquad
        \varphi_t(\lambda) = \frac{1 - e^{-\lambda t/s}}{\lambda},

    with :math:`s = n` for the :math:`\frac{1}{2n}\sum` loss (``time_scale="n"``, the book's convention) and
    :math:`s = 1` for the :math:`\frac12\sum` loss (``time_scale="none"``). Full-batch gradient descent with step
    :math:`\eta` (``lr``) after :math:`k` steps (``steps=k``) replaces the filter by
    :math:`\varphi_k(\lambda) = (1 - (1 - \eta\lambda/s)^k)/\lambda`, stable iff :math:`\eta < 2s/\lambda_{\max}`;
    ``lr="auto"`` takes :math:`\eta = s/\lambda_{\max}` (:func:`lr_from_ntk`), and :math:`t \approx k\eta` relates
    the two. Eigenvalues up to ``rcond`` :math:`\lambda_{\max}` count as zero (filter 0), so every time, ``t=inf``
    included, gives a finite prediction in the range of :math:`K`; ``t=inf`` is the minimum-norm interpolant
    :math:`\Theta(x, X) K^{+}\mathbf y`.

    Parameters
    ----------
    kernel
        ``"precomputed"``: :meth:`fit` takes the training Gram matrix ``K`` of shape ``(n, n)`` and :meth:`predict`
        the cross Gram ``K(X_test, X_train)`` of shape ``(m, n)``, as in scikit-learn. A callable
        ``kernel(X1, X2)`` returning an ``(n1, n2)`` array or tensor: it receives float64 inputs of shape
        ``(n, n_features)`` in the container that was passed (NumPy stays NumPy, torch stays torch).
    t
        Default stopping time of :meth:`predict` (and :meth:`score`), so that scikit-learn tools such as
        ``GridSearchCV(param_grid={"t": ...})`` work; ``numpy.inf`` is the interpolant.
    steps
        Instead of ``t``: the default number of gradient-descent steps.
    time_scale
        ``"n"`` (default): exponent :math:`\lambda t/n`; ``"none"``: exponent :math:`\lambda t`; a positive number
        :math:`s`: exponent :math:`\lambda t/s`.
    lr
        Step size :math:`\eta` of gradient descent (used only with ``steps``): ``"auto"`` for
        :math:`s/\lambda_{\max}`, or a positive number below :math:`2s/\lambda_{\max}`.
    rcond
        Eigenvalues at most ``rcond * lambda_max`` are zero; ``None`` (default): :math:`n\varepsilon`.
    device
        Where the linear algebra runs (``None``: the device of the training data if a tensor, else the CPU).

    Attributes
    ----------
    X_fit_
        The training inputs (callable kernel only), float64, in the container that was passed.
    eigenvalues_
        Eigenvalues :math:`\lambda_1 \le \dots \le \lambda_n` of the training Gram matrix (negatives clipped to 0),
        shape ``(n,)``, in the array type of the training data.
    lambda_max_, rank_
        :math:`\lambda_{\max}`, and the number of eigenvalues above the zero threshold.
    time_scale_, lr_
        The resolved divisor :math:`s` and step size :math:`\eta`.
    n_train_, n_outputs_, n_features_in_
        Number of training points, of output columns of ``y``, and of input features (``n`` for a precomputed
        kernel).

    Notes
    -----
    Array rule: predictions are torch tensors when the ``X`` passed to :meth:`predict` is one, NumPy arrays
    otherwise; all linear algebra is float64.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 3)); K = np.exp(X @ X.T / 3)
    >>> model = GradientFlowRegressor(kernel="precomputed").fit(K, np.sin(X[:, 0]))
    >>> # leading axis: the stopping times
    >>> model.predict(K[:5], t=[1.0, 10.0, np.inf]).shape
    (3, 5)
    """

    def __init__(self, kernel: str | KernelFn = "precomputed", *, t: float | None = None, steps: int | None = None,
                 time_scale: str | float = "n", lr: str | float = "auto", rcond: float | None = None,
                 device: torch.device | str | None = None) -> None:
        self.kernel = kernel
        self.t = t
        self.steps = steps
        self.time_scale = time_scale
        self.lr = lr
        self.rcond = rcond
        self.device = device

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"
        tags.target_tags.multi_output = True
        return tags

    # -- the Gram matrices ----------------------------------------------------------------------------------
    def _cross_gram(self, X: Any) -> torch.Tensor:
        """``K(X, X_train)``, float64 on the fitted device, ``(m, n_train)``."""
        if self.kernel == "precomputed":
            return as_kernel_matrix(X, "X", self._device, n_cols=self.n_train_)
        return self._call_kernel(self._kernel_input(X, "X")[0], self.X_fit_)

    def _kernel_input(self, X: Any, name: str) -> tuple[Any, int]:
        """Inputs for a callable kernel (float64, in the container of the training inputs) and their feature count."""
        t = as_matrix(X, name, self._device, what="array (n_samples, n_features)",
                      reshape="X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one sample")
        n_features = int(t.shape[1])
        if hasattr(self, "n_features_in_") and n_features != self.n_features_in_:
            raise ValueError(f"{name} has {n_features} features, but GradientFlowRegressor is expecting "
                             f"{self.n_features_in_} features as input")
        return (t if self._torch_kernel else t.cpu().numpy()), n_features

    def _call_kernel(self, A: Any, B: Any) -> torch.Tensor:
        K = as_float64(self.kernel(A, B), "kernel(X1, X2)", self._device)
        if tuple(K.shape) != (A.shape[0], B.shape[0]):
            raise ValueError(f"kernel(X1, X2) must return an array of shape {(A.shape[0], B.shape[0])}, got "
                             f"{tuple(K.shape)}")
        return K

    # -- fit ------------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> GradientFlowRegressor:
        """Factor the training Gram matrix once: :math:`\\Theta(X, X) = U\\Lambda U^\\top`.

        Parameters
        ----------
        X
            Training inputs for a callable kernel, or the ``(n, n)`` training Gram matrix for
            ``kernel="precomputed"``; NumPy array or torch tensor.
        y
            Targets, shape ``(n,)`` or ``(n, k)`` (several outputs, e.g. one-vs-rest targets from
            :func:`resntk.data.one_hot`).

        Returns
        -------
        GradientFlowRegressor
            ``self``.
        """
        if isinstance(self.kernel, str):
            if self.kernel != "precomputed":
                raise ValueError(f"kernel must be 'precomputed' or a callable, got {self.kernel!r}")
        elif not callable(self.kernel):
            raise TypeError(f"kernel must be 'precomputed' or a callable, got {type(self.kernel).__name__}")
        if y is None:
            raise ValueError("GradientFlowRegressor requires y to be passed, but the target y is None")
        if self.t is not None and self.steps is not None:
            raise ValueError("set at most one of t (gradient flow) and steps (gradient descent)")
        if self.t is not None:
            _grid(self.t, "t", steps=False)
        if self.steps is not None:
            _grid(self.steps, "steps", steps=True)
        self._device = resolve_device(self.device, X)
        for attr in ("X_fit_", "n_features_in_"):
            self.__dict__.pop(attr, None)
        if self.kernel == "precomputed":
            K = as_kernel_matrix(X, "X", self._device, square=True)
            n_features = K.shape[0]
        else:
            self._torch_kernel = isinstance(X, torch.Tensor)
            self.X_fit_, n_features = self._kernel_input(X, "X")
            K = self._call_kernel(self.X_fit_, self.X_fit_)
        n = K.shape[0]
        Y = as_targets(y, "y", n, self._device)
        s = _time_scale(self.time_scale, n)
        rcond = default_rcond(n) if self.rcond is None else check_real(self.rcond, "rcond", minimum=0.0, maximum=1.0,
                                                                        strict=True)
        lam, U = eigh(symmetric_part(K, "the training Gram matrix"))
        lam_max = check_spectrum(lam, "the training Gram matrix")
        lam = lam.clamp_min_(0.0)
        if isinstance(self.lr, str):
            if self.lr != "auto":
                raise ValueError(f"lr must be 'auto' or a positive number, got {self.lr!r}")
            lr = s / lam_max
        else:
            lr = check_real(self.lr, "lr", minimum=0.0, strict=True, what="the gradient-descent step size")

        self._y_1d = Y.ndim == 1
        Y2 = Y[:, None] if self._y_1d else Y
        self._torch_out = returns_torch(X)
        self._lam = lam
        self._keep = lam > rcond * lam_max
        self._U = U
        self._coef = U.T @ Y2  # U^T y, (n, k)
        self.eigenvalues_ = as_output(lam, self._torch_out)
        self.lambda_max_ = lam_max
        self.rank_ = int(self._keep.sum())
        self.time_scale_ = s
        self.lr_ = lr
        self.n_train_ = n
        self.n_outputs_ = int(Y2.shape[1])
        self.n_features_in_ = n_features
        return self

    # -- prediction -----------------------------------------------------------------------------------------
    def _filters(self, t: Any, steps: Any) -> tuple[torch.Tensor, bool]:
        """Filter values ``(T, n)`` and whether a scalar time was passed."""
        if t is not None and steps is not None:
            raise ValueError("pass either t (gradient flow) or steps (gradient descent), not both")
        if t is None and steps is None:
            if self.t is None and self.steps is None:
                raise ValueError("predict needs a stopping time: pass t=... (or steps=... for gradient descent), or "
                                 "set t (or steps) in the constructor")
            t, steps = self.t, self.steps
        if steps is not None:
            k, scalar = _grid(steps, "steps", steps=True)
            bound = 2.0 * self.time_scale_ / self.lambda_max_
            if self.lr_ >= bound:
                raise ValueError(f"lr = {self.lr_:.6g} is not below the stability bound 2 s / lambda_max = "
                                 f"{bound:.6g}: gradient descent would diverge (use lr='auto' or lr_from_ntk)")
            return gd_filter(self._lam, self._keep, k.to(self._lam.device), self.lr_, self.time_scale_), scalar
        times, scalar = _grid(t, "t", steps=False)
        return flow_filter(self._lam, self._keep, times.to(self._lam.device), self.time_scale_), scalar

    def _finish(self, out: torch.Tensor, scalar: bool, torch_out: bool) -> Any:
        if self._y_1d:
            out = out[..., 0]
        return as_output(out[0] if scalar else out, torch_out)

    def _dual(self, phi: torch.Tensor) -> torch.Tensor:
        """Dual coefficients :math:`c_t = U\\,\\mathrm{diag}(\\varphi_t)\\,U^\\top\\mathbf y`, shape ``(T, n, k)``."""
        T = phi.shape[0]
        n, k = self._coef.shape
        weighted = phi.T[:, :, None] * self._coef[:, None, :]  # (n, T, k)
        return (self._U @ weighted.reshape(n, T * k)).reshape(n, T, k).permute(1, 0, 2)

    def dual_coef(self, t: Any = None, *, steps: Any = None) -> Any:
        """The dual coefficients :math:`c_t` with :math:`f_t(x) = \\Theta(x, X)\\,c_t`.

        Parameters
        ----------
        t, steps
            As in :meth:`predict`.

        Returns
        -------
        array
            Shape ``(n,)`` or ``(n, k)`` for a scalar time, with a leading axis of length ``len(t)`` otherwise; in
            the array type of the training data.
        """
        check_fitted(self, "eigenvalues_")
        phi, scalar = self._filters(t, steps)
        return self._finish(self._dual(phi), scalar, self._torch_out)

    def predict(self, X: Any, t: Any = None, *, steps: Any = None) -> Any:
        """Predictions :math:`f_t(x)` of kernel gradient flow (or :math:`k` steps of gradient descent) from 0.

        Parameters
        ----------
        X
            Test inputs for a callable kernel, or the cross Gram matrix ``K(X_test, X_train)`` of shape ``(m, n)``
            for ``kernel="precomputed"``.
        t
            A stopping time or a 1-D array of them, non-negative; ``numpy.inf`` gives the minimum-norm interpolant.
            Defaults to the constructor's ``t`` (or ``steps``).
        steps
            Instead of ``t``: a number (or 1-D array) of full-batch gradient-descent steps with step size ``lr_``.

        Returns
        -------
        array
            Shape ``(m,)`` (``(m, k)`` for multi-output ``y``) for a scalar time; for an array of times the leading
            axis runs over the times: ``(T, m)`` or ``(T, m, k)``. torch if ``X`` is a tensor, NumPy otherwise.
        """
        check_fitted(self, "eigenvalues_")
        K = self._cross_gram(X)
        phi, scalar = self._filters(t, steps)
        T = phi.shape[0]
        n, k = self._coef.shape
        m = K.shape[0]
        if T * k <= m:  # coefficients first: O(n^2 T k + m n T k)
            out = (K @ self._dual(phi).permute(1, 0, 2).reshape(n, T * k)).reshape(m, T, k).permute(1, 0, 2)
        else:  # project the test Gram first: O(m n^2 + m n T k), cheaper when T k > m
            weighted = phi.T[:, :, None] * self._coef[:, None, :]  # (n, T, k)
            out = ((K @ self._U) @ weighted.reshape(n, T * k)).reshape(m, T, k).permute(1, 0, 2)
        return self._finish(out, scalar, returns_torch(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination :math:`R^2` of :meth:`predict` at the default time (scikit-learn's)."""
        from sklearn.metrics import r2_score

        pred = self.predict(X)
        pred = pred.detach().cpu().numpy() if isinstance(pred, torch.Tensor) else pred
        target = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y
        return float(r2_score(target, pred, sample_weight=sample_weight))
