"""Kernel gradient flow from zero, early stopping and rates (branch-scaling note §2.6–2.7, §3.11–3.12).

Training a wide network with the squared loss :math:`\\mathcal L = \\frac{1}{2n}\\sum_i (f(x_i) - y_i)^2` from the
zero function (mirrored initialisation) follows, in the infinite-width limit, *kernel gradient flow* with the
neural tangent kernel :math:`\\Theta` (note §2.7, [derived; standard]):

.. math::

    f_t(x) = \\Theta(x, X)\\, \\Theta(X, X)^{-1} \\big(I - e^{-\\frac{t}{n}\\Theta(X, X)}\\big)\\, \\mathbf y .

With one eigendecomposition :math:`\\Theta(X, X) = U \\Lambda U^\\top` every stopping time costs only a product
(note §3.12):

.. math::

    f_t(x) = \\Theta(x, X)\\, U\\, \\mathrm{diag}\\Big(\\frac{1 - e^{-\\lambda_j t/n}}{\\lambda_j}\\Big) U^\\top \\mathbf y ,

which is what :class:`GradientFlowRegressor` implements, together with full-batch gradient descent (the bracket
becomes :math:`I - (I - \\tfrac{\\eta}{n}\\Theta)^k`) and the limit :math:`t = \\infty`, the minimum-norm interpolant
("overfitting", Result C). The module also holds the early-stopping rules of Result B (a validation split, and the
theoretical schedule :math:`t \\asymp n^{d/(2d-1)}`), the excess risk against a known target and a log-log rate fit
with a confidence interval.

Fidelity: the prediction formula is standard kernel gradient flow ([derived] in the note); the stopping schedule
and the rate exponent are the standard spectral-filter results the note cites for Result B (Yao, Rosasco &
Caponnetto 2007; Raskutti, Wainwright & Yu 2014), not a quotation of Yu et al. (2026).

Conventions. All linear algebra is in float64. Inputs may be NumPy arrays or torch tensors (on any device); every
public function returns NumPy arrays. On the CPU the eigendecomposition is LAPACK's tridiagonal reduction followed
by a divide and conquer whose eigenvector matrix is never formed (:class:`_TridiagonalBasis` and
``resntk._tridiagonal``: the same eigenvalues as ``eigh`` at well under half the cost, because the predictions only
ever need products with :math:`U`); on other devices it is ``torch.linalg.eigh``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np
import torch
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin, clone

__all__ = [
    "GradientFlowRegressor",
    "StoppingTime",
    "select_stopping_time",
    "early_stopping_by_validation",
    "theoretical_stopping_time",
    "excess_risk",
    "RateFit",
    "fit_rate",
]

ArrayLike = Union[np.ndarray, torch.Tensor, "list[Any]", float]
KernelFn = Callable[[Any, Any], Any]

#: Relative tolerance for the symmetry of a precomputed Gram matrix.
_SYMMETRY_RTOL = 1e-8
#: Eigenvalues below ``-_PSD_RTOL * lambda_max`` mean the Gram matrix is not positive semi-definite; anything
#: above is rounding (or the interpolation error of a tabulated kernel) and is clipped to 0.
_PSD_RTOL = 1e-6


# --------------------------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------------------------

def _resolve_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, (str, torch.device)):
        return torch.device(device)
    raise TypeError(f"device must be None, a str or a torch.device, got {type(device).__name__}")


def _to_tensor(value: Any, name: str, device: torch.device) -> torch.Tensor:
    """``value`` as a finite float64 tensor on ``device``; a clear error names ``name`` otherwise."""
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be real-valued, got a tensor of dtype {value.dtype}")
        tensor = value.detach().to(device=device, dtype=torch.float64)
    else:
        try:
            array = np.asarray(value)
        except Exception as exc:  # pragma: no cover - exotic inputs
            raise TypeError(f"{name} must be array-like, got {type(value).__name__}") from exc
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
        if np.iscomplexobj(array) or array.dtype == bool:
            raise TypeError(f"{name} must be real-valued, got dtype {array.dtype}")
        tensor = torch.as_tensor(np.ascontiguousarray(array, dtype=np.float64), device=device)
    if tensor.numel() and not _all_finite(tensor):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return tensor


def _all_finite(tensor: torch.Tensor) -> bool:
    """Whether every entry is finite: NaN propagates through ``aminmax`` and an infinity is an extreme, so
    checking the two extremes is exact (and several times cheaper than ``isfinite(tensor).all()``)."""
    low, high = torch.aminmax(tensor)
    return math.isfinite(float(low)) and math.isfinite(float(high))


def _float64_like_input(value: Any, name: str, device: torch.device) -> Any:
    """Inputs for a callable kernel: float64, in the container the user passed (NumPy stays NumPy)."""
    if isinstance(value, torch.Tensor):
        return _to_tensor(value, name, device)
    return _to_tensor(value, name, torch.device("cpu")).numpy()


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _resolve_time_scale(time_scale: Any, n: int) -> float:
    """The divisor :math:`s` in :math:`e^{-\\lambda t/s}`: ``"n"`` gives :math:`s=n`, ``"none"`` gives 1."""
    if isinstance(time_scale, str):
        if time_scale == "n":
            return float(n)
        if time_scale == "none":
            return 1.0
        raise ValueError(f"time_scale must be 'n', 'none' or a positive number, got {time_scale!r}")
    if isinstance(time_scale, bool) or not isinstance(time_scale, numbers.Real):
        raise TypeError(f"time_scale must be 'n', 'none' or a positive number, got {type(time_scale).__name__}")
    value = float(time_scale)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"time_scale must be positive and finite, got {time_scale!r}")
    return value


def _check_times(t: Any) -> tuple[np.ndarray, bool]:
    """Stopping times as a 1-D float64 array (``+inf`` allowed) and whether a scalar was passed."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    array = np.asarray(t)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise TypeError(f"t must be a real number or a 1-D array of real numbers, got {array.dtype}")
    if array.ndim > 1:
        raise ValueError(f"t must be a scalar or a 1-D array, got shape {array.shape}")
    scalar = array.ndim == 0
    array = np.atleast_1d(array).astype(np.float64)
    if array.size == 0:
        raise ValueError("t must contain at least one stopping time")
    if np.isnan(array).any():
        raise ValueError("t must not contain NaN")
    if (array < 0).any():
        raise ValueError(f"t must be non-negative, got min(t) = {array.min()}")
    return array, scalar


def _check_steps(steps: Any) -> tuple[np.ndarray, bool]:
    """Numbers of gradient-descent steps as a 1-D float64 array of non-negative integers."""
    if isinstance(steps, torch.Tensor):
        steps = steps.detach().cpu().numpy()
    array = np.asarray(steps)
    if array.dtype == bool or array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"steps must be a non-negative integer or a 1-D array of them, got {array.dtype}")
    if array.ndim > 1:
        raise ValueError(f"steps must be a scalar or a 1-D array, got shape {array.shape}")
    scalar = array.ndim == 0
    array = np.atleast_1d(array).astype(np.float64)
    if array.size == 0:
        raise ValueError("steps must contain at least one value")
    if not np.isfinite(array).all() or (array < 0).any() or (array != np.round(array)).any():
        raise ValueError("steps must be finite non-negative integers (use t=numpy.inf for the interpolant)")
    return array, scalar


# --------------------------------------------------------------------------------------------------------------
# spectral filters
# --------------------------------------------------------------------------------------------------------------

def _flow_filter(lam: torch.Tensor, times: torch.Tensor, scale: float) -> torch.Tensor:
    """:math:`\\varphi_t(\\lambda) = (1 - e^{-\\lambda t/s})/\\lambda`, shape ``(T, n)``; equals :math:`t/s` at 0.

    Written as :math:`\\tfrac{t}{s}\\,\\phi_1(z)` with :math:`z = \\lambda t/s` and
    :math:`\\phi_1(z) = -\\mathrm{expm1}(-z)/z`, which is accurate for every :math:`z \\ge 0`.
    """
    tau = (times / scale)[:, None]
    z = tau * lam[None, :]
    positive = z > 0
    z_safe = torch.where(positive, z, torch.ones_like(z))
    phi1 = torch.where(positive, -torch.expm1(-z_safe) / z_safe, torch.ones_like(z))
    return tau * phi1


def _gd_filter(lam: torch.Tensor, steps: torch.Tensor, lr: float, scale: float) -> torch.Tensor:
    """:math:`\\varphi_k(\\lambda) = (1 - (1 - \\eta\\lambda/s)^k)/\\lambda`, shape ``(T, n)``; :math:`k\\eta/s` at 0.

    For :math:`0 \\le \\eta\\lambda/s < 1` the bracket is computed as :math:`-\\mathrm{expm1}(k\\,\\mathrm{log1p}(-\\eta\\lambda/s))`,
    which keeps full relative accuracy for small eigenvalues.
    """
    z = (lr / scale) * lam[None, :]
    k = steps[:, None]
    below_one = z < 1
    z_c = torch.where(below_one, z, torch.zeros_like(z))
    bracket = torch.where(below_one, -torch.expm1(k * torch.log1p(-z_c)), 1.0 - torch.pow(1.0 - z, k))
    positive = lam[None, :] > 0
    lam_safe = torch.where(positive, lam[None, :], torch.ones_like(z))
    return torch.where(positive, bracket / lam_safe, k * (lr / scale))


# --------------------------------------------------------------------------------------------------------------
# the eigenbasis
# --------------------------------------------------------------------------------------------------------------

class _ExplicitBasis:
    """:math:`K = U\\Lambda U^\\top` with :math:`U` stored (``torch.linalg.eigh``; used off the CPU)."""

    def __init__(self, K: torch.Tensor) -> None:
        self.lam, self._U = torch.linalg.eigh(K)

    def to_eig(self, M: torch.Tensor) -> torch.Tensor:
        """:math:`U^\\top M`."""
        return self._U.T @ M

    def from_eig(self, M: torch.Tensor) -> torch.Tensor:
        """:math:`U M`."""
        return self._U @ M


class _TridiagonalBasis:
    """:math:`K = Q\\,S\\Lambda S^\\top Q^\\top` with :math:`Q` kept as Householder reflectors (CPU, LAPACK).

    A symmetric eigensolver spends most of its time forming :math:`U = QS` (the back-transformation) and, for the
    clustered spectra of kernel matrices, the eigenvectors :math:`S` of the tridiagonal matrix. The predictions
    never need :math:`U` itself, only products :math:`U^\\top M` and :math:`UM` with thin matrices, so this basis
    stops after the tridiagonal reduction ``dsytrd`` (:math:`K = QTQ^\\top`), keeps :math:`S` factored as a
    divide-and-conquer tree (``resntk._tridiagonal``) and applies :math:`Q` with ``dormqr``. The eigenvalues are
    those of ``eigh``; the fit costs well under half of ``eigh``, most of it ``dsytrd``
    (``benchmarks/regression.py``).
    """

    def __init__(self, K: torch.Tensor) -> None:
        from scipy.linalg import lapack

        from ._tridiagonal import tridiagonal_eigen

        A = K.numpy()
        n = A.shape[0]
        self.n = n
        if n == 1:
            self._eig = tridiagonal_eigen(A[0].copy(), np.empty(0))
            self.lam = torch.from_numpy(self._eig.lam)
            self._refl = None
            return
        # K is symmetric, so its C-ordered buffer read in Fortran order is K again: no copy before dsytrd
        A = A.T if A.flags.c_contiguous else A
        lwork = int(lapack.dsytrd_lwork(n, lower=1)[0])
        c, d, e, tau, info = lapack.dsytrd(A, lower=1, lwork=max(lwork, 1))
        if info != 0:  # pragma: no cover - LAPACK failure on finite input
            raise RuntimeError(f"LAPACK dsytrd failed with info={info}")
        self._eig = tridiagonal_eigen(d, e)
        self.lam = torch.from_numpy(self._eig.lam)
        # reflector i (0-based) acts on rows i+1..n-1: the QR-type representation of c[1:, :n-1] (as in dormtr)
        self._refl = np.asfortranarray(c[1:, : n - 1])
        self._tau = np.ascontiguousarray(tau[: n - 1])

    def _apply_q(self, M: np.ndarray, trans: str) -> np.ndarray:
        from scipy.linalg import lapack

        out = np.array(M, dtype=np.float64, order="F", copy=True)
        if self._refl is None or out.shape[1] == 0:
            return out
        sub = np.asfortranarray(out[1:])
        if out.shape[1] <= _UNBLOCKED_COLUMNS:
            # a workspace of one column per right-hand side makes dormqr apply the reflectors one by one
            # (dorm2r): for a thin block this reads Q once instead of building a triangular factor per panel
            lwork = max(out.shape[1], 1)
        else:
            query = lapack.dormqr("L", trans, self._refl, self._tau, sub, lwork=-1)
            lwork = max(int(query[1][0]), out.shape[1], 1)
        cq, _, info = lapack.dormqr("L", trans, self._refl, self._tau, sub, lwork=lwork, overwrite_c=1)
        if info != 0:  # pragma: no cover
            raise RuntimeError(f"LAPACK dormqr failed with info={info}")
        out[1:] = cq
        return out

    def to_eig(self, M: torch.Tensor) -> torch.Tensor:
        """:math:`U^\\top M = S^\\top (Q^\\top M)`."""
        return torch.from_numpy(np.ascontiguousarray(self._eig.left(self._apply_q(M.numpy(), "T"))))

    def from_eig(self, M: torch.Tensor) -> torch.Tensor:
        """:math:`U M = Q (S M)`."""
        return torch.from_numpy(np.ascontiguousarray(self._apply_q(self._eig.right(M.numpy()), "N")))


#: Up to this many right-hand sides, Q is applied reflector by reflector (see :meth:`_TridiagonalBasis._apply_q`).
_UNBLOCKED_COLUMNS = 4


def _eigen_basis(K: torch.Tensor) -> _ExplicitBasis | _TridiagonalBasis:
    return _TridiagonalBasis(K) if K.device.type == "cpu" else _ExplicitBasis(K)


# --------------------------------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------------------------------

class GradientFlowRegressor(RegressorMixin, BaseEstimator):
    """Kernel gradient flow (or gradient descent) from :math:`f_0 = 0`, for many stopping times from one fit.

    Implements the note's §2.7 and §3.12 ([derived; standard]). For a training Gram matrix
    :math:`K = \\Theta(X, X) = U \\Lambda U^\\top` (one symmetric eigendecomposition in :meth:`fit`, tiny negative
    eigenvalues from rounding clipped to 0) the prediction at time :math:`t` is

    .. math::

        f_t(x) = \\Theta(x, X)\\, U\\, \\mathrm{diag}\\big(\\varphi_t(\\lambda_j)\\big)\\, U^\\top \\mathbf y, \\qquad
        \\varphi_t(\\lambda) = \\frac{1 - e^{-\\lambda t/s}}{\\lambda}
        \\quad\\Big(= \\frac ts \\text{ at } \\lambda = 0\\Big),

    with :math:`s = n` for the :math:`\\frac{1}{2n}\\sum` loss (``time_scale="n"``, the book's convention, note
    pitfall 5) and :math:`s = 1` for the :math:`\\frac12\\sum` loss (``time_scale="none"``). Full-batch gradient
    descent with step :math:`\\eta` (``lr``) after :math:`k` steps (``predict(X, steps=k)``) replaces the filter by

    .. math::

        \\varphi_k(\\lambda) = \\frac{1 - (1 - \\eta\\lambda/s)^k}{\\lambda},

    stable iff :math:`\\eta < 2s/\\lambda_{\\max}`; ``lr="auto"`` takes the note's recommended
    :math:`\\eta = s/\\lambda_{\\max}`, and then :math:`t \\approx k\\eta` relates the two. At :math:`t = \\infty`
    (``t=numpy.inf``) the prediction is the minimum-norm interpolant :math:`\\Theta(x,X) K^{+}\\mathbf y`, computed by
    a Cholesky solve when :math:`\\lambda_{\\min} > \\texttt{rcond}\\,\\lambda_{\\max}` and otherwise by the
    pseudo-inverse with eigenvalues below :math:`\\texttt{rcond}\\,\\lambda_{\\max}` set to zero (the only place
    where small eigenvalues are floored, note pitfall 16).

    Parameters
    ----------
    kernel
        ``"precomputed"``: :meth:`fit` takes the training Gram matrix ``K`` of shape ``(n, n)`` and :meth:`predict`
        the cross Gram ``K(X_test, X_train)`` of shape ``(m, n)``, as in scikit-learn. A callable
        ``kernel(X1, X2)`` returning an ``(n1, n2)`` array or tensor: it receives float64 inputs in the container
        that was passed (NumPy stays NumPy, torch stays torch on ``device``); its output is used in float64.
    t
        Default stopping time used by :meth:`predict` (and :meth:`score`) when no ``t``/``steps`` is passed, so that
        scikit-learn tools such as ``GridSearchCV(param_grid={"t": ...})`` work. ``None`` (default) requires an
        explicit ``t`` or ``steps`` in every :meth:`predict` call.
    time_scale
        ``"n"`` (default): exponent :math:`\\lambda t/n`; ``"none"`` (same as ``1``): exponent :math:`\\lambda t`;
        a positive number :math:`s`: exponent :math:`\\lambda t/s`.
    lr
        Step size :math:`\\eta` of the discrete variant (used only with ``steps=``): ``"auto"`` for
        :math:`s/\\lambda_{\\max}`, or a positive number below :math:`2s/\\lambda_{\\max}`.
    rcond
        Relative eigenvalue floor used only at :math:`t = \\infty`.
    device
        Where the linear algebra runs (``None``: CPU). Results are returned as NumPy arrays.

    Attributes
    ----------
    X_fit_
        The training inputs (callable kernel) or the training Gram matrix (``"precomputed"``), in float64.
    eigenvalues_
        Eigenvalues :math:`\\lambda_1 \\le \\dots \\le \\lambda_n` of the training Gram matrix (negative rounding
        clipped to 0), shape ``(n,)``.
    lambda_max_
        :math:`\\lambda_{\\max}`.
    time_scale_
        The resolved divisor :math:`s`.
    lr_
        The resolved step size :math:`\\eta` of the discrete variant.
    n_train_
        Number of training points :math:`n`.
    n_outputs_
        Number of output columns of ``y`` (1 for a 1-D ``y``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 3)); K = np.exp(X @ X.T / 3)
    >>> model = GradientFlowRegressor(kernel="precomputed").fit(K, np.sin(X[:, 0]))
    >>> model.predict(K[:5], t=[1.0, 10.0, np.inf]).shape   # leading axis: the stopping times
    (3, 5)
    """

    def __init__(self, kernel: str | KernelFn = "precomputed", *, t: float | None = None,
                 time_scale: str | float = "n", lr: str | float = "auto", rcond: float = 1e-12,
                 device: torch.device | str | None = None) -> None:
        self.kernel = kernel
        self.t = t
        self.time_scale = time_scale
        self.lr = lr
        self.rcond = rcond
        self.device = device

    # -- scikit-learn plumbing ------------------------------------------------------------------------------
    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"pairwise": self.kernel == "precomputed"}

    # -- helpers --------------------------------------------------------------------------------------------
    def _check_kernel(self) -> None:
        if isinstance(self.kernel, str):
            if self.kernel != "precomputed":
                raise ValueError(f"kernel must be 'precomputed' or a callable, got {self.kernel!r}")
        elif not callable(self.kernel):
            raise TypeError(f"kernel must be 'precomputed' or a callable, got {type(self.kernel).__name__}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "eigenvalues_"):
            raise RuntimeError("this GradientFlowRegressor is not fitted yet: call fit(X, y) first")

    def _gram(self, X: Any, name: str, *, train: bool) -> torch.Tensor:
        """The (cross) Gram matrix against the training set, float64 on the estimator's device."""
        device = self._device
        n = None if train else self.n_train_
        if self.kernel == "precomputed":
            K = _to_tensor(X, name, device)
            if K.ndim != 2:
                raise ValueError(f"{name} must be a 2-D Gram matrix for kernel='precomputed', got shape "
                                 f"{tuple(K.shape)}")
            if train and K.shape[0] != K.shape[1]:
                raise ValueError(f"{name} must be the square training Gram matrix (n, n) for "
                                 f"kernel='precomputed', got shape {tuple(K.shape)}")
            if not train and K.shape[1] != n:
                raise ValueError(f"{name} must be the cross Gram matrix of shape (m, n_train={n}) for "
                                 f"kernel='precomputed', got shape {tuple(K.shape)}")
            return K
        inputs = _float64_like_input(X, name, device)
        if inputs.ndim == 0:
            raise ValueError(f"{name} must have a leading sample axis, got a scalar")
        if train:
            self.X_fit_ = inputs
        else:
            if isinstance(self.X_fit_, np.ndarray) and isinstance(inputs, torch.Tensor):
                inputs = _to_numpy(inputs)
            elif isinstance(self.X_fit_, torch.Tensor) and isinstance(inputs, np.ndarray):
                inputs = torch.as_tensor(inputs, device=self.X_fit_.device)
        left = inputs
        right = inputs if train else self.X_fit_
        K = _to_tensor(self.kernel(left, right), "kernel(X1, X2)", device)
        expected = (left.shape[0], right.shape[0])
        if tuple(K.shape) != expected:
            raise ValueError(f"kernel(X1, X2) must return an array of shape {expected}, got {tuple(K.shape)}")
        return K

    # -- fit ------------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> "GradientFlowRegressor":
        """Factor the training Gram matrix once: :math:`\\Theta(X, X) = U\\Lambda U^\\top`.

        Parameters
        ----------
        X
            Training inputs for a callable kernel, or the ``(n, n)`` training Gram matrix for
            ``kernel="precomputed"``. NumPy array or torch tensor.
        y
            Targets, shape ``(n,)`` or ``(n, k)`` (several outputs, e.g. one-vs-rest targets for classification,
            see :func:`resntk.data.one_hot`).

        Returns
        -------
        GradientFlowRegressor
            ``self``.
        """
        self._check_kernel()
        if isinstance(self.rcond, bool) or not isinstance(self.rcond, numbers.Real) or not 0 <= self.rcond < 1:
            raise ValueError(f"rcond must be a number in [0, 1), got {self.rcond!r}")
        self._device = _resolve_device(self.device)
        K = self._gram(X, "X", train=True)
        n = K.shape[0]
        if n == 0:
            raise ValueError("X must contain at least one training point")
        low, high = torch.aminmax(K)
        scale_abs = max(-float(low), float(high))
        if scale_abs == 0.0:
            raise ValueError("the training Gram matrix is identically zero: the kernel cannot fit anything")
        skew = K - K.T                                   # one transposed pass serves the check and the repair
        low, high = torch.aminmax(skew)
        asym = max(-float(low), float(high))
        if asym > _SYMMETRY_RTOL * scale_abs:
            raise ValueError(f"the training Gram matrix must be symmetric: max |K - K^T| = {asym:.3g} "
                             f"(relative {asym / scale_abs:.3g})")
        K = K.sub(skew, alpha=0.5)                       # (K + K^T) / 2
        del skew
        Y = _to_tensor(y, "y", self._device)
        if Y.ndim not in (1, 2):
            raise ValueError(f"y must have shape (n,) or (n, k), got shape {tuple(Y.shape)}")
        if Y.shape[0] != n:
            raise ValueError(f"y must have n = {n} rows (one per training point), got {Y.shape[0]}")
        self._y_1d = Y.ndim == 1
        Y2 = Y[:, None] if self._y_1d else Y
        if Y2.shape[1] == 0:
            raise ValueError("y must have at least one output column")

        basis = _eigen_basis(K)
        lam = basis.lam
        lam_max = float(lam[-1])
        if lam_max <= 0:
            raise ValueError("the training Gram matrix has no positive eigenvalue")
        lam_min = float(lam[0])
        if lam_min < -_PSD_RTOL * lam_max:
            raise ValueError(f"the training Gram matrix is not positive semi-definite: lambda_min = {lam_min:.3g}, "
                             f"lambda_max = {lam_max:.3g}")
        lam = lam.clamp_min(0.0)

        s = _resolve_time_scale(self.time_scale, n)
        if isinstance(self.lr, str):
            if self.lr != "auto":
                raise ValueError(f"lr must be 'auto' or a positive number, got {self.lr!r}")
            lr = s / lam_max
        elif isinstance(self.lr, bool) or not isinstance(self.lr, numbers.Real):
            raise TypeError(f"lr must be 'auto' or a positive number, got {type(self.lr).__name__}")
        else:
            lr = float(self.lr)
            if not (math.isfinite(lr) and lr > 0):
                raise ValueError(f"lr must be positive and finite, got {self.lr!r}")

        if self.kernel == "precomputed":
            self.X_fit_ = _to_numpy(K) if not isinstance(X, torch.Tensor) else K
        self._K = K
        self._basis = basis
        self._lam = lam
        self._coef = basis.to_eig(Y2)             # U^T y, shape (n, k)
        self._Y = Y2
        self._coef_inf: torch.Tensor | None = None
        self.eigenvalues_ = _to_numpy(lam)
        self.lambda_max_ = lam_max
        self.time_scale_ = s
        self.lr_ = lr
        self.n_train_ = n
        self.n_outputs_ = int(Y2.shape[1])
        return self

    # -- the spectral coefficients --------------------------------------------------------------------------
    def _interpolation_coef(self) -> torch.Tensor:
        """:math:`K^{+}\\mathbf y`: Cholesky solve when well conditioned, floored pseudo-inverse otherwise."""
        if self._coef_inf is None:
            floor = float(self.rcond) * self.lambda_max_
            coef = None
            if float(self._lam[0]) > floor:
                L, info = torch.linalg.cholesky_ex(self._K)
                if int(info) == 0:
                    coef = torch.cholesky_solve(self._Y, L)
            if coef is None:
                keep = self._lam > floor
                inv = torch.where(keep, 1.0 / torch.where(keep, self._lam, torch.ones_like(self._lam)),
                                  torch.zeros_like(self._lam))
                coef = self._basis.from_eig(inv[:, None] * self._coef)
            self._coef_inf = coef
        return self._coef_inf

    def _filters(self, t: Any, steps: Any) -> tuple[torch.Tensor, np.ndarray, bool]:
        """Filter values ``(T, n)`` (rows for ``t = inf`` are zero), the times, and whether a scalar was passed."""
        if t is not None and steps is not None:
            raise ValueError("pass either t (gradient flow) or steps (gradient descent), not both")
        if t is None and steps is None:
            if self.t is None:
                raise ValueError("predict needs a stopping time: pass t=... (or steps=... for gradient descent), "
                                 "or set t in the constructor")
            t = self.t
        lam = self._lam
        if steps is not None:
            k, scalar = _check_steps(steps)
            bound = 2.0 * self.time_scale_ / self.lambda_max_
            if self.lr_ >= bound:
                raise ValueError(f"lr = {self.lr_:.6g} is not below the stability bound 2 s / lambda_max = "
                                 f"{bound:.6g}: gradient descent would diverge")
            phi = _gd_filter(lam, torch.as_tensor(k, device=lam.device), self.lr_, self.time_scale_)
            return phi, k, scalar
        times, scalar = _check_times(t)
        finite = np.where(np.isinf(times), 0.0, times)
        phi = _flow_filter(lam, torch.as_tensor(finite, device=lam.device), self.time_scale_)
        return phi, times, scalar

    def _dual(self, phi: torch.Tensor, times: np.ndarray) -> torch.Tensor:
        """Dual coefficients :math:`c_t = U\\,\\mathrm{diag}(\\varphi_t)\\,U^\\top\\mathbf y`, shape ``(T, n, k)``."""
        T = phi.shape[0]
        n, k = self._coef.shape
        weighted = phi.T[:, :, None] * self._coef[:, None, :]          # (n, T, k)
        coefs = self._basis.from_eig(weighted.reshape(n, T * k)).reshape(n, T, k).permute(1, 0, 2).contiguous()
        infinite = np.isinf(times)
        if infinite.any():
            coefs[torch.as_tensor(infinite, device=coefs.device)] = self._interpolation_coef()
        return coefs

    def _finish(self, out: torch.Tensor, scalar: bool) -> np.ndarray:
        if self._y_1d:
            out = out[..., 0]
        if scalar:
            out = out[0]
        return _to_numpy(out)

    # -- public prediction API ------------------------------------------------------------------------------
    def dual_coef(self, t: Any = None, *, steps: Any = None) -> np.ndarray:
        """The dual coefficients :math:`c_t` with :math:`f_t(x) = \\Theta(x, X)\\,c_t`.

        Parameters
        ----------
        t, steps
            As in :meth:`predict`.

        Returns
        -------
        numpy.ndarray
            Shape ``(n,)`` or ``(n, k)`` for a scalar time; with a leading axis of length ``len(t)`` otherwise.
        """
        self._check_fitted()
        phi, times, scalar = self._filters(t, steps)
        return self._finish(self._dual(phi, times), scalar)

    def predict(self, X: Any, t: Any = None, *, steps: Any = None) -> np.ndarray:
        """Predictions :math:`f_t(x)` of kernel gradient flow (or :math:`k` steps of gradient descent) from 0.

        Parameters
        ----------
        X
            Test inputs for a callable kernel, or the cross Gram matrix ``K(X_test, X_train)`` of shape ``(m, n)``
            for ``kernel="precomputed"``.
        t
            A stopping time or a 1-D array of them, non-negative; ``numpy.inf`` gives the minimum-norm interpolant.
            Defaults to the constructor's ``t``.
        steps
            Instead of ``t``: a number (or 1-D array) of full-batch gradient-descent steps with step size ``lr_``.

        Returns
        -------
        numpy.ndarray
            Shape ``(m,)`` (``(m, k)`` for multi-output ``y``) for a scalar time; for an array of times the leading
            axis runs over the times: ``(T, m)`` or ``(T, m, k)``.
        """
        self._check_fitted()
        K = self._gram(X, "X", train=False)
        phi, times, scalar = self._filters(t, steps)
        T = phi.shape[0]
        n, k = self._coef.shape
        m = K.shape[0]
        infinite = np.isinf(times)
        if T * k <= m or infinite.any():
            # coefficients first: O(n^2 T k + m n T k)
            coefs = self._dual(phi, times)                               # (T, n, k)
            out = (K @ coefs.permute(1, 0, 2).reshape(n, T * k)).reshape(m, T, k).permute(1, 0, 2)
        else:
            # project the test Gram first: O(m n^2 + m n T k), cheaper when T k > m
            P = self._basis.to_eig(K.T.contiguous()).T                   # K(x, X) U, shape (m, n)
            weighted = phi.T[:, :, None] * self._coef[:, None, :]       # (n, T, k)
            out = (P @ weighted.reshape(n, T * k)).reshape(m, T, k).permute(1, 0, 2)
        return self._finish(out, scalar)


# --------------------------------------------------------------------------------------------------------------
# early stopping
# --------------------------------------------------------------------------------------------------------------

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
        The candidate times, shape ``(T,)``.
    errors
        Mean squared error of each candidate on the validation (or oracle) set, shape ``(T,)``.
    """

    best: float
    index: int
    times: np.ndarray
    errors: np.ndarray

    @property
    def best_error(self) -> float:
        """The smallest error, at :attr:`best`."""
        return float(self.errors[self.index])


def select_stopping_time(estimator: GradientFlowRegressor, X_val: Any, y_val: Any, times: Any = None, *,
                         steps: Any = None) -> StoppingTime:
    """Pick the stopping time with the smallest mean squared error on held-out data.

    .. math::

        \\hat t = \\arg\\min_{t \\in \\text{times}} \\frac{1}{m k}\\sum_{i=1}^m \\|f_t(x^{\\rm val}_i) - y^{\\rm val}_i\\|^2 .

    All candidates come from one :meth:`GradientFlowRegressor.predict` call. Passing the noiseless target values
    :math:`f^*(x)` of a test set as ``y_val`` gives the *oracle* stopping time used in the note's §5.8 experiments.

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
    if times is not None:
        preds = estimator.predict(X_val, t=grid_arr)
    else:
        preds = estimator.predict(X_val, steps=grid_arr)
    target = _to_numpy(_to_tensor(y_val, "y_val", torch.device("cpu")))
    if target.shape != preds.shape[1:]:
        raise ValueError(f"y_val must have shape {preds.shape[1:]} to match the predictions, got {target.shape}")
    errors = excess_risk(preds, target)
    index = int(np.argmin(errors))
    return StoppingTime(best=float(grid_arr[index]), index=index, times=grid_arr.astype(np.float64),
                        errors=np.asarray(errors))


def early_stopping_by_validation(estimator: GradientFlowRegressor, X: Any, y: Any, times: Any, *,
                                 val_fraction: float = 0.2, seed: int = 0
                                 ) -> tuple[GradientFlowRegressor, StoppingTime]:
    """Hold out a random fraction of the data, fit on the rest and stop where the held-out error is smallest.

    The returned estimator is a fitted :func:`sklearn.base.clone` of ``estimator`` trained on the
    :math:`(1 - \\texttt{val\\_fraction})\\,n` remaining points, with its ``t`` set to the selected time, so
    ``model.predict(X_test)`` predicts at :math:`\\hat t`. It is not refitted on all :math:`n` points: the optimal
    time depends on the sample size (:func:`theoretical_stopping_time`), so the selected time belongs to the
    estimator it was selected for.

    Parameters
    ----------
    estimator
        An unfitted (or fitted; it is cloned) :class:`GradientFlowRegressor`.
    X
        Inputs, or the full ``(n, n)`` Gram matrix for ``kernel="precomputed"`` (sliced into train and validation
        blocks here).
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
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    n = len(y)
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n_val > n - 1:
        raise ValueError(f"val_fraction={val_fraction} leaves no training or no validation point for n = {n}")
    perm = np.random.default_rng(seed).permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    model = clone(estimator)
    if model.kernel == "precomputed":
        K = X if isinstance(X, torch.Tensor) else np.asarray(X)
        if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] != n:
            raise ValueError(f"X must be the full (n, n) Gram matrix with n = {n} for kernel='precomputed', "
                             f"got shape {tuple(K.shape)}")
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
    """The minimax-optimal stopping time :math:`t^* = c\\,n^{d/(2d-1)}` (note §3.11, Result B).

    For inputs on :math:`\\mathbb S^{d-1}` the eigenvalues of the (normalised) residual NTK decay like
    :math:`\\lambda_j \\asymp j^{-d/(d-1)}`; gradient flow in the ``time_scale="n"`` convention acts like ridge
    regression with regularisation :math:`1/t`, whose optimal value is :math:`n^{-d/(2d-1)}`. Only the order is
    determined by the theory; ``scale`` is the constant :math:`c`.

    Parameters
    ----------
    n
        Sample size, at least 1.
    dim
        The ambient dimension :math:`d` (points on :math:`\\mathbb S^{d-1} \\subset \\mathbb R^d`), at least 2.
    scale
        Positive constant :math:`c`.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2 (points on S^(dim-1)), got {dim!r}")
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return float(scale) * float(n) ** (dim / (2.0 * dim - 1.0))


def excess_risk(pred: Any, f_star_values: Any) -> float | np.ndarray:
    """Mean squared difference between predictions and the target function's values.

    .. math::

        \\widehat{\\mathcal E}(f) = \\frac{1}{m k}\\sum_{i=1}^{m} \\|f(x_i) - f^*(x_i)\\|^2 ,

    the Monte Carlo estimate of :math:`\\|f - f^*\\|_{L^2(\\mu)}^2` on test points :math:`x_i \\sim \\mu` (note §2.5).

    Parameters
    ----------
    pred
        Predictions of shape ``S``, or ``(T,) + S`` for ``T`` stopping times (as returned by
        :meth:`GradientFlowRegressor.predict` with an array of times).
    f_star_values
        :math:`f^*` at the same points, shape ``S`` (``(m,)`` or ``(m, k)``).

    Returns
    -------
    float or numpy.ndarray
        A float, or an array of shape ``(T,)``.
    """
    P = _to_numpy(_to_tensor(pred, "pred", torch.device("cpu")))
    F = _to_numpy(_to_tensor(f_star_values, "f_star_values", torch.device("cpu")))
    if F.ndim == 0 or F.size == 0:
        raise ValueError("f_star_values must be a non-empty array of shape (m,) or (m, k)")
    if P.shape == F.shape:
        return float(np.mean((P - F) ** 2))
    if P.ndim == F.ndim + 1 and P.shape[1:] == F.shape:
        return np.mean((P - F) ** 2, axis=tuple(range(1, P.ndim)))
    raise ValueError(f"pred must have shape {F.shape} or (T,) + {F.shape} to match f_star_values, got {P.shape}")


# --------------------------------------------------------------------------------------------------------------
# rate fits
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RateFit:
    """A least-squares power law :math:`\\text{err} \\approx e^{a}\\,n^{b}` fitted on a log-log scale.

    Attributes
    ----------
    slope
        The exponent :math:`b`.
    intercept
        :math:`a` (natural logarithm).
    ci_low, ci_high
        The two-sided confidence interval for :math:`b` (Student :math:`t` with ``dof`` degrees of freedom).
    stderr
        Standard error of :math:`b`.
    dof
        Degrees of freedom, number of points minus 2.
    confidence
        The confidence level of the interval.
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    stderr: float
    dof: int
    confidence: float

    def predict(self, n: Any) -> np.ndarray:
        """The fitted power law :math:`e^{a} n^{b}` at ``n``."""
        return np.exp(self.intercept) * np.asarray(n, dtype=np.float64) ** self.slope


def fit_rate(n: Any, err: Any, confidence: float = 0.95) -> RateFit:
    """Fit :math:`\\log \\text{err} = a + b \\log n` by least squares, with a confidence interval for :math:`b`.

    .. math::

        \\hat b = \\frac{\\sum (u_i - \\bar u)(v_i - \\bar v)}{\\sum (u_i - \\bar u)^2}, \\qquad
        \\mathrm{se}(\\hat b) = \\sqrt{\\frac{\\sum r_i^2 / (N-2)}{\\sum (u_i - \\bar u)^2}}, \\qquad
        \\hat b \\pm t_{N-2,\\,(1+c)/2}\\,\\mathrm{se}(\\hat b),

    with :math:`u = \\log n`, :math:`v = \\log \\text{err}`, residuals :math:`r`, :math:`N` points (repeated
    values of :math:`n`, e.g. several seeds, are allowed) and confidence :math:`c`. The interval assumes
    independent, homoscedastic Gaussian errors on the log scale; it is what the book reports next to a measured
    rate such as the minimax :math:`-d/(2d-1)` (note §5.8, "Rate on :math:`\\mathbb S^1`").

    Parameters
    ----------
    n
        Sample sizes (positive), 1-D.
    err
        Errors (positive), same length, at least 3 points and at least two distinct ``n``.
    confidence
        In ``(0, 1)``.

    Returns
    -------
    RateFit
    """
    u = _to_numpy(_to_tensor(n, "n", torch.device("cpu")))
    v = _to_numpy(_to_tensor(err, "err", torch.device("cpu")))
    if u.ndim != 1 or v.ndim != 1:
        raise ValueError(f"n and err must be 1-D, got shapes {u.shape} and {v.shape}")
    if u.shape != v.shape:
        raise ValueError(f"n and err must have the same length, got {u.size} and {v.size}")
    if u.size < 3:
        raise ValueError(f"n must hold at least 3 points for a confidence interval, got {u.size}")
    if (u <= 0).any():
        raise ValueError("n must be positive (it is fitted on a log scale)")
    if (v <= 0).any():
        raise ValueError("err must be positive (it is fitted on a log scale)")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    lu, lv = np.log(u), np.log(v)
    du = lu - lu.mean()
    sxx = float(du @ du)
    if sxx == 0.0:
        raise ValueError("n must contain at least two distinct values")
    slope = float(du @ (lv - lv.mean())) / sxx
    intercept = float(lv.mean() - slope * lu.mean())
    resid = lv - (intercept + slope * lu)
    dof = u.size - 2
    stderr = math.sqrt(float(resid @ resid) / dof / sxx)
    q = float(stats.t.ppf(0.5 + confidence / 2.0, dof))
    return RateFit(slope=slope, intercept=intercept, ci_low=slope - q * stderr, ci_high=slope + q * stderr,
                   stderr=stderr, dof=dof, confidence=float(confidence))
