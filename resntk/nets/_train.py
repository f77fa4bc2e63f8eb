r"""A model-agnostic training loop and its callbacks.

Book: Chapter 3 ("The neural tangent kernel"), Theorem `ntk-thm-result-a`, and Chapter 8 ("Wide ResNets train like
kernel regression"). The loop is plain (stochastic) gradient descent on the parameters that require gradients,

.. math::

    \theta_{k+1} = \theta_k - \eta\, \nabla_\theta \mathcal L(\theta_k), \qquad
    \mathcal L(\theta) = \frac{1}{2n} \sum_{i=1}^n \lVert f(x_i;\theta) - y_i \rVert^2 ,

or the mean cross-entropy for classification. With the :math:`\tfrac{1}{2n}` convention gradient flow for time
:math:`t` matches :math:`e^{-\Theta t/n}`; its infinite-width counterpart is discrete kernel gradient descent from
:math:`f_0 = 0` (``resntk.regression.GradientFlowRegressor(lr=...).fit(K, y).predict(K_test, steps=k)``), and
:func:`resntk.regression.lr_from_ntk` gives the step :math:`\eta = n/\lambda_{\max}`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch
from torch import nn

from .._conventions import LOSSES, loss_value
from .._validation import as_batch, check_bool, check_choice, check_int, check_real

T = TypeVar("T")


@dataclass
class History:
    """What :func:`train` logged.

    Attributes
    ----------
    steps
        Step indices at which the losses were logged (0 = before any update; ``k`` = after ``k`` updates).
    train_loss
        Full-training-set loss at those steps.
    test_loss
        Test-set loss at those steps (empty if no test set was given).
    records
        What each callback returned, keyed by the callback's ``name``: a list of dicts, each with its ``"step"``.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    records: dict[str, list] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A plain dict ``{"steps", "train_loss", "test_loss", "records"}`` (copies of the lists)."""
        return {"steps": list(self.steps), "train_loss": list(self.train_loss), "test_loss": list(self.test_loss),
                "records": {k: list(v) for k, v in self.records.items()}}


@runtime_checkable
class Callback(Protocol):
    """Any callable ``cb(step, model, history) -> dict | None`` with a ``name`` attribute.

    :func:`train` calls every callback at step 0 and after every update; a returned dict is appended (with the
    ``"step"`` added) to ``history.records[cb.name]``, ``None`` records nothing.
    """

    name: str

    def __call__(self, step: int, model: nn.Module, history: History) -> dict | None: ...


class _EveryK:
    """Base of the provided callbacks: record at steps that are multiples of ``every``."""

    name: str

    def __init__(self, every: int, name: str) -> None:
        self.every = check_int(every, "every", minimum=1)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        self.name = name

    def __call__(self, step: int, model: nn.Module, history: History) -> dict | None:
        return None if step % self.every else self.record(model)

    def record(self, model: nn.Module) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


class PredictionCallback(_EveryK):
    """Record the model's outputs on fixed inputs ``X`` every ``every`` steps (``{"predictions": float64 cpu}``)."""

    def __init__(self, X: torch.Tensor | np.ndarray, every: int = 1, name: str = "predictions") -> None:
        super().__init__(every, name)
        self.X = as_batch(X, "X")

    def record(self, model: nn.Module) -> dict:
        return {"predictions": _predict(model, self.X).detach().to("cpu", torch.float64)}


class LossCallback(_EveryK):
    """Record the loss (same convention as :func:`train`) on an extra data set every ``every`` steps."""

    def __init__(self, X: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, loss: str = "mse",
                 every: int = 1, name: str = "loss") -> None:
        super().__init__(every, name)
        self.loss = check_choice(loss, "loss", LOSSES)
        self.X, self.y = as_batch(X, "X"), as_batch(y, "y")
        if self.y.shape[0] != self.X.shape[0]:
            raise ValueError(f"y must have {self.X.shape[0]} rows like X, got {self.y.shape[0]}")

    def record(self, model: nn.Module) -> dict:
        out = _predict(model, self.X)
        return {"loss": float(loss_value(out, self.y.to(out.device), self.loss))}


class NTKCallback(_EveryK):
    """Record the empirical NTK :math:`\\hat\\Theta_t(x_1, x_2)` every ``every`` steps (``{"ntk": float64 cpu}``).

    Tracks how far the tangent kernel moves during training (lazy training, Chapter 3, Theorem `ntk-thm-result-a`).
    See :func:`resntk.nets.empirical_ntk` for ``method``.
    """

    def __init__(self, x1: torch.Tensor | np.ndarray, x2: torch.Tensor | np.ndarray | None = None, every: int = 10,
                 method: str = "auto", name: str = "ntk") -> None:
        from ._empirical import EMPIRICAL_NTK_METHODS

        super().__init__(every, name)
        self.x1 = as_batch(x1, "x1")
        self.x2 = None if x2 is None else as_batch(x2, "x2")
        self.method = check_choice(method, "method", EMPIRICAL_NTK_METHODS)

    def record(self, model: nn.Module) -> dict:
        from ._empirical import empirical_ntk

        return {"ntk": empirical_ntk(model, self.x1, self.x2, method=self.method).to("cpu")}


def _predict(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    p = next(iter(model.parameters()), None)
    if p is not None:
        X = X.to(device=p.device, dtype=p.dtype if X.is_floating_point() else X.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(X)
    finally:
        model.train(was_training)


def _check_targets(out: torch.Tensor, y: torch.Tensor, loss: str, name: str) -> None:
    """Targets against the model's outputs, once, at step 0 (the output shape is known only after a forward)."""
    if loss == "mse":
        if (y.ndim == 1 and out.ndim == 2 and out.shape[1] == 1) or (y.ndim == 2 and y.shape[1] == 1 and out.ndim == 1):
            return
        if tuple(y.shape) != tuple(out.shape):
            raise ValueError(f"{name} must have the shape of the model output {tuple(out.shape)} for loss='mse', "
                             f"got {tuple(y.shape)}")
        return
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"loss='cross_entropy' needs logits of shape (n, k) with k >= 2, got {tuple(out.shape)}")
    if y.is_floating_point() or y.ndim != 1:
        raise ValueError(f"{name} must hold integer class labels of shape (n,) for loss='cross_entropy', got dtype "
                         f"{y.dtype} and shape {tuple(y.shape)}")


def _progress(iterable: Iterable[T], total: int, enabled: bool | None) -> Iterator[T]:
    """A tqdm bar when ``enabled`` (``None``: in a notebook or a terminal, never under pytest or the book build)."""
    if enabled is None:
        quiet = "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("RESNTK_BOOK_BUILD") == "1"
        enabled = not quiet and _interactive()
    if not enabled:
        yield from iterable
        return
    from tqdm.auto import tqdm

    with tqdm(iterable, desc="train", total=total) as bar:
        yield from bar


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


def train(model: nn.Module, X: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, *, steps: int, lr: float,
          loss: str = "mse", batch_size: int | None = None, X_test: Any = None, y_test: Any = None,
          callbacks: Sequence[Callback] = (), log_every: int = 1, seed: int = 0,
          progress: bool | None = None) -> History:
    r"""Train ``model`` in place by plain (stochastic) gradient descent and return its :class:`History`.

    .. math::

        \theta_{k+1} = \theta_k - \eta \nabla_\theta \mathcal L_{B_k}(\theta_k),\qquad
        \mathcal L_B(\theta) = \frac{1}{2|B|}\sum_{i\in B} \lVert f(x_i;\theta) - y_i \rVert^2
        \ \text{(``mse``)},

    with :math:`B_k` the whole training set (full-batch GD, ``batch_size=None``) or a minibatch: this is
    ``torch.optim.SGD(lr=lr)`` on the parameters with ``requires_grad=True``.

    Parameters
    ----------
    model
        Any ``torch.nn.Module``; outputs ``(n,)``, ``(n, 1)`` or ``(n, k)`` for ``mse``, logits ``(n, k)`` for
        ``cross_entropy``. Inputs are moved to the device and floating dtype of its parameters.
    X, y
        Training inputs ``(n, ...)`` and targets (real ``(n,)``/``(n, k)`` for ``mse``, integer labels ``(n,)`` for
        ``cross_entropy``); tensors or arrays. Non-finite values are rejected.
    steps
        Number of parameter updates (``>= 0``).
    lr
        Step size :math:`\eta > 0` (see :func:`resntk.regression.lr_from_ntk`).
    loss
        ``"mse"`` (the :math:`\frac{1}{2n}\sum` convention) or ``"cross_entropy"`` (mean).
    batch_size
        ``None`` for full-batch GD; otherwise minibatch SGD with batches drawn without replacement from a fresh
        random permutation per epoch (the incomplete tail of an epoch is dropped), seeded by ``seed``.
    X_test, y_test
        Optional test set (both or neither); its loss is logged with the training loss.
    callbacks
        :class:`Callback` objects, called at step 0 and after every update.
    log_every
        Log the losses every ``log_every`` steps (step 0 and the last step are always logged).
    seed
        Seed of the minibatch order (a private generator; torch's global generator is not touched).
    progress
        ``True``/``False`` to force the tqdm bar on/off; ``None`` shows it in a notebook or terminal only.

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        If the loss becomes non-finite (the step is too large: try :func:`resntk.regression.lr_from_ntk`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no parameter with requires_grad=True: nothing to train")
    steps = check_int(steps, "steps", minimum=0)
    lr = check_real(lr, "lr", minimum=0.0, strict=True, what="the step size")
    loss = check_choice(loss, "loss", LOSSES)
    log_every = check_int(log_every, "log_every", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    if progress is not None:
        progress = check_bool(progress, "progress")
    X, y = as_batch(X, "X"), as_batch(y, "y")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows like X, got {y.shape[0]}")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1, maximum=n)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test, y_test = as_batch(X_test, "X_test"), as_batch(y_test, "y_test")
        if y_test.shape[0] != X_test.shape[0]:
            raise ValueError(f"y_test must have {X_test.shape[0]} rows like X_test, got {y_test.shape[0]}")
    for cb in callbacks:
        if not callable(cb) or not isinstance(getattr(cb, "name", None), str):
            raise TypeError(f"every callback must be callable with a str `name` attribute, got {cb!r}")

    ref = params[0]
    to_model = lambda t: t.to(device=ref.device, dtype=ref.dtype if t.is_floating_point() else t.dtype)  # noqa: E731
    X, y = to_model(X), y.to(ref.device)
    if X_test is not None:
        X_test, y_test = to_model(X_test), y_test.to(ref.device)
    with torch.no_grad():
        _check_targets(_predict(model, X[:1]), y[:1], loss, "y")
        if X_test is not None:
            _check_targets(_predict(model, X_test[:1]), y_test[:1], loss, "y_test")

    history = History(records={cb.name: [] for cb in callbacks})
    optimizer = torch.optim.SGD(params, lr=lr)
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
                                     "too large (for MSE try resntk.regression.lr_from_ntk)")
        return value

    def log(step: int, train_value: float | None) -> None:
        if train_value is None:
            train_value = float(loss_value(_predict(model, X), y, loss))
        history.steps.append(step)
        history.train_loss.append(check(train_value, step))
        if X_test is not None:
            history.test_loss.append(float(loss_value(_predict(model, X_test), y_test, loss)))

    def run_callbacks(step: int) -> None:
        for cb in callbacks:
            out = cb(step, model, history)
            if out is not None:
                history.records[cb.name].append({"step": step, **out})

    model.train()
    run_callbacks(0)
    for k in _progress(range(steps), steps, progress):
        idx = batch()
        value = loss_value(model(X if idx is None else X[idx]), y if idx is None else y[idx], loss)
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
