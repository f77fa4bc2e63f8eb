"""A model-agnostic training loop, its callbacks, and kernel gradient descent (note §2.6–2.7; book Part I–II).

The loop is plain (stochastic) gradient descent on the parameters that require gradients,

.. math::

    \\theta_{k+1} = \\theta_k - \\eta\\, \\nabla_\\theta \\mathcal L(\\theta_k), \\qquad
    \\mathcal L(\\theta) = \\frac{1}{2n} \\sum_{i=1}^n \\lVert f(x_i;\\theta) - y_i \\rVert^2

(the note's convention, pitfall 5: with it, gradient flow for time :math:`t` matches :math:`e^{-\\Theta t/n}`),
or the mean cross-entropy for classification. Its infinite-width counterpart is discrete kernel gradient descent on
the function values (note §2.7), :func:`kernel_gd_predictions`, started from :math:`f_0 = 0` as the mirrored
initialisation of :class:`~resntk.models.ScaledResNet` makes the network start. :func:`lr_from_ntk` is the step
rule :math:`\\eta = n / \\lambda_{\\max}(\\Theta(X, X))` (note §2.7 and pitfall 4).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from . import _progress

__all__ = [
    "History",
    "Callback",
    "LossCallback",
    "PredictionCallback",
    "NTKCallback",
    "train",
    "lr_from_ntk",
    "kernel_gd_predictions",
    "LOSSES",
]

LOSSES = ("mse", "cross_entropy")


# ---------------------------------------------------------------------------------------------- history & callbacks
@dataclass
class History:
    """What :func:`train` logged.

    Attributes
    ----------
    steps
        Step indices at which the losses were logged (0 = before any update; step ``k`` = after ``k`` updates).
    train_loss
        Full-training-set loss at those steps.
    test_loss
        Test-set loss at those steps (empty if no test set was given).
    records
        What each callback returned, keyed by the callback's ``name``: a list of dicts, each with the ``"step"`` it
        was recorded at.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    records: dict[str, list] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A plain dict ``{"steps", "train_loss", "test_loss", "records"}`` (copies of the lists)."""
        return {
            "steps": list(self.steps),
            "train_loss": list(self.train_loss),
            "test_loss": list(self.test_loss),
            "records": {k: list(v) for k, v in self.records.items()},
        }


@runtime_checkable
class Callback(Protocol):
    """Any callable ``cb(step, model, history) -> dict | None`` with a ``name`` attribute.

    :func:`train` calls every callback at step 0 and after every update; a returned dict is appended (with the
    ``"step"`` added) to ``history.records[cb.name]``, ``None`` records nothing.
    """

    name: str

    def __call__(self, step: int, model: nn.Module, history: History) -> dict | None: ...


def _check_every(every: object) -> int:
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int, got {every!r}")
    return every


class _EveryK:
    """Base of the provided callbacks: record at steps that are multiples of ``every``."""

    name: str

    def __init__(self, every: int, name: str) -> None:
        self.every = _check_every(every)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        self.name = name

    def __call__(self, step: int, model: nn.Module, history: History) -> dict | None:
        if step % self.every:
            return None
        return self.record(model)

    def record(self, model: nn.Module) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


class PredictionCallback(_EveryK):
    """Record the model's outputs on fixed inputs ``X`` every ``every`` steps (``{"predictions": float64 cpu}``)."""

    def __init__(self, X: torch.Tensor, every: int = 1, name: str = "predictions") -> None:
        super().__init__(every, name)
        self.X = _check_tensor(X, "X")

    def record(self, model: nn.Module) -> dict:
        return {"predictions": _predict(model, self.X).detach().to("cpu", torch.float64)}


class LossCallback(_EveryK):
    """Record the loss (same convention as :func:`train`) on an extra data set every ``every`` steps."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, loss: str = "mse", every: int = 1,
                 name: str = "loss") -> None:
        super().__init__(every, name)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.X = _check_tensor(X, "X")
        self.y = _check_tensor(y, "y")
        if self.y.shape[0] != self.X.shape[0]:
            raise ValueError(f"y must have {self.X.shape[0]} rows like X, got {self.y.shape[0]}")
        self.loss = loss

    def record(self, model: nn.Module) -> dict:
        with torch.no_grad():
            out = _predict(model, self.X)
            return {"loss": float(_loss(out, self.y.to(out.device), self.loss))}


class NTKCallback(_EveryK):
    """Record the empirical NTK :math:`\\hat\\Theta_t(x_1, x_2)` every ``every`` steps (``{"ntk": float64 cpu}``).

    Tracks how far the tangent kernel moves during training (lazy training, note Result A). See
    :func:`resntk.empirical.empirical_ntk` for ``method``.
    """

    def __init__(self, x1: torch.Tensor, x2: torch.Tensor | None = None, every: int = 10, method: str = "auto",
                 name: str = "ntk") -> None:
        super().__init__(every, name)
        self.x1 = _check_tensor(x1, "x1")
        self.x2 = None if x2 is None else _check_tensor(x2, "x2")
        self.method = method

    def record(self, model: nn.Module) -> dict:
        from .empirical import empirical_ntk

        return {"ntk": empirical_ntk(model, self.x1, self.x2, method=self.method).to("cpu")}


# ---------------------------------------------------------------------------------------------- helpers
def _check_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must have a leading sample axis with at least one sample, got shape {tuple(x.shape)}")
    if x.dtype.is_floating_point and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return x


def _param_like(model: nn.Module) -> torch.Tensor | None:
    return next(iter(model.parameters()), None)


def _predict(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    p = _param_like(model)
    if p is not None:
        X = X.to(device=p.device, dtype=p.dtype if X.dtype.is_floating_point else X.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(X)
    finally:
        model.train(was_training)


def _loss(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """``mse``: :math:`\\frac{1}{2n}\\sum_i \\lVert f(x_i) - y_i\\rVert^2`; ``cross_entropy``: mean cross-entropy."""
    n = out.shape[0]
    if kind == "mse":
        y = y.to(out.dtype)
        if out.ndim == 2 and out.shape[1] == 1 and y.ndim == 1:
            y = y[:, None]
        elif out.ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != out.shape:
            raise ValueError(f"y must have the shape of the model output {tuple(out.shape)} for loss='mse', "
                             f"got {tuple(y.shape)}")
        return 0.5 * ((out - y) ** 2).sum() / n
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"loss='cross_entropy' needs logits of shape (n, k) with k >= 2, got {tuple(out.shape)}")
    if y.dtype.is_floating_point or y.ndim != 1:
        raise ValueError(f"y must hold integer class labels of shape (n,) for loss='cross_entropy', "
                         f"got dtype {y.dtype} and shape {tuple(y.shape)}")
    return torch.nn.functional.cross_entropy(out, y)


def _interactive() -> bool:
    """A notebook kernel or a terminal on stderr."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
            return True
    except ImportError:  # pragma: no cover
        pass
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


# ---------------------------------------------------------------------------------------------- the loop
def train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float, loss: str = "mse",
          batch_size: int | None = None, X_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
          callbacks: Sequence[Callback] = (), log_every: int = 1, seed: int = 0,
          progress: bool | None = None) -> History:
    """Train ``model`` in place by plain (stochastic) gradient descent and return its :class:`History`.

    .. math::

        \\theta_{k+1} = \\theta_k - \\eta \\nabla_\\theta \\mathcal L_{B_k}(\\theta_k),\\qquad
        \\mathcal L_B(\\theta) = \\frac{1}{2|B|}\\sum_{i\\in B} \\lVert f(x_i;\\theta) - y_i \\rVert^2
        \\ \\text{(``mse``)},

    with :math:`B_k` the whole training set (full-batch GD, ``batch_size=None``) or a minibatch. This is
    ``torch.optim.SGD(lr=lr)`` on the parameters with ``requires_grad=True``.

    Parameters
    ----------
    model
        Any ``torch.nn.Module``; outputs ``(n,)``, ``(n, 1)`` or ``(n, k)`` are accepted for ``mse``, logits
        ``(n, k)`` for ``cross_entropy``. Inputs are moved to the device and floating dtype of its parameters.
    X, y
        Training inputs ``(n, ...)`` and targets (real ``(n,)``/``(n, k)`` for ``mse``, integer labels ``(n,)`` for
        ``cross_entropy``). Non-finite values are rejected.
    steps
        Number of parameter updates (``>= 0``).
    lr
        Step size :math:`\\eta > 0` (see :func:`lr_from_ntk`).
    loss
        ``"mse"`` (the note's :math:`\\frac{1}{2n}\\sum` convention) or ``"cross_entropy"`` (mean).
    batch_size
        ``None`` for full-batch GD; otherwise minibatch SGD with batches drawn without replacement from a fresh
        random permutation per epoch (the incomplete tail of an epoch is dropped), seeded by ``seed``.
    X_test, y_test
        Optional test set (both or neither); its loss is logged with the training loss.
    callbacks
        :class:`Callback` objects, called at step 0 and after every update; see :class:`PredictionCallback`,
        :class:`LossCallback`, :class:`NTKCallback`.
    log_every
        Log the losses every ``log_every`` steps (step 0 and the last step are always logged).
    seed
        Seed of the minibatch order (a private generator; the global RNG is not touched).
    progress
        ``True``/``False`` to force the tqdm bar on/off; ``None`` shows it in a notebook or terminal and stays
        quiet under pytest, in the book build and when stderr is not a terminal.

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        If the loss becomes non-finite (the step is too large: try ``lr_from_ntk``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no parameter with requires_grad=True: nothing to train")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be a positive int, got {log_every!r}")
    X, y = _check_tensor(X, "X"), _check_tensor(y, "y")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows like X, got {y.shape[0]}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or not 1 <= batch_size <= n):
        raise ValueError(f"batch_size must be None or an int in [1, n={n}], got {batch_size!r}")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test, y_test = _check_tensor(X_test, "X_test"), _check_tensor(y_test, "y_test")
        if y_test.shape[0] != X_test.shape[0]:
            raise ValueError(f"y_test must have {X_test.shape[0]} rows like X_test, got {y_test.shape[0]}")
    for cb in callbacks:
        if not callable(cb) or not isinstance(getattr(cb, "name", None), str):
            raise TypeError(f"every callback must be callable with a str `name` attribute, got {cb!r}")

    ref = params[0]
    to_model = lambda t: t.to(device=ref.device, dtype=ref.dtype if t.dtype.is_floating_point else t.dtype)  # noqa: E731
    X, y = to_model(X), y.to(ref.device)
    if X_test is not None:
        X_test, y_test = to_model(X_test), y_test.to(ref.device)

    history = History(records={cb.name: [] for cb in callbacks})
    optimizer = torch.optim.SGD(params, lr=float(lr))
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []

    def batch() -> torch.Tensor | None:
        nonlocal order
        if batch_size is None:
            return None
        if len(order) < batch_size:
            order = torch.randperm(n, generator=gen).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        return torch.tensor(idx, device=ref.device)

    def check(value: float, step: int) -> float:
        if not math.isfinite(value):
            raise FloatingPointError(f"the training loss became non-finite ({value}) at step {step}: lr={lr} is "
                                     "too large (for MSE try lr_from_ntk)")
        return value

    def log(step: int, train_value: float | None) -> None:
        if train_value is None:
            with torch.no_grad():
                train_value = float(_loss(_predict(model, X), y, loss))
        history.steps.append(step)
        history.train_loss.append(check(train_value, step))
        if X_test is not None:
            with torch.no_grad():
                history.test_loss.append(float(_loss(_predict(model, X_test), y_test, loss)))

    def run_callbacks(step: int) -> None:
        for cb in callbacks:
            out = cb(step, model, history)
            if out is not None:
                history.records[cb.name].append({"step": step, **out})

    enabled = progress
    if progress is None and not _progress.quiet() and not _interactive():
        enabled = False
    model.train()
    run_callbacks(0)
    iterator = _progress.progress(range(steps), desc="train", total=steps, enabled=enabled)
    for k in iterator:
        idx = batch()
        out = model(X if idx is None else X[idx])
        value = _loss(out, y if idx is None else y[idx], loss)
        if k % log_every == 0:
            # full-batch GD: the loss of this forward pass *is* the training loss at step k (no second pass)
            log(k, float(value.detach()) if idx is None else None)
        else:
            check(float(value.detach()), k)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        run_callbacks(k + 1)
    if not history.steps or history.steps[-1] != steps:
        log(steps, None)
    return history


# ---------------------------------------------------------------------------------------------- kernel dynamics
def _as_kernel(K: object, name: str) -> torch.Tensor:
    if not isinstance(K, torch.Tensor):
        try:
            K = torch.as_tensor(K)
        except Exception as err:  # noqa: BLE001
            raise TypeError(f"{name} must be a tensor or array, got {type(K).__name__}") from err
    if K.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(K.shape)}")
    K = K.to(torch.float64)
    if not bool(torch.isfinite(K).all()):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return K


def _symmetric_psd(K: torch.Tensor, name: str) -> torch.Tensor:
    if K.shape[0] != K.shape[1] or K.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {tuple(K.shape)}")
    scale = float(K.abs().max())
    if float((K - K.T).abs().max()) > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"{name} must be symmetric")
    return 0.5 * (K + K.T)


def lr_from_ntk(ntk_train: torch.Tensor, n: int | None = None) -> float:
    """The gradient-descent step :math:`\\eta = n / \\lambda_{\\max}(\\Theta(X, X))` (note §2.7, pitfall 4).

    With the :math:`\\frac{1}{2n}\\sum` loss, GD in the kernel regime is
    :math:`f \\leftarrow f - \\frac{\\eta}{n}\\Theta(X,X)(f - y)`, stable iff :math:`\\eta < 2n/\\lambda_{\\max}`;
    this rule takes half the stability limit, so the top eigen-direction is fitted in one step.

    Parameters
    ----------
    ntk_train
        The symmetric positive semi-definite ``(n, n)`` NTK Gram matrix of the training inputs (analytic or
        empirical).
    n
        The number of samples the loss averages over; defaults to ``ntk_train.shape[0]`` (full batch).

    Returns
    -------
    float
    """
    K = _symmetric_psd(_as_kernel(ntk_train, "ntk_train"), "ntk_train")
    if n is None:
        n = K.shape[0]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    lam_max = float(torch.linalg.eigvalsh(K)[-1])
    if not lam_max > 0:
        raise ValueError(f"ntk_train must have a positive top eigenvalue, got {lam_max}")
    return n / lam_max


def kernel_gd_predictions(ntk_train: torch.Tensor, ntk_test_train: torch.Tensor, y: torch.Tensor, lr: float,
                          steps: int | Sequence[int]) -> torch.Tensor:
    """Predictions of discrete kernel gradient descent from :math:`f_0 = 0` (note §2.7).

    .. math::

        f_{k+1}(x) = f_k(x) - \\frac{\\eta}{n}\\,\\Theta(x, X)\\big(f_k(X) - \\mathbf y\\big),\\qquad f_0 = 0,

    evaluated in closed form with :math:`\\Theta(X,X) = U\\Lambda U^\\top`:

    .. math::

        f_k(x) = \\Theta(x, X)\\, U\\, \\mathrm{diag}\\!\\Big(\\frac{1 - (1 - \\eta\\lambda_j/n)^k}{\\lambda_j}\\Big)
                 U^\\top \\mathbf y ,

    with :math:`1-(1-a)^k` computed as ``-expm1(k * log1p(-a))`` for :math:`a < 1` (accurate for tiny
    eigenvalues; the filter tends to :math:`k\\eta/n` as :math:`\\lambda \\to 0`). This is what a GD-trained,
    mirrored wide network tracks (Result A); :math:`\\eta k` plays the role of the time :math:`t` of gradient flow.

    Parameters
    ----------
    ntk_train
        :math:`\\Theta(X, X)`, symmetric PSD, ``(n, n)``.
    ntk_test_train
        :math:`\\Theta(x, X)` for the evaluation points, ``(n_test, n)`` (pass ``ntk_train`` for the training fit).
    y
        Targets ``(n,)`` or ``(n, k)``.
    lr
        Step :math:`\\eta > 0` (same meaning as in :func:`train`).
    steps
        Number of steps :math:`k \\ge 0`, or a sequence of them.

    Returns
    -------
    torch.Tensor
        float64 predictions ``(n_test,)`` / ``(n_test, k)``, or stacked ``(len(steps), n_test[, k])`` for a
        sequence of step counts.
    """
    K = _symmetric_psd(_as_kernel(ntk_train, "ntk_train"), "ntk_train")
    Kx = _as_kernel(ntk_test_train, "ntk_test_train").to(K.device)
    n = K.shape[0]
    if Kx.shape[1] != n:
        raise ValueError(f"ntk_test_train must have {n} columns (one per training point), got {Kx.shape[1]}")
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(y)
    y = y.to(torch.float64).to(K.device)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"y must have shape (n,) or (n, k) with n={n}, got {tuple(y.shape)}")
    if not bool(torch.isfinite(y).all()):
        raise ValueError("y contains non-finite values (NaN or inf)")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    single = isinstance(steps, int) and not isinstance(steps, bool)
    step_list = [steps] if single else list(steps)  # type: ignore[arg-type]
    for s in step_list:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"steps must be an int >= 0 or a sequence of them, got {steps!r}")

    lam, U = torch.linalg.eigh(K)
    a = lr * lam / n
    proj = U.T @ y                      # U^T y
    left = Kx @ U                       # Theta(x, X) U
    preds = []
    if float(a.max()) > 2 and max(step_list) > 0:
        raise ValueError(f"lr={lr} is unstable: lr * lambda_max / n = {float(a.max()):.3g} > 2 (use lr_from_ntk)")
    small = a < 1
    log_factor = torch.log1p(-torch.where(small, a, torch.zeros_like(a)))
    zero = lam == 0
    for s in step_list:
        one_minus_pow = torch.where(small, -torch.expm1(s * log_factor), 1 - (1 - a) ** s)
        filt = torch.where(zero, torch.full_like(lam, s * lr / n),
                           one_minus_pow / torch.where(zero, torch.ones_like(lam), lam))
        coef = filt[:, None] * proj if proj.ndim == 2 else filt * proj
        preds.append(left @ coef)
    return preds[0] if single else torch.stack(preds)
