r"""The book's depth-expansion experiments: the verification toy and the equal-compute comparison.

Book: Part III, Chapters 10-14 (the toy), Chapter 13 ("Two test-risk guarantees", section "The equal-compute
control"). These build on the core package (:mod:`resntk.nets`) and are re-exported by :mod:`resntk.book`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .._validation import as_points, check_int, check_real, make_generator
from ..nets import History, PostLNResNet, fit_readout, train

__all__ = ["EqualComputeResult", "ExpansionToy", "equal_compute_comparison", "make_expansion_toy"]


@dataclass
class EqualComputeResult:
    """Continue-training control versus expanded model, same optimiser and step count.

    Attributes
    ----------
    control, expanded : resntk.nets.History
        Train (and test) risk against step for the old model trained ``steps`` more steps and for the expanded model
        trained ``steps`` steps.
    control_model, expanded_model : nn.Module
        The trained copies (the arguments are not modified).
    steps : int
    lr : float
    """

    control: History
    expanded: History
    control_model: nn.Module = field(repr=False)
    expanded_model: nn.Module = field(repr=False)
    steps: int = 0
    lr: float = 0.0

    def summary(self) -> dict[str, float]:
        """Initial and final train (and test) risks of both runs."""
        out = {"control_train_start": self.control.train_loss[0], "control_train_end": self.control.train_loss[-1],
               "expanded_train_start": self.expanded.train_loss[0],
               "expanded_train_end": self.expanded.train_loss[-1]}
        if self.control.test_loss:
            out.update(control_test_start=self.control.test_loss[0], control_test_end=self.control.test_loss[-1],
                       expanded_test_start=self.expanded.test_loss[0], expanded_test_end=self.expanded.test_loss[-1])
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"control": self.control.as_dict(), "expanded": self.expanded.as_dict(), "steps": self.steps,
                "lr": self.lr}


def equal_compute_comparison(old_model: nn.Module, expanded_model: nn.Module, X: Any, y: Any, *, steps: int,
                             lr: float, loss: str = "mse", X_test: Any = None, y_test: Any = None,
                             batch_size: int | None = None, log_every: int = 1, seed: int = 0,
                             progress: bool | None = None) -> EqualComputeResult:
    r"""Train the old model and the expanded model for the same number of steps (the equal-compute control).

    Without the control a gain of the expanded model is confounded with extra training (Chapter 13, "The
    equal-compute control"). Both runs use :func:`resntk.nets.train` (plain SGD with step ``lr`` on every
    parameter, full batch unless ``batch_size``) on deep copies, so the arguments are untouched. Pass
    ``jumpboard(...).model`` as ``expanded_model`` to train from the jumpboard, or the zero-block expansion itself.
    "Equal compute" means equal step count (a step of the expanded model costs slightly more). With
    :math:`\eta \le 1/\beta_S` the expanded run satisfies
    :math:`\hat R_S(\hat f_{\rm new}) \le \hat R_S(f_{\rm old}) - \tfrac\eta2\lVert\hat{\mathfrak G}_S\rVert_F^2`
    after one step (Chapter 11, Exercise `ex-jumpboard-gd-step`).
    """
    if not isinstance(old_model, nn.Module) or not isinstance(expanded_model, nn.Module):
        raise TypeError("old_model and expanded_model must be torch.nn.Modules")
    control, expanded = copy.deepcopy(old_model), copy.deepcopy(expanded_model)
    kwargs = dict(steps=steps, lr=lr, loss=loss, batch_size=batch_size, X_test=X_test, y_test=y_test,
                  log_every=log_every, seed=seed, progress=progress)
    h_control = train(control, X, y, **kwargs)
    h_expanded = train(expanded, X, y, **kwargs)
    return EqualComputeResult(h_control, h_expanded, control, expanded, steps=int(steps), lr=float(lr))


@dataclass
class ExpansionToy:
    r"""The book's depth-expansion toy: an old post-LN model and a weakly non-linear target.

    .. math::

        y = u_\star^\top h_L(x) + a\Big(\tanh\big(w^\top x/\sqrt{d_{\rm in}}\big)^2 - 0.3\Big) + \sigma\,\xi,\qquad
        x \sim \mathcal N(0, I_{d_{\rm in}}),\ \xi \sim \mathcal N(0, 1),

    with :math:`h_L` the features of the random old network (``teacher``), whose readout is then fitted by ridge
    regression on the training sample (:func:`resntk.nets.fit_readout`; not a stationary point of the old blocks).

    Attributes
    ----------
    model : PostLNResNet
        The old model :math:`f_{\rm old}` (the teacher with the ridge readout).
    X, y, X_test, y_test : Tensor
        Training and test samples (``y`` of shape ``(n,)``).
    a, noise : float
        Weak-signal amplitude :math:`a` and noise level :math:`\sigma`.
    teacher : PostLNResNet
        The random network whose last stream :math:`h_L` carries the linear part of the target.
    u_star, w : Tensor
        The target's readout :math:`u_\star` (shape ``(width,)``) and weak-signal direction :math:`w`.
    """

    model: PostLNResNet
    X: Tensor
    y: Tensor
    X_test: Tensor
    y_test: Tensor
    a: float
    noise: float
    teacher: PostLNResNet = field(repr=False)
    u_star: Tensor = field(repr=False)
    w: Tensor = field(repr=False)

    def target(self, X: Any) -> Tensor:
        """The noiseless regression function at ``X``, shape ``(n,)``."""
        Xt = as_points(X, "X", n_features=self.teacher.in_dim).to(self.teacher.dtype).to(self.teacher.device)
        return _toy_target(self.teacher, self.u_star, self.w, self.a, Xt)

    def sample(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """A fresh i.i.d. sample of size ``n`` (e.g. :math:`\\ge 10^5` points as a population proxy)."""
        return _toy_sample(self.teacher, self.u_star, self.w, self.a, self.noise, check_int(n, "n", minimum=1),
                           check_int(seed, "seed", minimum=0))


def _toy_target(teacher: PostLNResNet, u: Tensor, w: Tensor, a: float, X: Tensor) -> Tensor:
    with torch.no_grad():
        return teacher._state(X, teacher.depth) @ u + a * (torch.tanh(X @ w / math.sqrt(X.shape[1])) ** 2 - 0.3)


def _toy_sample(teacher: PostLNResNet, u: Tensor, w: Tensor, a: float, noise: float, n: int, seed: int
                ) -> tuple[Tensor, Tensor]:
    gen = make_generator(seed)
    X = torch.randn((n, teacher.in_dim), generator=gen, dtype=torch.float64)
    xi = torch.randn((n,), generator=gen, dtype=torch.float64)
    X, xi = (t.to(dtype=teacher.dtype, device=teacher.device) for t in (X, xi))
    return X, _toy_target(teacher, u, w, a, X) + noise * xi


def make_expansion_toy(n: int = 1000, n_test: int = 1000, *, a: float = 0.6, noise: float = 0.3, in_dim: int = 10,
                       width: int = 16, depth: int = 2, hidden: int = 32, eps: float = 1e-5, bias: bool = False,
                       ridge: float = 1e-3, seed: int = 0, device: torch.device | str | None = None) -> ExpansionToy:
    r"""Build the depth-expansion toy used throughout Part III.

    ``x ~ N(0, I_10)``, residual-stream width 16, ``L = 2`` bias-free blocks of width 32 with
    :math:`\mathcal N(0, 1/\text{fan-in})` weights, non-affine LayerNorm with :math:`\epsilon = 10^{-5}`, ridge
    readout, :math:`a = 0.6`, :math:`\sigma = 0.3`, float64. Everything is seeded by ``seed`` (private generators):
    the network by ``seed``, the target by ``seed + 1``, the training sample by ``seed + 2`` and the test sample by
    ``seed + 3`` (use other seeds in :meth:`ExpansionToy.sample` for fresh data).
    """
    a = check_real(a, "a", minimum=0.0)
    noise = check_real(noise, "noise", minimum=0.0)
    seed = check_int(seed, "seed", minimum=0)
    n, n_test = check_int(n, "n", minimum=1), check_int(n_test, "n_test", minimum=1)
    teacher = PostLNResNet(in_dim, width, hidden=hidden, depth=depth, out_dim=1, eps=eps, bias=bias, seed=seed,
                           device=device)
    gen = make_generator(seed + 1)
    u = (torch.randn((teacher.width,), generator=gen, dtype=torch.float64) / math.sqrt(teacher.width))
    w = torch.randn((teacher.in_dim,), generator=gen, dtype=torch.float64)
    u, w = (t.to(dtype=teacher.dtype, device=teacher.device) for t in (u, w))
    X, y = _toy_sample(teacher, u, w, a, noise, n, seed + 2)
    X_test, y_test = _toy_sample(teacher, u, w, a, noise, n_test, seed + 3)
    return ExpansionToy(fit_readout(teacher, X, y, ridge=ridge), X, y, X_test, y_test, a, noise, teacher, u, w)
