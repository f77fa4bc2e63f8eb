r"""Function-preserving insertion of a residual block into a post-normalised network, and the ridge readout.

Book: Chapter 10 ("Normalised residual networks and function-preserving insertion"), Definition
`postln-def-insertion`, Propositions `postln-prop-preserve`, `postln-prop-affine` and `postln-prop-trap`; the
initialisations follow Fixup :cite:`zhang2019fixup` and ReZero :cite:`bachlechner2021rezero`.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._validation import as_points, as_targets, check_bool, check_int, check_real, make_generator
from ._postln import PostLNResNet, ResidualBlock

#: Accepted values of ``init`` in :func:`insert_block`.
INSERT_INITS: tuple[str, ...] = ("zero_out", "gate")

# Initialisations that zero every factor of the branch: refused (Proposition `postln-prop-trap`).
_DEGENERATE_INITS = ("zero_both", "zero_all", "zero", "zeros", "all_zero", "zero_init")

_TRAP_MESSAGE = (
    "init={init!r} is refused: it sets W1 = 0, b1 = 0 and W2 = 0, and then every first-order derivative of the risk "
    "with respect to the new block vanishes (the features are sigma(0) = 0, so the W2-gradient is zero, and W1, b1 "
    "reach the output only through W2 = 0). Gradient descent never leaves this point and no direction satisfies the "
    "first-order descent condition (the zero-initialisation trap, book Chapter 10, Proposition postln-prop-trap). "
    "Use init='zero_out' (W1 random, W2 = 0) or init='gate' (random block behind a scalar gate g = 0)."
)

_DEFAULT_PROBE_SIZE = 256


@dataclass(frozen=True)
class Insertion:
    r"""Record of a block insertion (attribute ``insertion_`` of the expanded model).

    Attributes
    ----------
    position : int
        :math:`p`: the new block sits after old block :math:`p`; it is ``model.blocks[p]`` of the expanded model.
    hidden : int
        Its hidden width :math:`m`.
    init : str
        ``"zero_out"`` (ray parameter :math:`W_2`) or ``"gate"`` (ray parameter :math:`g`).
    feature_scale : float
        The :math:`s` in :math:`\varphi = s\,\sigma(W_1h+b_1)`.
    parameter_names : tuple of str
        Names (in ``model.named_parameters()``) of the new block's parameters.
    preserving : bool
        Whether the theory guarantees preservation (non-affine LayerNorm: exact at :math:`\epsilon = 0`,
        :math:`O(\epsilon)` otherwise; Proposition `postln-prop-preserve`).
    function_change : float
        Measured :math:`\max |f_{\rm exp} - f_{\rm old}|` on the probe batch.
    probe : str
        Where the probe came from.
    """

    position: int
    hidden: int
    init: str
    feature_scale: float
    parameter_names: tuple[str, ...]
    preserving: bool
    function_change: float
    probe: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def insert_block(model: PostLNResNet, position: int, hidden: int, init: str = "zero_out", *,
                 probe: Tensor | np.ndarray | None = None, bias_std: float = 0.1, normalize_features: bool = True,
                 seed: int = 0) -> PostLNResNet:
    r"""Insert a zero-output residual block after block ``position`` (Chapter 10, Definition `postln-def-insertion`).

    .. math::

        h'_p = N\big(h_p + G(h_p;\psi)\big),\qquad G(h;\psi) = g\,W_2\,\varphi(h),\qquad
        \varphi(h) = s\,\sigma(W_1 h + b_1),

    keeping blocks :math:`p+1,\dots,L` and the readout. The argument is never mutated: the result is a deep copy with
    one more block, ``model.blocks[position]``. Initialisations:

    * ``"zero_out"`` (Fixup style): :math:`W_1 \sim \mathcal N(0, 1/d)`, :math:`b_1 \sim` ``bias_std``
      :math:`\cdot\mathcal N(0,1)`, :math:`W_2 = 0`, no gate;
    * ``"gate"`` (ReZero style): :math:`W_1, b_1` as above, :math:`W_2` with entries :math:`\mathcal N(0, 1/(m s^2))`,
      and a trainable scalar gate :math:`g = 0`.

    An initialisation that zeroes every factor (``"zero_both"`` and similar) is refused: all first-order derivatives
    vanish there (Proposition `postln-prop-trap`). With non-affine LayerNorm the new model equals the old one exactly
    when :math:`\epsilon = 0` and up to :math:`O(\epsilon)` otherwise (:math:`O(\epsilon^2)` for bias-free old
    blocks; Proposition `postln-prop-preserve`). With affine LayerNorm it generally does not (Proposition
    `postln-prop-affine`); the change is measured on a probe batch, stored in ``insertion_.function_change`` and,
    above ``1e-6``, reported by a ``UserWarning``.

    Parameters
    ----------
    model : PostLNResNet
        The old model (not modified).
    position : int
        :math:`p \in \{0, \dots, L\}`.
    hidden : int
        Hidden width :math:`m` of the new block.
    init : {"zero_out", "gate"}
    probe : tensor or array, optional
        Inputs ``(n, in_dim)`` on which to measure :math:`\max|f_{\rm exp}-f_{\rm old}|`; default 256 standard
        Gaussian inputs drawn with ``seed``.
    bias_std : float, default 0.1
        Scale of the random :math:`b_1`.
    normalize_features : bool, default True
        :math:`s = 1/\sqrt m` if True, else :math:`s = 1`. Going from :math:`s = 1/\sqrt m` to :math:`s = 1` multiplies
        :math:`\kappa` by :math:`\sqrt m` and :math:`\beta` by :math:`m` and leaves :math:`\kappa^2/(2\beta)` unchanged
        (Chapter 11, Exercise `ex-jumpboard-scale`).
    seed : int, default 0
        Seed of the new block's random factors (a private CPU generator).

    Returns
    -------
    PostLNResNet
        The expanded model, with ``insertion_`` set to an :class:`Insertion` record.
    """
    if not isinstance(model, PostLNResNet):
        raise TypeError(f"model must be a PostLNResNet, got {type(model).__name__}")
    position = model.check_layer(position, "position")
    hidden = check_int(hidden, "hidden", minimum=1)
    if not isinstance(init, str):
        raise TypeError(f"init must be a string, one of {INSERT_INITS}, got {type(init).__name__}")
    if init.lower() in _DEGENERATE_INITS:
        raise ValueError(_TRAP_MESSAGE.format(init=init))
    if init not in INSERT_INITS:
        raise ValueError(f"init must be one of {INSERT_INITS}, got {init!r}")
    bias_std = check_real(bias_std, "bias_std", minimum=0.0)
    normalize_features = check_bool(normalize_features, "normalize_features")
    gen = make_generator(seed)
    if probe is None:
        probe_t = torch.randn((_DEFAULT_PROBE_SIZE, model.in_dim), generator=gen, dtype=torch.float64)
        probe_desc = f"default: {_DEFAULT_PROBE_SIZE} standard Gaussian inputs (seed={seed})"
    else:
        probe_t = as_points(probe, "probe", n_features=model.in_dim)
        probe_desc = f"given (n={probe_t.shape[0]})"
    probe_t = probe_t.to(dtype=model.dtype, device=model.device)

    scale = 1.0 / math.sqrt(hidden) if normalize_features else 1.0
    gated = init == "gate"
    block = ResidualBlock(model.width, hidden, bias=True, affine=model.affine, eps=model.eps, feature_scale=scale,
                          gated=gated, bias_std=bias_std, w2_std=1 / (math.sqrt(hidden) * scale) if gated else 0.0,
                          generator=gen, dtype=model.dtype, device=model.device)
    if gated:
        with torch.no_grad():
            block.gate.zero_()
    new = copy.deepcopy(model)
    new.blocks.insert(position, block)
    with torch.no_grad():
        change = float((new(probe_t) - model(probe_t)).abs().max())
    new.insertion_ = Insertion(
        position=position, hidden=hidden, init=init, feature_scale=scale,
        parameter_names=tuple(f"blocks.{position}.{name}" for name, _ in block.named_parameters()),
        preserving=not model.affine, function_change=change, probe=probe_desc)
    if model.affine and change > 1e-6:
        warnings.warn(f"insert_block: the network uses affine LayerNorm, so the zero-output insertion is not "
                      f"function-preserving; measured max |f_exp - f_old| = {change:.3g} on the probe ({probe_desc}). "
                      "See the book's Chapter 10, Proposition postln-prop-affine.", UserWarning, stacklevel=2)
    return new


def fit_readout(model: PostLNResNet, X: Tensor | np.ndarray, y: Tensor | np.ndarray, ridge: float = 1e-3
                ) -> PostLNResNet:
    r"""A copy of ``model`` whose readout :math:`U` is the ridge fit on the last stream.

    .. math::

        U^\top = \Big(\tfrac1n H^\top H + \lambda I\Big)^{-1} \tfrac1n H^\top Y,
        \qquad H = [h_L(x_1), \dots, h_L(x_n)]^\top .

    The cheap "old model" of the book's Part III experiments; it leaves the gradients of the old blocks non-zero, so
    it is not a stationary point of the old class.

    Parameters
    ----------
    model : PostLNResNet
    X : tensor or array, shape (n, in_dim)
    y : tensor or array, shape (n,) or (n, out_dim)
    ridge : float, default 1e-3
        :math:`\lambda > 0`.
    """
    if not isinstance(model, PostLNResNet):
        raise TypeError(f"model must be a PostLNResNet, got {type(model).__name__}")
    Xt = as_points(X, "X", n_features=model.in_dim).to(dtype=model.dtype, device=model.device)
    Y = as_targets(y, "y", Xt.shape[0]).to(dtype=model.dtype, device=model.device)
    ridge = check_real(ridge, "ridge", minimum=0.0, strict=True)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.shape[1] != model.out_dim:
        raise ValueError(f"y must have shape (n,) or (n, out_dim) = ({Xt.shape[0]}, {model.out_dim}), got "
                         f"{tuple(Y.shape)}")
    new = copy.deepcopy(model)
    with torch.no_grad():
        H = new._state(Xt, new.depth)
        n = H.shape[0]
        A = H.T @ H / n + ridge * torch.eye(new.width, dtype=H.dtype, device=H.device)
        new.readout.weight.copy_(torch.linalg.solve(A, H.T @ Y / n).T)
    return new
