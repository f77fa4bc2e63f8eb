r"""Shared pieces of the depth-expansion quantities: argument checks, the risk, and rays through the new block.

A *ray* is :math:`t \mapsto f_{\rm old}\oplus(\psi_0 + tv)`, moving either :math:`W_2` (direction a :math:`d\times m`
matrix :math:`V`) or the gate :math:`g` (direction a scalar), with
:math:`r(t) = \hat R_S(f_{\rm old}\oplus(\psi_0 + tv))` (book, Chapter 11, "The first-order descent condition and the
jumpboard", Proposition `jumpboard-prop-first-order`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._conventions import LOSSES, loss_value
from .._validation import as_batch, as_float64, as_points, check_choice, check_int, check_real
from ..nets import PostLNResNet, ResidualBlock


def check_model(model: Any) -> PostLNResNet:
    if not isinstance(model, PostLNResNet):
        raise TypeError(f"model must be a PostLNResNet, got {type(model).__name__}")
    return model


def resolve_position(model: PostLNResNet, position: int | None) -> tuple[int, ResidualBlock]:
    """The index ``p`` of the inserted block in ``model.blocks`` (default: the insertion record's) and the block."""
    if position is None:
        if model.insertion_ is None:
            raise ValueError("position is None but the model has no insertion record (model.insertion_ is None): "
                             "pass the index of the inserted block")
        position = model.insertion_.position
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise TypeError(f"position must be an integer, got {type(position).__name__}")
    position = int(position)
    if not 0 <= position < model.depth:
        raise ValueError(f"position must index a block of the expanded model, 0 <= position < depth={model.depth}, "
                         f"got {position}")
    return position, model.blocks[position]


def model_input(model: PostLNResNet, X: Any, name: str = "X") -> Tensor:
    """Inputs ``(n, in_dim)`` (tensor or array), validated once and cast to the model."""
    return as_points(X, name, n_features=model.in_dim).to(dtype=model.dtype, device=model.device)


def targets(model: PostLNResNet, y: Any, n: int, loss: str, name: str = "y") -> Tensor:
    """Real targets ``(n,)``/``(n, q)`` for ``"mse"``, integer labels ``(n,)`` in ``[0, q)`` for ``"cross_entropy"``."""
    if loss == "mse":
        t = as_float64(y, name)
        q = model.out_dim
        if t.ndim == 1 and q == 1:
            t = t.unsqueeze(1)
        if tuple(t.shape) != (n, q):
            raise ValueError(f"{name} must have shape ({n},) or ({n}, {q}) for loss='mse', got {tuple(t.shape)}")
        return t.to(dtype=model.dtype, device=model.device)
    if model.out_dim < 2:
        raise ValueError(f"loss='cross_entropy' needs a model with out_dim >= 2 logits, got out_dim={model.out_dim}")
    t = as_batch(y, name)
    if t.is_floating_point():
        raise TypeError(f"{name} must hold integer class labels for loss='cross_entropy', got dtype {t.dtype}")
    if tuple(t.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},) for loss='cross_entropy', got {tuple(t.shape)}")
    if int(t.min()) < 0 or int(t.max()) >= model.out_dim:
        raise ValueError(f"{name} labels must lie in [0, {model.out_dim}), got range [{int(t.min())}, {int(t.max())}]")
    return t.to(dtype=torch.long, device=model.device)


def data(model: PostLNResNet, X: Any, y: Any, loss: str) -> tuple[Tensor, Tensor]:
    """The sample :math:`S`: validated inputs and targets."""
    loss = check_choice(loss, "loss", LOSSES)
    Xt = model_input(model, X)
    return Xt, targets(model, y, Xt.shape[0], loss)


def factor_pair(first: Any, second: Any, names: tuple[str, str]) -> tuple[Tensor, Tensor]:
    """Precomputed per-sample factors of shapes ``(n, d)`` and ``(n, m)`` with the same ``n >= 1``, float64."""
    a = as_float64(first, names[0])
    b = as_float64(second, names[1], a.device)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0] or a.shape[0] < 1:
        raise ValueError(f"{names[0]} must be (n, d) and {names[1]} (n, m) with the same n >= 1, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def check_step(step: Any, name: str = "step") -> float:
    return check_real(step, name, minimum=0.0, strict=True)


def check_seed(seed: Any) -> int:
    return check_int(seed, "seed", minimum=0)


def ray_kind(block: ResidualBlock, direction: Any) -> tuple[str, Tensor]:
    """Classify a direction: ``"W2"`` (a ``(d, m)`` matrix) or ``"gate"`` (a scalar)."""
    W2 = block.linear2.weight
    if isinstance(direction, (int, float, np.floating)) and not isinstance(direction, bool):
        v = torch.tensor(float(direction), dtype=W2.dtype, device=W2.device)
    elif isinstance(direction, (Tensor, np.ndarray)):
        v = as_float64(direction, "direction").to(dtype=W2.dtype, device=W2.device)
    else:
        raise TypeError(f"direction must be a (d, m) tensor (W2 ray) or a real number (gate ray), got "
                        f"{type(direction).__name__}")
    if not bool(torch.isfinite(v).all()):
        raise ValueError("direction must be finite (found NaN or inf)")
    if v.ndim == 0 or v.numel() == 1 and v.shape != W2.shape:
        if block.gate is None:
            raise ValueError("a scalar direction moves the gate g, but this block has no gate (init='zero_out'); "
                             f"pass a W2 direction of shape {tuple(W2.shape)}")
        return "gate", v.reshape(())
    if v.shape != W2.shape:
        raise ValueError(f"direction must have the shape of W2, {tuple(W2.shape)}, or be a scalar; got {tuple(v.shape)}")
    return "W2", v


def _branch_on_ray(block: ResidualBlock, phi: Tensor, kind: str, v: Tensor, t: Tensor | float) -> Tensor:
    """:math:`G(h_p;\\psi_0 + tv)` from precomputed features ``phi`` (:math:`W_1, b_1` do not move)."""
    W2 = block.linear2.weight
    if kind == "W2":
        out = phi @ (W2 + t * v).T
        return block.gate * out if block.gate is not None else out
    return (block.gate + t * v) * (phi @ W2.T)


class RayEvaluator:
    """Precomputes :math:`h_p` and :math:`\\varphi` once; evaluates :math:`r(t)` through the suffix only."""

    def __init__(self, model: PostLNResNet, p: int, block: ResidualBlock, X: Tensor, Y: Tensor, loss: str) -> None:
        self.model, self.p, self.block, self.Y, self.loss = model, p, block, Y, loss
        with torch.no_grad():
            self.hp = model._state(X, p)
            self.phi = block.features(self.hp)

    def risk(self, kind: str, v: Tensor, t: Tensor | float) -> Tensor:
        h = self.block.norm(self.hp + _branch_on_ray(self.block, self.phi, kind, v, t))
        return loss_value(self.model._head(h, self.p + 1), self.Y, self.loss)

    def risks(self, kind: str, v: Tensor, ts: Sequence[float]) -> np.ndarray:
        with torch.no_grad():
            return np.array([float(self.risk(kind, v, float(t))) for t in ts])


def default_fd_step(v: Tensor, base: float) -> float:
    norm = float(torch.linalg.vector_norm(v))
    if norm == 0.0:
        raise ValueError("direction must be non-zero")
    return base / norm
