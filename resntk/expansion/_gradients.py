r"""First-order quantities at an inserted block: the back-propagated residual, the descent matrix, derivatives on rays.

Book: Chapter 11 ("The first-order descent condition and the jumpboard"), Definition `jumpboard-def-rho`,
Propositions `jumpboard-prop-first-order`, `jumpboard-prop-fodc` and `jumpboard-prop-trap`; the mechanism is that of
:cite:`cheng2026depth`, in the book's formalisation. The inserted block is :math:`G(h;\psi) = g\,W_2\varphi(h)` with
:math:`\varphi(h) = s\,\sigma(W_1h + b_1)` (:func:`resntk.nets.insert_block`); the loss ``"mse"`` is
:math:`\tfrac12\lVert f - y\rVert^2` (risk :math:`\hat R_S = \tfrac1{2n}\sum_i\lVert f(x_i) - y_i\rVert^2`) and
``"cross_entropy"`` the mean cross-entropy on logits.

Array rule: per-sample arrays and the descent matrix follow the type of ``X`` (or of ``rho``/``phi``); scalars are
floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._conventions import loss_value
from .._validation import as_float64, as_output, check_choice, returns_torch
from ..nets import PostLNResNet
from ._common import (
    RayEvaluator,
    check_model,
    check_step,
    data,
    default_fd_step,
    factor_pair,
    model_input,
    ray_kind,
    resolve_position,
)

_DERIVATIVE_METHODS = ("formula", "finite_difference")
_CURVATURE_METHODS = ("second_difference", "autodiff")


def _residual(model: PostLNResNet, p: int, X: Tensor, objective) -> Tensor:
    """The gradient of ``objective(outputs)`` with respect to the inserted block's output (its LayerNorm's input)."""
    block = model.blocks[p]
    with torch.no_grad():
        hp = model._state(X, p)
        branch = block.branch(hp)
    z = torch.zeros_like(hp, requires_grad=True)
    (grad,) = torch.autograd.grad(objective(model._head(block.norm(hp + branch + z), p + 1)), z)
    return grad


def _rho(model: PostLNResNet, p: int, X: Tensor, Y: Tensor, loss: str) -> Tensor:
    return _residual(model, p, X, lambda out: loss_value(out, Y, loss)) * X.shape[0]


def _phi(model: PostLNResNet, p: int, X: Tensor) -> Tensor:
    with torch.no_grad():
        return model.blocks[p].features(model._state(X, p))


def _descent(model: PostLNResNet, p: int, X: Tensor, Y: Tensor, loss: str) -> Tensor:
    rho = _rho(model, p, X, Y, loss)
    return rho.T @ _phi(model, p, X) / rho.shape[0]


def backprop_residual(model: PostLNResNet, position: int | None, X: Any, y: Any, *, loss: str = "mse"
                      ) -> Tensor | np.ndarray:
    r"""Back-propagated residual :math:`\rho_i` at the inserted block (Chapter 11, Definition `jumpboard-def-rho`).

    .. math::

        \rho(x, y) = J_N(h_p(x))^\top J_{\rm down}(x)^\top \nabla_{\hat y}\ell\big(f(x), y\big) \in \mathbb R^d,

    computed exactly by automatic differentiation as the gradient of the per-sample loss with respect to the
    **output of the inserted block** (the input of its LayerNorm). It does not depend on the new block's parameters
    as long as the block's output is zero. With non-affine LayerNorm :math:`\rho \perp \mathbf 1` exactly and
    :math:`\rho \perp h_p` up to :math:`O(\epsilon)`.

    Parameters
    ----------
    model : PostLNResNet
        An expanded model (from :func:`resntk.nets.insert_block`).
    position : int or None
        Index of the inserted block in ``model.blocks`` (``None``: ``model.insertion_.position``).
    X : tensor or array, shape (n, in_dim)
    y : tensor or array
        Real targets ``(n,)``/``(n, q)`` for ``"mse"``, integer labels ``(n,)`` for ``"cross_entropy"``.
    loss : {"mse", "cross_entropy"}

    Returns
    -------
    tensor or array, shape (n, d)
    """
    model = check_model(model)
    p, _ = resolve_position(model, position)
    Xt, Y = data(model, X, y, loss)
    return as_output(_rho(model, p, Xt, Y, loss), returns_torch(X))


def output_gradient(model: PostLNResNet, position: int | None, X: Any) -> Tensor | np.ndarray:
    r"""Output gradient :math:`\tilde\rho(x) = J_N(h_p(x))^\top J_{\rm down}(x)^\top` (Chapter 12, Definition `capacity-def-linearised`).

    For a scalar-output model, the gradient of :math:`f(x)` with respect to the inserted block's output;
    :math:`\rho = \tilde\rho\,(f - y)` for the squared loss.

    Returns
    -------
    tensor or array, shape (n, d)
    """
    model = check_model(model)
    if model.out_dim != 1:
        raise ValueError(f"output_gradient needs a scalar-output model (out_dim=1), got out_dim={model.out_dim}")
    p, _ = resolve_position(model, position)
    return as_output(_residual(model, p, model_input(model, X), lambda out: out.sum()), returns_torch(X))


def block_features(model: PostLNResNet, position: int | None, X: Any) -> Tensor | np.ndarray:
    r"""Hidden features :math:`\varphi(x) = s\,\sigma(W_1 h_p(x) + b_1)` of the inserted block, shape ``(n, m)``."""
    model = check_model(model)
    p, _ = resolve_position(model, position)
    return as_output(_phi(model, p, model_input(model, X)), returns_torch(X))


def descent_matrix(model: PostLNResNet | None = None, position: int | None = None, X: Any = None, y: Any = None, *,
                   loss: str = "mse", rho: Any = None, phi: Any = None) -> Tensor | np.ndarray:
    r"""Empirical descent matrix (Chapter 11, Proposition `jumpboard-prop-first-order`).

    .. math::

        \hat{\mathfrak G}_S = \frac1n\sum_{i=1}^n \rho(x_i, y_i)\,\varphi(x_i)^\top \in \mathbb R^{d\times m},
        \qquad r'(0) = \langle V, \hat{\mathfrak G}_S\rangle_F \ \text{along } W_2 = tV .

    It equals the autodiff gradient :math:`\nabla_{W_2}\hat R_S` at :math:`W_2 = 0` (ungated block). The
    first-order descent condition holds along the :math:`W_2`-ray iff :math:`\hat{\mathfrak G}_S \neq 0`
    (Proposition `jumpboard-prop-fodc`); :math:`W_1 = b_1 = 0` gives :math:`\hat{\mathfrak G}_S = 0` exactly
    (Proposition `jumpboard-prop-trap`).

    Two forms: ``descent_matrix(model, position, X, y, loss=...)`` computes :math:`\rho` and :math:`\varphi`;
    ``descent_matrix(rho=rho, phi=phi)`` takes them precomputed (shapes ``(n, d)`` and ``(n, m)``), e.g. to sweep
    widths or draws of :math:`W_1` with one :math:`\rho`.

    Returns
    -------
    tensor or array, shape (d, m)
    """
    if rho is not None or phi is not None:
        if model is not None or X is not None or y is not None:
            raise ValueError("pass either (model, position, X, y) or the factors (rho=..., phi=...), not both")
        if rho is None or phi is None:
            raise ValueError("the factor form needs both rho and phi")
        r, f = factor_pair(rho, phi, ("rho", "phi"))
        return as_output(r.T @ f / r.shape[0], returns_torch(rho, phi))
    if model is None or X is None or y is None:
        raise ValueError("descent_matrix needs (model, position, X, y) or the factors (rho=..., phi=...)")
    model = check_model(model)
    p, _ = resolve_position(model, position)
    Xt, Y = data(model, X, y, loss)
    return as_output(_descent(model, p, Xt, Y, loss), returns_torch(X))


def block_gradients(model: PostLNResNet, position: int | None, X: Any, y: Any, *, loss: str = "mse"
                    ) -> dict[str, Tensor]:
    r"""Autodiff gradients of :math:`\hat R_S` with respect to every parameter of block ``position``.

    Exhibits the zero-initialisation trap (Chapter 10, Proposition `postln-prop-trap`): at
    :math:`W_1 = b_1 = W_2 = 0` all of them are exactly zero.

    Returns
    -------
    dict
        ``{"linear1.weight": dW1, "linear1.bias": db1, "linear2.weight": dW2, ["gate": dg]}`` (tensors).
    """
    model = check_model(model)
    p, block = resolve_position(model, position)
    Xt, Y = data(model, X, y, loss)
    names, params = zip(*block.named_parameters())
    grads = torch.autograd.grad(loss_value(model._head(model._state(Xt, 0), 0), Y, loss), params, allow_unused=True)
    return {n: (torch.zeros_like(q) if g is None else g) for n, q, g in zip(names, params, grads)}


def directional_derivative(model: PostLNResNet, position: int | None, X: Any, y: Any, direction: Tensor | float, *,
                           loss: str = "mse", method: str = "formula", step: float | None = None) -> float:
    r"""The derivative :math:`r'(0)` of the risk along a ray (Chapter 11, Proposition `jumpboard-prop-first-order`).

    ``method="formula"``:

    .. math::

        W_2\text{-ray } (W_2 = W_2^0 + tV):\quad r'(0) = g\,\langle V, \hat{\mathfrak G}_S\rangle_F;
        \qquad \text{gate ray } (g = g_0 + tv):\quad r'(0) = v\,\langle W_2, \hat{\mathfrak G}_S\rangle_F ,

    with :math:`g \equiv 1` for an ungated block. ``method="finite_difference"``: the central difference
    :math:`(r(h) - r(-h))/(2h)`, an independent check; the default step :math:`h = 10^{-5}/\lVert v\rVert` balances
    the :math:`O(h^2)` truncation error against the :math:`O(u/h)` rounding error.

    Parameters
    ----------
    direction : tensor of shape (d, m), or float
        A :math:`W_2` direction :math:`V`, or (gated blocks) a gate direction :math:`v`.
    method : {"formula", "finite_difference"}
    step : float, optional
        Finite-difference step.
    """
    model = check_model(model)
    method = check_choice(method, "method", _DERIVATIVE_METHODS)
    p, block = resolve_position(model, position)
    kind, v = ray_kind(block, direction)
    if method == "finite_difference":
        h = default_fd_step(v, 1e-5) if step is None else check_step(step)
        Xt, Y = data(model, X, y, loss)
        rp, rm = RayEvaluator(model, p, block, Xt, Y, loss).risks(kind, v, [h, -h])
        return float((rp - rm) / (2 * h))
    Xt, Y = data(model, X, y, loss)
    G = _descent(model, p, Xt, Y, loss)
    if kind == "W2":
        gain = 1.0 if block.gate is None else float(block.gate.detach())
        return gain * float((v * G).sum())
    return float(v) * float((block.linear2.weight.detach() * G).sum())


def risk_along_ray(model: PostLNResNet, position: int | None, X: Any, y: Any, direction: Tensor | float,
                   t: float | Sequence[float] | np.ndarray | Tensor, *, loss: str = "mse") -> np.ndarray | Tensor:
    r""":math:`r(t) = \hat R_S\big(f_{\rm old}\oplus(\psi_0 + tv)\big)` at one or several ``t``.

    The model is not modified; :math:`h_p` and :math:`\varphi` are computed once and only the inserted block and the
    suffix are re-evaluated for each ``t``.

    Returns
    -------
    array of the shape of ``t`` (torch if ``t`` is a tensor, NumPy otherwise)
    """
    model = check_model(model)
    p, block = resolve_position(model, position)
    kind, v = ray_kind(block, direction)
    Xt, Y = data(model, X, y, loss)
    ts = as_float64(t, "t")
    out = RayEvaluator(model, p, block, Xt, Y, loss).risks(kind, v, ts.reshape(-1).tolist()).reshape(tuple(ts.shape))
    return torch.from_numpy(out) if returns_torch(t) else out


def _curvature(ev: RayEvaluator, kind: str, v: Tensor, method: str, step: float) -> float:
    if method == "second_difference":
        rp, r0, rm = ev.risks(kind, v, [step, 0.0, -step])
        return float((rp - 2 * r0 + rm) / step**2)
    t = torch.zeros((), dtype=v.dtype, device=v.device, requires_grad=True)
    (g,) = torch.autograd.grad(ev.risk(kind, v, t), t, create_graph=True)
    (h,) = torch.autograd.grad(g, t)
    return float(h)


def curvature_along_ray(model: PostLNResNet, position: int | None, X: Any, y: Any, direction: Tensor | float, *,
                        method: str = "second_difference", step: float | None = None, loss: str = "mse") -> float:
    r"""Local curvature :math:`r''(0)` of the risk along a ray (Chapter 11, Theorem `jumpboard-thm-jumpboard`).

    ``method="second_difference"``: :math:`\hat\beta = \big(r(h) - 2r(0) + r(-h)\big)/h^2` with default
    :math:`h = 10^{-4}/\lVert v\rVert`; ``method="autodiff"``: :math:`r''(0)` exactly by double back-propagation
    (an independent check).
    """
    model = check_model(model)
    method = check_choice(method, "method", _CURVATURE_METHODS)
    p, block = resolve_position(model, position)
    kind, v = ray_kind(block, direction)
    h = default_fd_step(v, 1e-4) if step is None else check_step(step)
    Xt, Y = data(model, X, y, loss)
    return _curvature(RayEvaluator(model, p, block, Xt, Y, loss), kind, v, method, h)
