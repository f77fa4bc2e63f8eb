"""Depth expansion: the residual at the insertion point, the jumpboard, capacity and test-risk bounds.

Implements Part III of the book (Cheng et al. 2026, *A Qualitative Test-Risk Mechanism for Scaling
Behavior in Normalized Residual Networks*, arXiv 2605.08297) following the reference note
``shared/papers/depth-expansion.md`` (the *note*).  Fidelity labels are the note's:

* [derived] — derived in the note and checked numerically: the back-propagated residual
  :math:`\\rho` (§3.4), the descent matrix :math:`\\mathfrak G` (§3.5), the quantitative jumpboard
  decrease :math:`\\kappa^2/(2\\beta)` (§3.7), the linearised Rademacher surrogate (§3.10);
* [reconstructed] — the book's own precise rendition of mechanisms the paper states only
  qualitatively: the first-order descent condition (§3.6), the jumpboard as a certificate (§3.7),
  the two test-risk routes (§3.11, §3.12).  These are *our formalisation of the mechanism of
  Cheng et al.*, not quotations of the paper's theorems (whose statements are not known).

Conventions.  The inserted block is :math:`G(h;\\psi) = g\\,W_2\\varphi(h)` with
:math:`\\varphi(h) = s\\,\\sigma(W_1h + b_1)` (:math:`s = 1/\\sqrt m` by default, pitfall 14, and
:math:`g \\equiv 1` unless the block is gated), inserted by :func:`resntk.postln.insert_block`.
The loss ``"mse"`` is :math:`\\ell(f, y) = \\tfrac12\\lVert f - y\\rVert^2` (risk
:math:`\\hat R_S = \\tfrac1{2n}\\sum_i\\lVert f(x_i) - y_i\\rVert^2`, the note's convention) and
``"cross_entropy"`` the mean cross-entropy on logits.  A *ray* is
:math:`t \\mapsto f_{\\rm old}\\oplus(\\psi_0 + tv)`, moving either :math:`W_2` (direction a
:math:`d\\times m` matrix :math:`V`) or the gate :math:`g` (direction a scalar), with
:math:`r(t) = \\hat R_S(f_{\\rm old}\\oplus(\\psi_0 + tv))`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .postln import PostLNResNet, ResidualBlock, fit_readout

__all__ = [
    "EXPANSION_LOSSES",
    "backprop_residual",
    "block_features",
    "descent_matrix",
    "descent_matrix_from",
    "block_gradients",
    "directional_derivative",
    "risk_along_ray",
    "finite_difference_derivative",
    "curvature_along_ray",
    "Jumpboard",
    "jumpboard",
    "output_gradient",
    "linearized_rademacher_bound",
    "linearized_rademacher_mc",
    "RademacherSurrogate",
    "linearized_rademacher",
    "RiskBound",
    "route_i_bound",
    "route_ii_bound",
    "EqualComputeResult",
    "equal_compute_comparison",
    "ExpansionToy",
    "make_expansion_toy",
]

EXPANSION_LOSSES: tuple[str, ...] = ("mse", "cross_entropy")


# ----------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------


def _check_model(model: Any) -> PostLNResNet:
    if not isinstance(model, PostLNResNet):
        raise TypeError(f"model must be a PostLNResNet, got {type(model).__name__}")
    return model


def _check_loss(loss: Any) -> str:
    if loss not in EXPANSION_LOSSES:
        raise ValueError(f"loss must be one of {EXPANSION_LOSSES}, got {loss!r}")
    return loss


def _resolve_position(model: PostLNResNet, position: int | None) -> tuple[int, ResidualBlock]:
    """The index ``p`` of the inserted block in ``model.blocks`` and the block."""
    if position is None:
        if model.insertion_ is None:
            raise ValueError(
                "position is None but the model has no insertion record (model.insertion_ is None): "
                "pass the index of the inserted block"
            )
        position = model.insertion_.position
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise TypeError(f"position must be an integer, got {type(position).__name__}")
    position = int(position)
    if not 0 <= position < model.depth:
        raise ValueError(
            f"position must index a block of the expanded model, 0 <= position < depth={model.depth}, got {position}"
        )
    return position, model.blocks[position]


def _as_targets(model: PostLNResNet, y: Any, n: int, loss: str, name: str = "y") -> Tensor:
    if isinstance(y, Tensor):
        t = y
    else:
        try:
            t = torch.as_tensor(np.asarray(y))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a tensor or array") from exc
    if loss == "mse":
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers for loss='mse', got dtype {t.dtype}")
        q = model.out_dim
        if t.ndim == 1 and q == 1:
            t = t.unsqueeze(1)
        if t.shape != (n, q):
            raise ValueError(f"{name} must have shape ({n},) or ({n}, {q}) for loss='mse', got {tuple(t.shape)}")
        t = t.to(dtype=model.dtype, device=model.device)
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (found NaN or inf)")
        return t
    # cross-entropy
    if model.out_dim < 2:
        raise ValueError(f"loss='cross_entropy' needs a model with out_dim >= 2 logits, got out_dim={model.out_dim}")
    if t.dtype.is_floating_point or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels for loss='cross_entropy', got dtype {t.dtype}")
    if t.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) for loss='cross_entropy', got {tuple(t.shape)}")
    if n and (int(t.min()) < 0 or int(t.max()) >= model.out_dim):
        raise ValueError(f"{name} labels must lie in [0, {model.out_dim}), got range [{int(t.min())}, {int(t.max())}]")
    return t.to(dtype=torch.long, device=model.device)


def _risk(out: Tensor, Y: Tensor, loss: str) -> Tensor:
    """Empirical risk: :math:`\\frac1{2n}\\sum\\lVert f - y\\rVert^2` or mean cross-entropy."""
    if loss == "mse":
        return 0.5 * ((out - Y) ** 2).sum() / out.shape[0]
    return F.cross_entropy(out, Y)


def _data(model: PostLNResNet, X: Any, y: Any, loss: str) -> tuple[Tensor, Tensor]:
    Xt = model.as_input(X)
    return Xt, _as_targets(model, y, Xt.shape[0], _check_loss(loss))


def _ray_kind(block: ResidualBlock, direction: Any) -> tuple[str, Tensor]:
    """Classify a direction: ``"W2"`` (a (d, m) matrix) or ``"gate"`` (a scalar)."""
    W2 = block.linear2.weight
    if isinstance(direction, (int, float)) and not isinstance(direction, bool):
        v = torch.tensor(float(direction), dtype=W2.dtype, device=W2.device)
    elif isinstance(direction, Tensor) or isinstance(direction, np.ndarray):
        v = torch.as_tensor(direction).to(dtype=W2.dtype, device=W2.device)
    else:
        raise TypeError(
            f"direction must be a (d, m) tensor (W2 ray) or a real number (gate ray), got {type(direction).__name__}"
        )
    if not bool(torch.isfinite(v).all()):
        raise ValueError("direction must be finite (found NaN or inf)")
    if v.ndim == 0 or v.numel() == 1 and v.shape != W2.shape:
        if block.gate is None:
            raise ValueError(
                "a scalar direction moves the gate g, but this block has no gate (init='zero_out'); "
                f"pass a W2 direction of shape {tuple(W2.shape)}"
            )
        return "gate", v.reshape(())
    if v.shape != W2.shape:
        raise ValueError(f"direction must have the shape of W2, {tuple(W2.shape)}, or be a scalar; got {tuple(v.shape)}")
    return "W2", v


def _branch_on_ray(block: ResidualBlock, phi: Tensor, kind: str, v: Tensor, t: Tensor | float) -> Tensor:
    """:math:`G(h_p;\\psi_0 + tv)` from precomputed features ``phi`` (W1, b1 are not moved)."""
    W2 = block.linear2.weight
    if kind == "W2":
        out = phi @ (W2 + t * v).T
        if block.gate is not None:
            out = block.gate * out
        return out
    return (block.gate + t * v) * (phi @ W2.T)


class _RayEvaluator:
    """Precomputes :math:`h_p` and :math:`\\varphi` once; evaluates :math:`r(t)` by the suffix only."""

    def __init__(self, model: PostLNResNet, p: int, block: ResidualBlock, X: Tensor, Y: Tensor, loss: str) -> None:
        self.model, self.p, self.block, self.Y, self.loss = model, p, block, Y, loss
        with torch.no_grad():
            self.hp = model.hidden_state(X, p)
            self.phi = block.features(self.hp)

    def risk(self, kind: str, v: Tensor, t: Tensor | float) -> Tensor:
        h = self.block.norm(self.hp + _branch_on_ray(self.block, self.phi, kind, v, t))
        return _risk(self.model.head(h, self.p + 1), self.Y, self.loss)

    def risks(self, kind: str, v: Tensor, ts: Sequence[float]) -> np.ndarray:
        with torch.no_grad():
            return np.array([float(self.risk(kind, v, float(t))) for t in ts])


def _check_step(step: Any, name: str = "step") -> float:
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not (math.isfinite(step) and step > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {step!r}")
    return float(step)


# ----------------------------------------------------------------------------------------------
# rho, phi, G
# ----------------------------------------------------------------------------------------------


def backprop_residual(
    model: PostLNResNet, position: int | None, X: Any, y: Any, *, loss: str = "mse"
) -> Tensor:
    """Back-propagated residual :math:`\\rho_i` at the inserted block (note §3.4, [derived]).

    .. math::

        \\rho(x, y) = J_N(h_p(x))^\\top J_{\\rm down}(x)^\\top \\nabla_{\\hat y}\\ell\\big(f(x), y\\big)
        \\in \\mathbb R^d,

    computed exactly by automatic differentiation as the gradient of the per-sample loss with
    respect to the **output of the inserted block** (the input of its LayerNorm, pitfall 13).  It
    does not depend on the new block's parameters :math:`\\psi` as long as the block's output is
    zero; away from zero it is the same gradient at the current :math:`\\psi`.  With non-affine
    LayerNorm :math:`\\rho \\perp \\mathbf 1` exactly and :math:`\\rho \\perp h_p` up to
    :math:`O(\\epsilon)`.

    Parameters
    ----------
    model : PostLNResNet
        An expanded model (from :func:`~resntk.postln.insert_block`).
    position : int or None
        Index of the inserted block in ``model.blocks`` (``None``: ``model.insertion_.position``).
    X : Tensor, shape (n, in_dim)
    y : Tensor
        Real targets ``(n,)``/``(n, q)`` for ``"mse"``, integer labels ``(n,)`` for ``"cross_entropy"``.
    loss : {"mse", "cross_entropy"}

    Returns
    -------
    Tensor, shape (n, d)
    """
    model = _check_model(model)
    p, block = _resolve_position(model, position)
    X, Y = _data(model, X, y, loss)
    with torch.no_grad():
        hp = model.hidden_state(X, p)
        branch = block.branch(hp)
    z = torch.zeros_like(hp, requires_grad=True)
    out = model.head(block.norm(hp + branch + z), p + 1)
    (grad,) = torch.autograd.grad(_risk(out, Y, loss), z)
    return grad * X.shape[0]


def output_gradient(model: PostLNResNet, position: int | None, X: Any) -> Tensor:
    """Output gradient :math:`\\tilde\\rho(x) = J_N(h_p(x))^\\top J_{\\rm down}(x)^\\top` (note §3.10).

    For a scalar-output model, the gradient of :math:`f(x)` with respect to the inserted block's
    output; :math:`\\rho = \\tilde\\rho\\,(f - y)` for the squared loss.

    Returns
    -------
    Tensor, shape (n, d)
    """
    model = _check_model(model)
    if model.out_dim != 1:
        raise ValueError(f"output_gradient needs a scalar-output model (out_dim=1), got out_dim={model.out_dim}")
    p, block = _resolve_position(model, position)
    X = model.as_input(X)
    with torch.no_grad():
        hp = model.hidden_state(X, p)
        branch = block.branch(hp)
    z = torch.zeros_like(hp, requires_grad=True)
    out = model.head(block.norm(hp + branch + z), p + 1)
    (grad,) = torch.autograd.grad(out.sum(), z)
    return grad


def block_features(model: PostLNResNet, position: int | None, X: Any) -> Tensor:
    """Hidden features :math:`\\varphi(x) = s\\,\\sigma(W_1 h_p(x) + b_1)` of the inserted block.

    Returns
    -------
    Tensor, shape (n, m)
    """
    model = _check_model(model)
    p, block = _resolve_position(model, position)
    X = model.as_input(X)
    with torch.no_grad():
        return block.features(model.hidden_state(X, p))


def descent_matrix_from(rho: Tensor, phi: Tensor) -> Tensor:
    """:math:`\\hat{\\mathfrak G}_S = \\frac1n\\sum_i \\rho_i\\varphi_i^\\top` from precomputed factors (note §3.5).

    For sweeps over widths and draws of :math:`W_1`: compute :math:`\\rho` once, then every
    :math:`\\hat{\\mathfrak G}_S` is one matrix product (note §6).

    Parameters
    ----------
    rho : Tensor, shape (n, d)
    phi : Tensor, shape (n, m)

    Returns
    -------
    Tensor, shape (d, m)
    """
    if not isinstance(rho, Tensor) or not isinstance(phi, Tensor):
        raise TypeError("rho and phi must be torch.Tensors")
    if rho.ndim != 2 or phi.ndim != 2 or rho.shape[0] != phi.shape[0] or rho.shape[0] < 1:
        raise ValueError(
            f"rho must be (n, d) and phi (n, m) with the same n >= 1, got {tuple(rho.shape)} and {tuple(phi.shape)}"
        )
    if not (bool(torch.isfinite(rho).all()) and bool(torch.isfinite(phi).all())):
        raise ValueError("rho and phi must be finite (found NaN or inf)")
    return rho.T @ phi.to(rho.dtype) / rho.shape[0]


def descent_matrix(model: PostLNResNet, position: int | None, X: Any, y: Any, *, loss: str = "mse") -> Tensor:
    """Empirical descent-condition matrix (note §3.5, Result C, [derived]).

    .. math::

        \\hat{\\mathfrak G}_S = \\frac1n\\sum_{i=1}^n \\rho(x_i, y_i)\\,\\varphi(x_i)^\\top \\in \\mathbb R^{d\\times m},
        \\qquad r'(0) = \\langle V, \\hat{\\mathfrak G}_S\\rangle_F \\ \\text{along } W_2 = tV .

    It equals the autodiff gradient :math:`\\nabla_{W_2}\\hat R_S` at :math:`W_2 = 0` (for an
    ungated block).  The first-order descent condition (FODC, §3.6, [reconstructed]) holds along
    the :math:`W_2`-ray iff :math:`\\hat{\\mathfrak G}_S \\neq 0`; :math:`W_1 = b_1 = 0` gives
    :math:`\\hat{\\mathfrak G}_S = 0` exactly.

    Returns
    -------
    Tensor, shape (d, m)
    """
    rho = backprop_residual(model, position, X, y, loss=loss)
    phi = block_features(model, position, X)
    return descent_matrix_from(rho, phi)


def block_gradients(
    model: PostLNResNet, position: int | None, X: Any, y: Any, *, loss: str = "mse"
) -> dict[str, Tensor]:
    """Autodiff gradients of :math:`\\hat R_S` with respect to every parameter of block ``position``.

    Used to exhibit the zero-initialisation trap (note §3.3, Result B): at
    :math:`W_1 = b_1 = W_2 = 0` all of them are exactly zero.

    Returns
    -------
    dict
        ``{"linear1.weight": dW1, "linear1.bias": db1, "linear2.weight": dW2, ["gate": dg], ...}``.
    """
    model = _check_model(model)
    p, block = _resolve_position(model, position)
    X, Y = _data(model, X, y, loss)
    names, params = zip(*[(n, q) for n, q in block.named_parameters()])
    grads = torch.autograd.grad(_risk(model(X), Y, loss), params, allow_unused=True)
    return {n: (torch.zeros_like(q) if g is None else g) for n, q, g in zip(names, params, grads)}


# ----------------------------------------------------------------------------------------------
# the ray: derivative, risk, curvature
# ----------------------------------------------------------------------------------------------


def directional_derivative(
    model: PostLNResNet, position: int | None, X: Any, y: Any, direction: Tensor | float, *, loss: str = "mse"
) -> float:
    """First-order formula :math:`r'(0)` along a ray (note §3.4–§3.5, Result C, [derived]).

    .. math::

        W_2\\text{-ray } (W_2 = W_2^0 + tV):\\quad r'(0) = g\\,\\langle V, \\hat{\\mathfrak G}_S\\rangle_F;
        \\qquad \\text{gate ray } (g = g_0 + tv):\\quad
        r'(0) = v\\,\\frac1n\\sum_i\\langle\\rho_i, W_2\\varphi_i\\rangle = v\\,\\langle W_2, \\hat{\\mathfrak G}_S\\rangle_F ,

    with :math:`g \\equiv 1` for an ungated block.  Compare with
    :func:`finite_difference_derivative`.

    Parameters
    ----------
    direction : Tensor of shape (d, m), or float
        A :math:`W_2` direction :math:`V`, or (gated blocks) a gate direction :math:`v`.
    """
    model = _check_model(model)
    p, block = _resolve_position(model, position)
    kind, v = _ray_kind(block, direction)
    G = descent_matrix(model, p, X, y, loss=loss)
    if kind == "W2":
        gain = 1.0 if block.gate is None else float(block.gate.detach())
        return gain * float((v * G).sum())
    return float(v) * float((block.linear2.weight.detach() * G).sum())


def risk_along_ray(
    model: PostLNResNet,
    position: int | None,
    X: Any,
    y: Any,
    direction: Tensor | float,
    t: float | Sequence[float] | np.ndarray,
    *,
    loss: str = "mse",
) -> np.ndarray:
    """:math:`r(t) = \\hat R_S\\big(f_{\\rm old}\\oplus(\\psi_0 + tv)\\big)` at one or several ``t``.

    The model is not modified; :math:`h_p` and :math:`\\varphi` are computed once and only the
    inserted block and the suffix are re-evaluated for each ``t``.

    Returns
    -------
    numpy.ndarray, shape ``np.shape(t)``
    """
    model = _check_model(model)
    p, block = _resolve_position(model, position)
    kind, v = _ray_kind(block, direction)
    X, Y = _data(model, X, y, loss)
    ts = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(ts)):
        raise ValueError("t must be finite")
    ev = _RayEvaluator(model, p, block, X, Y, loss)
    return ev.risks(kind, v, ts.ravel().tolist()).reshape(ts.shape)


def _default_fd_step(v: Tensor, base: float) -> float:
    norm = float(torch.linalg.vector_norm(v))
    if norm == 0.0:
        raise ValueError("direction must be non-zero")
    return base / norm


def finite_difference_derivative(
    model: PostLNResNet,
    position: int | None,
    X: Any,
    y: Any,
    direction: Tensor | float,
    *,
    step: float | None = None,
    loss: str = "mse",
) -> float:
    """Central finite difference :math:`\\big(r(h) - r(-h)\\big)/(2h)` of the risk along a ray.

    An independent check of :func:`directional_derivative`.  The default step
    :math:`h = 10^{-5}/\\lVert v\\rVert` balances the :math:`O(h^2)` truncation error against the
    :math:`O(u/h)` float64 rounding error (:math:`u \\approx 10^{-16}`).
    """
    model = _check_model(model)
    p, block = _resolve_position(model, position)
    kind, v = _ray_kind(block, direction)
    h = _default_fd_step(v, 1e-5) if step is None else _check_step(step)
    X, Y = _data(model, X, y, loss)
    ev = _RayEvaluator(model, p, block, X, Y, loss)
    rp, rm = ev.risks(kind, v, [h, -h])
    return float((rp - rm) / (2 * h))


_CURVATURE_METHODS = ("second_difference", "autodiff")


def _curvature(ev: _RayEvaluator, kind: str, v: Tensor, method: str, step: float) -> float:
    if method == "second_difference":
        rp, r0, rm = ev.risks(kind, v, [step, 0.0, -step])
        return float((rp - 2 * r0 + rm) / step**2)
    t = torch.zeros((), dtype=v.dtype, device=v.device, requires_grad=True)
    r = ev.risk(kind, v, t)
    (g,) = torch.autograd.grad(r, t, create_graph=True)
    (h,) = torch.autograd.grad(g, t)
    return float(h)


def curvature_along_ray(
    model: PostLNResNet,
    position: int | None,
    X: Any,
    y: Any,
    direction: Tensor | float,
    *,
    method: str = "second_difference",
    step: float | None = None,
    loss: str = "mse",
) -> float:
    """Local curvature :math:`r''(0)` of the risk along a ray.

    ``method="second_difference"`` (the note's estimator, pitfall 4):
    :math:`\\hat\\beta = \\big(r(h) - 2r(0) + r(-h)\\big)/h^2` with default
    :math:`h = 10^{-4}/\\lVert v\\rVert`; ``method="autodiff"``: :math:`r''(0)` exactly by double
    back-propagation (an independent check).
    """
    model = _check_model(model)
    if method not in _CURVATURE_METHODS:
        raise ValueError(f"method must be one of {_CURVATURE_METHODS}, got {method!r}")
    p, block = _resolve_position(model, position)
    kind, v = _ray_kind(block, direction)
    h = _default_fd_step(v, 1e-4) if step is None else _check_step(step)
    X, Y = _data(model, X, y, loss)
    return _curvature(_RayEvaluator(model, p, block, X, Y, loss), kind, v, method, h)


# ----------------------------------------------------------------------------------------------
# the jumpboard
# ----------------------------------------------------------------------------------------------


@dataclass
class Jumpboard:
    """The empirical jumpboard :math:`\\hat f_{\\rm jb}` and its certificate (note §3.7, Results D, E).

    Attributes
    ----------
    position : int
        Index of the inserted block in ``model.blocks``.
    parameter : str
        The ray parameter: ``"W2"`` (init ``"zero_out"``) or ``"gate"`` (init ``"gate"``).
    descent_matrix : Tensor, shape (d, m)
        :math:`\\hat{\\mathfrak G}_S`.
    direction : Tensor
        Steepest unit direction :math:`V^\\star = -\\hat{\\mathfrak G}_S/\\lVert\\hat{\\mathfrak G}_S\\rVert_F`
        (``"W2"``), or :math:`v^\\star = -\\operatorname{sign}\\partial_g\\hat R_S` (``"gate"``, a 0-d tensor).
    kappa : float
        :math:`\\kappa = -r'(0)` along the direction: :math:`\\lVert\\hat{\\mathfrak G}_S\\rVert_F` or
        :math:`|\\partial_g\\hat R_S|`.
    beta : float
        Curvature constant :math:`\\beta` used (estimated along the direction, or given).
    curvature_method : str
        ``"second_difference"``, ``"autodiff"`` or ``"given"``.
    curvature_step : float or None
        The second-difference step (``None`` otherwise).
    t_star : float
        :math:`t^\\star = \\kappa/\\beta`.
    predicted_decrease : float
        :math:`\\kappa^2/(2\\beta)`: guaranteed when :math:`r'' \\le \\beta` on :math:`[0, t^\\star]`.
    risk_before, risk_after : float
        :math:`r(0) = \\hat R_S(f_{\\rm old}\\oplus\\psi_0)` and :math:`r(t^\\star) = \\hat R_S(\\hat f_{\\rm jb})`.
    realized_decrease : float
        ``risk_before - risk_after`` on the given data.
    model : PostLNResNet
        :math:`\\hat f_{\\rm jb}`: a copy of the expanded model moved by :math:`t^\\star v^\\star`.
    """

    position: int
    parameter: str
    descent_matrix: Tensor
    direction: Tensor
    kappa: float
    beta: float
    curvature_method: str
    curvature_step: float | None
    t_star: float
    predicted_decrease: float
    risk_before: float
    risk_after: float
    realized_decrease: float
    model: PostLNResNet = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The scalar fields (for tables)."""
        keys = ("position", "parameter", "kappa", "beta", "curvature_method", "curvature_step", "t_star",
                "predicted_decrease", "risk_before", "risk_after", "realized_decrease")
        return {k: getattr(self, k) for k in keys}


def jumpboard(
    model: PostLNResNet,
    position: int | None,
    X: Any,
    y: Any,
    loss: str = "mse",
    *,
    curvature: str = "second_difference",
    curvature_step: float | None = None,
    beta: float | None = None,
) -> Jumpboard:
    """The jumpboard step from a zero-output inserted block (note §3.6–§3.7, Results D–E).

    [reconstructed; the quantitative form is derived.]  Along the steepest unit direction of
    the ray parameter, :math:`r(t) \\le r(0) - \\kappa t + \\tfrac\\beta2 t^2` when :math:`r` is
    :math:`\\beta`-smooth on :math:`[0, t^\\star]`, so

    .. math::

        \\hat R_S(\\hat f_{\\rm jb}) \\le \\hat R_S(f_{\\rm old}) - \\frac{\\kappa^2}{2\\beta},\\qquad
        \\hat f_{\\rm jb} = f_{\\rm old}\\oplus(\\psi_0 + t^\\star v^\\star),\\qquad
        t^\\star = \\frac{\\kappa}{\\beta},\\qquad V^\\star = -\\frac{\\hat{\\mathfrak G}_S}{\\lVert\\hat{\\mathfrak G}_S\\rVert_F}.

    This is exactly one gradient step of size :math:`1/\\beta` on :math:`W_2` (or on the gate).  The
    jumpboard is a certificate of representational gain, not a useful model: the gain is tiny and
    steps of a few :math:`t^\\star` already increase the risk (pitfall 5).

    :math:`\\beta` is estimated at :math:`t = 0` (``curvature="second_difference"``, the note's
    estimator, pitfall 4: step :math:`10^{-3}` of the natural scale :math:`t^\\star`, from a first
    pass with step :math:`10^{-4}`; or ``"autodiff"``: exact :math:`r''(0)`), or given as ``beta``
    (e.g. a bound on :math:`r''` over an interval).  A local estimate makes
    :math:`\\kappa^2/(2\\beta)` a prediction, not a guarantee, and ``realized_decrease`` reports what
    happened on ``(X, y)``.

    Parameters
    ----------
    model : PostLNResNet
        An expanded model whose block ``position`` has zero output (:math:`W_2 = 0`, or gate
        :math:`g = 0`), e.g. from :func:`~resntk.postln.insert_block`.
    position : int or None
        Index of the inserted block in ``model.blocks`` (``None``: ``model.insertion_.position``).
    X, y
        The sample :math:`S` defining :math:`\\hat R_S`.
    loss : {"mse", "cross_entropy"}
    curvature : {"second_difference", "autodiff"}
    curvature_step : float, optional
        Step of the second difference (default: see above).
    beta : float, optional
        Use this :math:`\\beta > 0` instead of estimating it.

    Raises
    ------
    ValueError
        If the block does not have zero output, if the FODC fails (:math:`\\kappa = 0`), or if the
        estimated curvature is not positive (then pass ``beta``).
    """
    model = _check_model(model)
    if curvature not in _CURVATURE_METHODS:
        raise ValueError(f"curvature must be one of {_CURVATURE_METHODS}, got {curvature!r}")
    p, block = _resolve_position(model, position)
    X, Y = _data(model, X, y, loss)
    W2 = block.linear2.weight.detach()
    if block.gate is None:
        if bool((W2 != 0).any()):
            raise ValueError(
                f"block {p} does not have zero output (W2 != 0): the jumpboard starts from f_old + psi_0 with "
                "G(.; psi_0) = 0, e.g. a block inserted by insert_block(..., init='zero_out')"
            )
    elif float(block.gate.detach()) != 0.0:
        raise ValueError(
            f"block {p} does not have zero output (gate = {float(block.gate.detach()):.3g} != 0): the jumpboard starts "
            "from the zero-gated block of insert_block(..., init='gate')"
        )

    G = descent_matrix(model, p, X, Y, loss=loss)
    if block.gate is None:
        kind = "W2"
        kappa = float(torch.linalg.matrix_norm(G))
        if kappa == 0.0:
            raise ValueError(
                "the first-order descent condition fails: the descent matrix is exactly zero (kappa = 0), "
                "so no direction of W2 decreases the risk to first order"
            )
        v = -G / kappa
    else:
        kind = "gate"
        dg = float((W2 * G).sum())
        kappa = abs(dg)
        if kappa == 0.0:
            raise ValueError("the first-order descent condition fails: the gate derivative is exactly zero")
        v = torch.tensor(-math.copysign(1.0, dg), dtype=W2.dtype, device=W2.device)

    ev = _RayEvaluator(model, p, block, X, Y, loss)
    step_used: float | None = None
    if beta is not None:
        beta_val = _check_step(beta, "beta")
        method = "given"
    elif curvature == "autodiff":
        beta_val = _curvature(ev, kind, v, "autodiff", 0.0)
        method = "autodiff"
    else:
        if curvature_step is None:
            first = _curvature(ev, kind, v, "second_difference", 1e-4)
            step_used = min(max(1e-3 * kappa / first, 1e-6), 1e-3) if first > 0 else 1e-4
        else:
            step_used = _check_step(curvature_step, "curvature_step")
        beta_val = _curvature(ev, kind, v, "second_difference", step_used)
        method = "second_difference"
    if not (math.isfinite(beta_val) and beta_val > 0):
        raise ValueError(
            f"the estimated curvature along the steepest direction is {beta_val:.3g} <= 0; the quadratic "
            "bound needs beta > 0: pass beta= (an upper bound on r'' over the step)"
        )
    t_star = kappa / beta_val
    r0, r1 = ev.risks(kind, v, [0.0, t_star])

    jb_model = copy.deepcopy(model)
    with torch.no_grad():
        jb_block = jb_model.blocks[p]
        if kind == "W2":
            jb_block.linear2.weight.add_(t_star * v)
        else:
            jb_block.gate.add_(t_star * v)
    return Jumpboard(
        position=p,
        parameter=kind,
        descent_matrix=G,
        direction=v,
        kappa=kappa,
        beta=beta_val,
        curvature_method=method,
        curvature_step=step_used,
        t_star=t_star,
        predicted_decrease=kappa**2 / (2 * beta_val),
        risk_before=float(r0),
        risk_after=float(r1),
        realized_decrease=float(r0 - r1),
        model=jb_model,
    )


# ----------------------------------------------------------------------------------------------
# the linearised Rademacher surrogate
# ----------------------------------------------------------------------------------------------


def _check_factors(rho_tilde: Any, phi: Any) -> tuple[Tensor, Tensor]:
    if not isinstance(rho_tilde, Tensor) or not isinstance(phi, Tensor):
        raise TypeError("rho_tilde and phi must be torch.Tensors")
    if rho_tilde.ndim != 2 or phi.ndim != 2 or rho_tilde.shape[0] != phi.shape[0] or rho_tilde.shape[0] < 1:
        raise ValueError(
            f"rho_tilde must be (n, d) and phi (n, m) with the same n >= 1, "
            f"got {tuple(rho_tilde.shape)} and {tuple(phi.shape)}"
        )
    if not (bool(torch.isfinite(rho_tilde).all()) and bool(torch.isfinite(phi).all())):
        raise ValueError("rho_tilde and phi must be finite (found NaN or inf)")
    return rho_tilde.to(torch.float64), phi.to(device=rho_tilde.device, dtype=torch.float64)


def _check_radius(radius: Any) -> float:
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    return float(radius)


def linearized_rademacher_bound(rho_tilde: Tensor, phi: Tensor, radius: float) -> float:
    """Closed-form (Jensen) bound on the linearised surrogate (note §3.10, Result F, [derived]).

    For :math:`\\mathcal F_{\\rm lin}(M) = \\{x \\mapsto f_{\\rm old}(x) + \\langle W_2, \\mathcal J(x)\\rangle_F :
    \\lVert W_2\\rVert_F \\le M\\}` with :math:`\\mathcal J = \\tilde\\rho\\varphi^\\top`,

    .. math::

        \\hat{\\mathfrak R}_S(\\mathcal F_{\\rm lin}) = \\frac Mn\\,\\mathbb E_\\varepsilon
        \\Big\\lVert\\sum_i\\varepsilon_i\\mathcal J(x_i)\\Big\\rVert_F
        \\le \\frac Mn\\sqrt{\\textstyle\\sum_i \\lVert\\tilde\\rho(x_i)\\rVert^2\\lVert\\varphi(x_i)\\rVert^2},

    tight within :math:`\\sqrt2` (Khintchine–Kahane with the optimal constant of
    Latała–Oleszkiewicz).  The right side is also *exactly*
    :math:`\\frac Mn\\sqrt{\\mathbb E_\\varepsilon\\lVert\\sum_i\\varepsilon_i\\mathcal J(x_i)\\rVert_F^2}`.
    """
    r, f = _check_factors(rho_tilde, phi)
    M = _check_radius(radius)
    n = r.shape[0]
    return M / n * math.sqrt(float(((r * r).sum(1) * (f * f).sum(1)).sum()))


def linearized_rademacher_mc(
    rho_tilde: Tensor, phi: Tensor, radius: float, n_draws: int = 200, seed: int = 0
) -> tuple[float, float, float, float]:
    """Monte Carlo over Rademacher signs of the linearised surrogate (note §3.10).

    Draws :math:`\\varepsilon^{(b)} \\in \\{\\pm1\\}^n`, :math:`b = 1..B`, and averages
    :math:`Z_b = \\frac Mn\\lVert\\sum_i \\varepsilon^{(b)}_i\\tilde\\rho_i\\varphi_i^\\top\\rVert_F`.

    Returns
    -------
    (mean, se, second_moment, second_moment_se) : tuple of float
        The estimate of :math:`\\hat{\\mathfrak R}_S(\\mathcal F_{\\rm lin})` and its standard error,
        and the estimate of :math:`\\mathbb E Z^2` (whose exact value is the square of
        :func:`linearized_rademacher_bound`) with its standard error.
    """
    r, f = _check_factors(rho_tilde, phi)
    M = _check_radius(radius)
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 2:
        raise ValueError(f"n_draws must be an integer >= 2, got {n_draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    n = r.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    chunk = max(1, min(int(n_draws), 2**22 // max(1, r.shape[1] * f.shape[1])))
    norms = []
    done = 0
    while done < n_draws:
        b = min(chunk, int(n_draws) - done)
        eps = (torch.randint(0, 2, (b, n), generator=gen, dtype=torch.int64) * 2 - 1).to(
            dtype=torch.float64, device=r.device
        )
        S = torch.einsum("bi,id,im->bdm", eps, r, f)
        norms.append(torch.linalg.matrix_norm(S).cpu())
        done += b
    z = torch.cat(norms).numpy() * (M / n)
    z2 = z * z
    B = len(z)
    return (
        float(z.mean()),
        float(z.std(ddof=1) / math.sqrt(B)),
        float(z2.mean()),
        float(z2.std(ddof=1) / math.sqrt(B)),
    )


@dataclass(frozen=True)
class RademacherSurrogate:
    """Linearised Rademacher surrogate of the expanded class (note §3.10, §5.5).

    Attributes
    ----------
    radius : float
        :math:`M`, the Frobenius budget of :math:`W_2`.
    n, n_draws : int
    bound : float
        Closed form :math:`\\frac Mn\\sqrt{\\sum_i\\lVert\\tilde\\rho_i\\rVert^2\\lVert\\varphi_i\\rVert^2}`
        (the Jensen bound; exactly the root of the second moment).
    monte_carlo, monte_carlo_se : float
        Monte Carlo :math:`\\hat{\\mathfrak R}_S(\\mathcal F_{\\rm lin})` and its standard error.
    second_moment_mc, second_moment_se : float
        Monte Carlo :math:`\\mathbb E Z^2` (exactly ``bound**2``) and its standard error.
    """

    radius: float
    n: int
    n_draws: int
    bound: float
    monte_carlo: float
    monte_carlo_se: float
    second_moment_mc: float
    second_moment_se: float

    @property
    def ratio(self) -> float:
        """``monte_carlo / bound``; in :math:`[1/\\sqrt2, 1]` up to Monte Carlo error (note §5.5)."""
        return self.monte_carlo / self.bound if self.bound > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["ratio"] = self.ratio
        return d


def linearized_rademacher(
    model: PostLNResNet,
    position: int | None,
    X: Any,
    radius: float,
    *,
    n_draws: int = 200,
    seed: int = 0,
) -> RademacherSurrogate:
    """Linearised Rademacher surrogate at the inserted block: closed form and Monte Carlo.

    Linearises the expanded model in :math:`W_2` around :math:`W_2 = 0`
    (:math:`\\mathcal J(x) = \\tilde\\rho(x)\\varphi(x)^\\top`, :func:`output_gradient`,
    :func:`block_features`) and evaluates :func:`linearized_rademacher_bound` and
    :func:`linearized_rademacher_mc`.  It is the statistical cost of the expansion to first order
    and scales as :math:`M/\\sqrt n` (note §3.10, Result F: the surrogate is [derived]; the paper's
    own norm-based bound is not known).  Scalar-output models only.
    """
    rt = output_gradient(model, position, X)
    phi = block_features(model, position, X)
    bound = linearized_rademacher_bound(rt, phi, radius)
    mean, se, m2, m2se = linearized_rademacher_mc(rt, phi, radius, n_draws=n_draws, seed=seed)
    return RademacherSurrogate(
        radius=float(radius),
        n=int(rt.shape[0]),
        n_draws=int(n_draws),
        bound=bound,
        monte_carlo=mean,
        monte_carlo_se=se,
        second_moment_mc=m2,
        second_moment_se=m2se,
    )


# ----------------------------------------------------------------------------------------------
# test-risk bounds
# ----------------------------------------------------------------------------------------------

Number = float | np.ndarray


@dataclass(frozen=True)
class RiskBound:
    """Terms of a test-risk bound on :math:`\\hat R_T(\\hat f_{\\rm new}) - \\hat R_T(f_{\\rm old})`.

    ``total = -margin + optimization + complexity + confidence``; each field is a float or an
    array (the inputs broadcast, so a chapter can pass arrays of ``n`` and plot each term).

    Attributes
    ----------
    route : str
        ``"i"`` or ``"ii"``.
    margin : float or ndarray
        :math:`\\Delta` (route i) or :math:`\\hat\\Delta_S` (route ii), entering with a minus sign.
    optimization : float or ndarray
        :math:`\\varepsilon_{\\rm opt}`.
    complexity : float or ndarray
        The Rademacher terms.
    confidence : float or ndarray
        The Hoeffding / McDiarmid terms.
    total : float or ndarray
        The bound.
    probability : float
        The probability with which it holds (:math:`1 - 4\\delta` or :math:`1 - \\delta`).
    """

    route: str
    margin: Number
    optimization: Number
    complexity: Number
    confidence: Number
    total: Number
    probability: float

    @property
    def certifies_improvement(self) -> bool | np.ndarray:
        """Whether the bound is negative, i.e. certifies :math:`\\hat R_T(\\hat f_{\\rm new}) < \\hat R_T(f_{\\rm old})`."""
        out = np.asarray(self.total) < 0
        return bool(out) if out.ndim == 0 else out

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["certifies_improvement"] = self.certifies_improvement
        return d


def _arr(x: Any, name: str, *, minimum: float | None = None, strict: bool = False) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or an array of them") from exc
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if minimum is not None:
        bad = a <= minimum if strict else a < minimum
        if np.any(bad):
            rel = ">" if strict else ">="
            raise ValueError(f"{name} must be {rel} {minimum}, got {x!r}")
    return a


def _out(a: np.ndarray) -> Number:
    return float(a) if a.ndim == 0 else a


def _check_delta(delta: Any, upper: float) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not (0 < delta < upper):
        raise ValueError(f"delta must be a number in (0, {upper:g}), got {delta!r}")
    return float(delta)


def route_i_bound(
    margin: Any,
    complexity: Any,
    n: Any,
    n_test: Any,
    *,
    loss_bound: float,
    delta: float = 0.05,
    eps_opt: Any = 0.0,
    separate_sample: bool = False,
) -> RiskBound:
    """Test-risk route (i), through the population risk (note §3.11, Result G, [reconstructed]).

    With probability at least :math:`1 - 4\\delta`,

    .. math::

        \\hat R_T(\\hat f_{\\rm new}) - \\hat R_T(f_{\\rm old}) \\le -\\Delta + \\varepsilon_{\\rm opt}
        + c\\,\\mathfrak R_n(\\ell\\circ\\mathcal F_{\\rm new})
        + 2B\\sqrt{\\frac{\\ln(1/\\delta)}{2n}} + 2B\\sqrt{\\frac{\\ln(1/\\delta)}{2n_{\\rm te}}},

    with :math:`c = 4` (two uniform deviations, because :math:`f_{\\rm jb}` depends on :math:`S`
    through :math:`f_{\\rm old}`, pitfall 7) or :math:`c = 2` when :math:`f_{\\rm old}` was trained on
    a separate sample (``separate_sample=True``: step 4 of the chain becomes a Hoeffding step, and
    the confidence terms are unchanged).  Assumptions: nesting, a positive population margin
    :math:`\\Delta = R(f_{\\rm old}) - R(f_{\\rm jb})` (e.g. :math:`\\ge\\kappa^2/(2\\beta)`),
    :math:`\\hat R_S(\\hat f_{\\rm new}) \\le \\hat R_S(f_{\\rm jb}) + \\varepsilon_{\\rm opt}`, a loss in
    :math:`[0, B]`, and :math:`T` independent of :math:`S`.  This is the book's formalisation of the
    paper's route (i); the paper's own statement is not known.

    Parameters
    ----------
    margin : float or array
        Population margin :math:`\\Delta` (any real: the bound is vacuous for :math:`\\Delta \\le 0`).
    complexity : float or array
        :math:`\\mathfrak R_n(\\ell\\circ\\mathcal F_{\\rm new}) \\ge 0`, the Rademacher complexity of
        the *loss* class (for an :math:`L_\\ell`-Lipschitz loss, :math:`L_\\ell` times that of the
        function class by contraction).
    n, n_test : int or array
        Training and test sample sizes (> 0).
    loss_bound : float
        :math:`B > 0` (clip the squared loss, pitfall 9).
    delta : float, default 0.05
        In :math:`(0, 1/4)`.
    eps_opt : float or array, default 0
        Optimisation slack :math:`\\varepsilon_{\\rm opt} \\ge 0`.
    separate_sample : bool, default False
    """
    B = float(_arr(loss_bound, "loss_bound", minimum=0.0, strict=True))
    delta = _check_delta(delta, 0.25)
    Delta = _arr(margin, "margin")
    R = _arr(complexity, "complexity", minimum=0.0)
    n_a = _arr(n, "n", minimum=0.0, strict=True)
    nt_a = _arr(n_test, "n_test", minimum=0.0, strict=True)
    eo = _arr(eps_opt, "eps_opt", minimum=0.0)
    c = 2.0 if separate_sample else 4.0
    log = math.log(1 / delta)
    complexity_term = c * R
    confidence = 2 * B * np.sqrt(log / (2 * n_a)) + 2 * B * np.sqrt(log / (2 * nt_a))
    Delta, eo, complexity_term, confidence = np.broadcast_arrays(Delta, eo, complexity_term, confidence)
    total = -Delta + eo + complexity_term + confidence
    return RiskBound("i", _out(Delta.copy()), _out(eo.copy()), _out(complexity_term.copy()),
                     _out(confidence.copy()), _out(total), 1 - 4 * delta)


_ROUTE_II_FORMS = ("absolute", "one_sided")


def route_ii_bound(
    empirical_margin: Any,
    complexity_train: Any,
    complexity_test: Any,
    n: Any,
    n_test: Any,
    *,
    loss_bound: float,
    delta: float = 0.05,
    eps_opt: Any = 0.0,
    form: str = "absolute",
) -> RiskBound:
    """Test-risk route (ii), at the train/test level (note §3.12, Result H, [reconstructed]).

    .. math::

        \\hat R_T(\\hat f_{\\rm new}) - \\hat R_T(f_{\\rm old}) \\le -\\hat\\Delta_S + \\varepsilon_{\\rm opt} + 2\\Phi,
        \\qquad \\Phi = \\sup_{f\\in\\mathcal F_{\\rm new}} |\\hat R_T(f) - \\hat R_S(f)|,

    and, with probability at least :math:`1 - \\delta`,

    * ``form="absolute"`` (symmetrisation + McDiarmid, with the absolute-value complexities
      :math:`\\bar{\\mathfrak R}`, pitfall 8):
      :math:`\\Phi \\le 2\\bar{\\mathfrak R}_n + 2\\bar{\\mathfrak R}_{n_{\\rm te}} + B\\sqrt{\\tfrac12(\\tfrac1n + \\tfrac1{n_{\\rm te}})\\ln\\tfrac2\\delta}`;
    * ``form="one_sided"`` (four one-sided uniform deviations, ordinary :math:`\\mathfrak R`):
      :math:`\\Phi \\le 2\\mathfrak R_n + 2\\mathfrak R_{n_{\\rm te}} + B\\sqrt{\\ln(4/\\delta)/(2n)} + B\\sqrt{\\ln(4/\\delta)/(2n_{\\rm te})}`.

    The returned ``complexity`` and ``confidence`` are the terms of :math:`2\\Phi`.  The route needs
    no population margin and no Hoeffding transfer: :math:`\\hat\\Delta_S = \\hat R_S(f_{\\rm old}) - \\hat R_S(\\hat f_{\\rm jb})`
    is observable (e.g. ``Jumpboard.realized_decrease``).  This is the book's formalisation of the
    paper's route (ii); the paper's own statement is not known.

    Parameters
    ----------
    empirical_margin : float or array
        :math:`\\hat\\Delta_S`.
    complexity_train, complexity_test : float or array
        Rademacher complexities (:math:`\\ge 0`) of the loss class at sample sizes ``n`` and ``n_test``.
    n, n_test : int or array
    loss_bound : float
        :math:`B > 0`.
    delta : float, default 0.05
        In :math:`(0, 1)`.
    eps_opt : float or array, default 0
    form : {"absolute", "one_sided"}
    """
    if form not in _ROUTE_II_FORMS:
        raise ValueError(f"form must be one of {_ROUTE_II_FORMS}, got {form!r}")
    B = float(_arr(loss_bound, "loss_bound", minimum=0.0, strict=True))
    delta = _check_delta(delta, 1.0)
    D = _arr(empirical_margin, "empirical_margin")
    Rn = _arr(complexity_train, "complexity_train", minimum=0.0)
    Rt = _arr(complexity_test, "complexity_test", minimum=0.0)
    n_a = _arr(n, "n", minimum=0.0, strict=True)
    nt_a = _arr(n_test, "n_test", minimum=0.0, strict=True)
    eo = _arr(eps_opt, "eps_opt", minimum=0.0)
    complexity_term = 2 * (2 * Rn + 2 * Rt)
    if form == "absolute":
        confidence = 2 * B * np.sqrt(0.5 * (1 / n_a + 1 / nt_a) * math.log(2 / delta))
    else:
        log4 = math.log(4 / delta)
        confidence = 2 * (B * np.sqrt(log4 / (2 * n_a)) + B * np.sqrt(log4 / (2 * nt_a)))
    D, eo, complexity_term, confidence = np.broadcast_arrays(D, eo, complexity_term, confidence)
    total = -D + eo + complexity_term + confidence
    return RiskBound("ii", _out(D.copy()), _out(eo.copy()), _out(complexity_term.copy()),
                     _out(confidence.copy()), _out(total), 1 - delta)


# ----------------------------------------------------------------------------------------------
# equal-compute comparison
# ----------------------------------------------------------------------------------------------


@dataclass
class EqualComputeResult:
    """Continue-training control versus expanded model, same optimiser and step count (note §2.7, pitfall 6).

    Attributes
    ----------
    control, expanded : resntk.train.History
        Train (and test) risk against step for the old model trained ``steps`` more steps and for
        the expanded model trained ``steps`` steps.
    control_model, expanded_model : nn.Module
        The trained copies (the arguments are not modified).
    steps : int
    lr : float
    """

    control: Any
    expanded: Any
    control_model: nn.Module = field(repr=False)
    expanded_model: nn.Module = field(repr=False)
    steps: int = 0
    lr: float = 0.0

    def summary(self) -> dict[str, float]:
        """Initial and final train (and test) risks of both runs."""
        out = {
            "control_train_start": self.control.train_loss[0],
            "control_train_end": self.control.train_loss[-1],
            "expanded_train_start": self.expanded.train_loss[0],
            "expanded_train_end": self.expanded.train_loss[-1],
        }
        if self.control.test_loss:
            out.update(
                control_test_start=self.control.test_loss[0],
                control_test_end=self.control.test_loss[-1],
                expanded_test_start=self.expanded.test_loss[0],
                expanded_test_end=self.expanded.test_loss[-1],
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"control": self.control.as_dict(), "expanded": self.expanded.as_dict(),
                "steps": self.steps, "lr": self.lr}


def equal_compute_comparison(
    old_model: nn.Module,
    expanded_model: nn.Module,
    X: Tensor,
    y: Tensor,
    *,
    steps: int,
    lr: float,
    loss: str = "mse",
    X_test: Tensor | None = None,
    y_test: Tensor | None = None,
    batch_size: int | None = None,
    log_every: int = 1,
    seed: int = 0,
    progress: bool | None = None,
) -> EqualComputeResult:
    """Train the old model and the expanded model for the same number of steps (note §2.7, Result E).

    The **equal-compute control** (pitfall 6): without it a gain of the expanded model is
    confounded with extra training.  Both runs use :func:`resntk.train.train` (plain SGD with step
    ``lr`` on every parameter, full batch unless ``batch_size``) on deep copies, so the arguments
    are untouched.  Pass ``jumpboard(...).model`` as ``expanded_model`` to train from the jumpboard,
    or the zero-block expansion itself.  "Equal compute" means equal step count; a step of the
    expanded model costs slightly more (one more block).  With :math:`\\eta \\le 1/\\beta_S` the
    expanded run satisfies
    :math:`\\hat R_S(\\hat f_{\\rm new}) \\le \\hat R_S(f_{\\rm old}) - \\tfrac\\eta2\\lVert\\hat{\\mathfrak G}_S\\rVert_F^2`
    (Result E, [reconstructed]).
    """
    from .train import train

    if not isinstance(old_model, nn.Module) or not isinstance(expanded_model, nn.Module):
        raise TypeError("old_model and expanded_model must be torch.nn.Modules")
    control = copy.deepcopy(old_model)
    expanded = copy.deepcopy(expanded_model)
    kwargs = dict(steps=steps, lr=lr, loss=loss, batch_size=batch_size, X_test=X_test, y_test=y_test,
                  log_every=log_every, seed=seed, progress=progress)
    h_control = train(control, X, y, **kwargs)
    h_expanded = train(expanded, X, y, **kwargs)
    return EqualComputeResult(h_control, h_expanded, control, expanded, steps=int(steps), lr=float(lr))


# ----------------------------------------------------------------------------------------------
# the verification toy of the note (§5)
# ----------------------------------------------------------------------------------------------


@dataclass
class ExpansionToy:
    """The note's verification toy (§5): an old post-LN model and a weakly non-linear target.

    .. math::

        y = u_\\star^\\top h_L(x) + a\\Big(\\tanh\\big(w^\\top x/\\sqrt{d_{\\rm in}}\\big)^2 - 0.3\\Big)
        + \\sigma\\,\\xi,\\qquad x \\sim \\mathcal N(0, I_{d_{\\rm in}}),\\ \\xi \\sim \\mathcal N(0, 1),

    with :math:`h_L` the features of the random old network (``teacher``), whose readout is then
    fitted by ridge regression on the training sample (:func:`~resntk.postln.fit_readout`; not a
    stationary point of the old blocks, pitfall 12).  This is the book's instance of the toy; the
    note's two instances are indicative (§5).

    Attributes
    ----------
    model : PostLNResNet
        The old model :math:`f_{\\rm old}` (the teacher with the ridge readout).
    X, y, X_test, y_test : Tensor
        Training and test samples (``y`` of shape (n,)).
    a, noise : float
        Weak-signal amplitude :math:`a` and noise level :math:`\\sigma`.
    teacher : PostLNResNet
        The random network whose last stream :math:`h_L` carries the linear part of the target.
    u_star, w : Tensor
        The target's readout :math:`u_\\star` (shape (d,)) and weak-signal direction :math:`w` (shape (in_dim,)).
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
        """The noiseless regression function at ``X``, shape (n,)."""
        return _toy_target(self.teacher, self.u_star, self.w, self.a, self.teacher.as_input(X))

    def sample(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """A fresh i.i.d. sample of size ``n`` (e.g. :math:`\\ge 10^5` points as a population proxy, pitfall 10)."""
        return _toy_sample(self.teacher, self.u_star, self.w, self.a, self.noise, n, seed)


def _toy_target(teacher: PostLNResNet, u: Tensor, w: Tensor, a: float, X: Tensor) -> Tensor:
    with torch.no_grad():
        lin = teacher.hidden_state(X, teacher.depth) @ u
        weak = a * (torch.tanh(X @ w / math.sqrt(X.shape[1])) ** 2 - 0.3)
    return lin + weak


def _toy_sample(
    teacher: PostLNResNet, u: Tensor, w: Tensor, a: float, noise: float, n: int, seed: int
) -> tuple[Tensor, Tensor]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    gen = torch.Generator().manual_seed(int(seed))
    X = torch.randn((int(n), teacher.in_dim), generator=gen, dtype=torch.float64)
    xi = torch.randn((int(n),), generator=gen, dtype=torch.float64)
    X = X.to(dtype=teacher.dtype, device=teacher.device)
    xi = xi.to(dtype=teacher.dtype, device=teacher.device)
    return X, _toy_target(teacher, u, w, a, X) + noise * xi


def make_expansion_toy(
    n: int = 1000,
    n_test: int = 1000,
    *,
    a: float = 0.6,
    noise: float = 0.3,
    in_dim: int = 10,
    d: int = 16,
    depth: int = 2,
    hidden: int = 32,
    eps: float = 1e-5,
    bias: bool = False,
    ridge: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> ExpansionToy:
    """Build the verification toy of the note (§5); the defaults are the note's instance 2.

    ``x ~ N(0, I_10)``, ``d = 16``, ``L = 2`` bias-free blocks of width 32 with
    :math:`\\mathcal N(0, 1/\\text{fan-in})` weights, non-affine LayerNorm with
    :math:`\\epsilon = 10^{-5}`, ridge readout, :math:`a = 0.6`, :math:`\\sigma = 0.3`, float64.
    Everything is seeded by ``seed``: the network by ``seed``, the target by ``seed + 1``, the
    training sample by ``seed + 2`` and the test sample by ``seed + 3`` (use other seeds in
    :meth:`ExpansionToy.sample` for fresh data).
    """
    for name, val in (("a", a), ("noise", noise)):
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not (math.isfinite(val) and val >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {val!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    teacher = PostLNResNet(in_dim, d, hidden, depth, out_dim=1, eps=eps, bias=bias, seed=int(seed), device=device)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    u = (torch.randn((d,), generator=gen, dtype=torch.float64) / math.sqrt(d)).to(dtype=teacher.dtype, device=teacher.device)
    w = torch.randn((in_dim,), generator=gen, dtype=torch.float64).to(dtype=teacher.dtype, device=teacher.device)
    X, y = _toy_sample(teacher, u, w, float(a), float(noise), n, int(seed) + 2)
    X_test, y_test = _toy_sample(teacher, u, w, float(a), float(noise), n_test, int(seed) + 3)
    model = fit_readout(teacher, X, y, ridge=ridge)
    return ExpansionToy(model, X, y, X_test, y_test, float(a), float(noise), teacher, u, w)
