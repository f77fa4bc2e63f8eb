"""Post-normalised residual networks and function-preserving block insertion.

This module implements the architecture of Part III of the book (depth expansion,
Cheng et al. 2026) and the insertion of a new residual block into a trained
network.  Reference: ``shared/papers/depth-expansion.md`` (the *note*), §2.1–§2.5,
§3.1–§3.3; chapter "Normalised residual networks and function-preserving insertion".

Architecture (note §2.2, the book's formalisation; the paper's exact architecture
is not known): with non-affine LayerNorm

.. math::

    N(z) = \\frac{z - \\mu(z)\\mathbf 1}{\\sqrt{v(z) + \\epsilon}},\\qquad
    \\mu(z) = \\tfrac1d \\mathbf 1^\\top z,\\qquad
    v(z) = \\tfrac1d \\lVert z - \\mu(z)\\mathbf 1 \\rVert_2^2,

the network is

.. math::

    h_0 = N(Ax),\\qquad
    h_k = N\\big(h_{k-1} + W_{2,k}\\,\\varphi_k(h_{k-1})\\big),\\qquad
    \\varphi_k(h) = s_k\\,\\sigma(W_{1,k} h + b_{1,k}),\\qquad
    f(x) = U h_L,

with :math:`\\sigma` = ReLU and a fixed feature scale :math:`s_k` (1 for the
blocks of :class:`PostLNResNet`; :math:`1/\\sqrt m` by default for an inserted
block, the convention the note recommends in pitfall 14).

Inserting a zero-output block after block :math:`p` gives
:math:`h'_p = N(h_p)`, which equals :math:`h_p` exactly when :math:`\\epsilon = 0`
and up to :math:`O(\\epsilon)` otherwise (note §3.2, [derived]); with *affine*
LayerNorm the insertion generally changes the function, and
:func:`insert_block` measures and reports that change instead of claiming
preservation.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "layer_norm",
    "layer_norm_jacobian",
    "PostNorm",
    "ResidualBlock",
    "PostLNResNet",
    "Insertion",
    "insert_block",
    "fit_readout",
    "INSERT_INITS",
]

#: Accepted values of ``init`` in :func:`insert_block`.
INSERT_INITS: tuple[str, ...] = ("zero_out", "gate")

# Initialisations that zero every factor of the branch: refused (note §3.3).
_DEGENERATE_INITS = ("zero_both", "zero_all", "zero", "zeros", "all_zero", "zero_init")

_TRAP_MESSAGE = (
    "init={init!r} is refused: it sets W1 = 0, b1 = 0 and W2 = 0, and then every first-order "
    "derivative of the risk with respect to the new block vanishes (the features are sigma(0) = 0, "
    "so the W2-gradient is zero, and W1, b1 reach the output only through W2 = 0). Gradient descent "
    "never leaves this point and no direction satisfies the first-order descent condition (the "
    "zero-initialisation trap, note section 3.3). Use init='zero_out' (W1 random, W2 = 0) or "
    "init='gate' (random block behind a scalar gate g = 0)."
)


# ----------------------------------------------------------------------------------------------
# LayerNorm
# ----------------------------------------------------------------------------------------------


def _check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"eps must be a real number >= 0, got {type(eps).__name__}")
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    return eps


def layer_norm(z: Tensor, eps: float = 1e-5) -> Tensor:
    """Non-affine LayerNorm :math:`N` over the last axis (note §2.1).

    .. math::

        N(z) = \\frac{z - \\mu(z)\\mathbf 1}{\\sqrt{v(z)+\\epsilon}},\\qquad
        \\lVert N(z) \\rVert_2^2 = d\\,\\frac{v(z)}{v(z)+\\epsilon} \\le d .

    Parameters
    ----------
    z : Tensor, shape (..., d)
        Pre-normalisation vectors, ``d >= 2``.
    eps : float, default 1e-5
        The :math:`\\epsilon \\ge 0` under the square root.

    Returns
    -------
    Tensor, shape (..., d)
    """
    if not isinstance(z, Tensor):
        raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
    if z.ndim < 1 or z.shape[-1] < 2:
        raise ValueError(f"z must have a last axis of size d >= 2, got shape {tuple(z.shape)}")
    eps = _check_eps(eps)
    return F.layer_norm(z, (z.shape[-1],), eps=eps)


def layer_norm_jacobian(z: Tensor, eps: float = 1e-5) -> Tensor:
    """Explicit Jacobian :math:`J_N(z)` of the non-affine LayerNorm (note §3.1, [derived]).

    .. math::

        J_N(z) = \\frac{1}{\\sqrt{v(z)+\\epsilon}}
        \\Big(I - \\tfrac1d \\mathbf 1 \\mathbf 1^\\top - \\tfrac1d N(z) N(z)^\\top\\Big),

    symmetric, with :math:`\\lVert J_N(z)\\rVert_{op} \\le 1/\\sqrt{v(z)+\\epsilon}`; it
    annihilates :math:`\\mathbf 1` exactly and shrinks :math:`N(z)` by the factor
    :math:`\\epsilon/(v+\\epsilon)`.

    Parameters
    ----------
    z : Tensor, shape (..., d)
    eps : float, default 1e-5

    Returns
    -------
    Tensor, shape (..., d, d)
    """
    nz = layer_norm(z, eps)
    d = z.shape[-1]
    c = z - z.mean(dim=-1, keepdim=True)
    v = (c * c).mean(dim=-1, keepdim=True)
    inv_s = 1.0 / torch.sqrt(v + eps)  # (..., 1)
    eye = torch.eye(d, dtype=z.dtype, device=z.device)
    ones = torch.full((d, d), 1.0 / d, dtype=z.dtype, device=z.device)
    bracket = eye - ones - nz.unsqueeze(-1) * nz.unsqueeze(-2) / d
    return inv_s.unsqueeze(-1) * bracket


class PostNorm(nn.Module):
    """The LayerNorm applied after each residual addition.

    Non-affine by default (:math:`N`, note §2.1).  With ``affine=True`` it is
    :math:`N_{\\boldsymbol\\gamma,\\boldsymbol\\beta}(z) = \\boldsymbol\\gamma \\odot N(z) + \\boldsymbol\\beta`
    with learned :math:`\\boldsymbol\\gamma` (``weight``, initialised to 1) and
    :math:`\\boldsymbol\\beta` (``bias``, initialised to 0).
    """

    def __init__(
        self,
        d: int,
        *,
        affine: bool = False,
        eps: float = 1e-5,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.d = int(d)
        self.eps = _check_eps(eps)
        self.affine = bool(affine)
        if self.affine:
            self.weight = nn.Parameter(torch.ones(self.d, dtype=dtype, device=device))
            self.bias = nn.Parameter(torch.zeros(self.d, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, z: Tensor) -> Tensor:
        return F.layer_norm(z, (self.d,), self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.d}, affine={self.affine}, eps={self.eps:g}"


# ----------------------------------------------------------------------------------------------
# Blocks and the network
# ----------------------------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """One post-normalised residual block (note §2.2).

    .. math::

        h \\mapsto N\\big(h + g\\,W_2\\,\\varphi(h)\\big),\\qquad
        \\varphi(h) = s\\,\\sigma(W_1 h + b_1),

    where :math:`g` is a trainable scalar gate when ``gated=True`` (ReZero style,
    note §2.5 (b)) and :math:`g \\equiv 1` otherwise, and :math:`s` is the fixed
    ``feature_scale``.

    Attributes
    ----------
    linear1 : nn.Linear
        :math:`W_1 \\in \\mathbb R^{m\\times d}` (``weight``) and :math:`b_1` (``bias``, or ``None``).
    linear2 : nn.Linear
        :math:`W_2 \\in \\mathbb R^{d\\times m}` (``weight``; no bias).
    gate : nn.Parameter or None
        The scalar gate :math:`g`.
    norm : PostNorm
    feature_scale : float
    """

    def __init__(
        self,
        d: int,
        hidden: int,
        *,
        bias: bool = True,
        affine: bool = False,
        eps: float = 1e-5,
        feature_scale: float = 1.0,
        gated: bool = False,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.d = int(d)
        self.hidden = int(hidden)
        self.feature_scale = float(feature_scale)
        self.linear1 = nn.Linear(self.d, self.hidden, bias=bias, dtype=dtype, device=device)
        self.linear2 = nn.Linear(self.hidden, self.d, bias=False, dtype=dtype, device=device)
        if gated:
            self.gate = nn.Parameter(torch.ones((), dtype=dtype, device=device))
        else:
            self.register_parameter("gate", None)
        self.norm = PostNorm(self.d, affine=affine, eps=eps, dtype=dtype, device=device)

    def features(self, h: Tensor) -> Tensor:
        """Hidden features :math:`\\varphi(h) = s\\,\\sigma(W_1 h + b_1)`, shape (n, m)."""
        phi = torch.relu(self.linear1(h))
        if self.feature_scale != 1.0:
            phi = phi * self.feature_scale
        return phi

    def branch(self, h: Tensor) -> Tensor:
        """The residual branch :math:`g\\,W_2\\varphi(h)`, shape (n, d)."""
        out = self.linear2(self.features(h))
        if self.gate is not None:
            out = self.gate * out
        return out

    def forward(self, h: Tensor) -> Tensor:
        return self.norm(h + self.branch(h))


def _check_pos_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _check_dtype(dtype: Any) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype


class PostLNResNet(nn.Module):
    """Post-normalised residual network (note §2.2; the book's formalisation).

    .. math::

        h_0 = N(Ax),\\qquad h_k = N\\big(h_{k-1} + W_{2,k}\\,\\sigma(W_{1,k}h_{k-1} + b_{1,k})\\big),
        \\quad k = 1,\\dots,L,\\qquad f(x) = U h_L \\in \\mathbb R^q .

    Post-normalisation resets the scale after every block:
    :math:`\\lVert h_k\\rVert^2 = d\\,v/(v+\\epsilon) \\le d` whatever the weights
    (note §3.1; times :math:`\\lVert\\boldsymbol\\gamma\\rVert_\\infty` plus
    :math:`\\lVert\\boldsymbol\\beta\\rVert` when affine).

    Parameters
    ----------
    in_dim : int
        Input dimension.
    d : int
        Residual-stream width, ``d >= 2``.
    hidden : int or sequence of int
        Hidden width :math:`m_k` of every block (or one per block).
    depth : int
        Number of residual blocks :math:`L \\ge 0`.
    affine : bool, default False
        Affine LayerNorm (learned :math:`\\boldsymbol\\gamma, \\boldsymbol\\beta`) after each addition
        and after the embedding.  The theory (function preservation) needs ``False`` (note §3.2).
    out_dim : int, default 1
        Output dimension :math:`q`.  The forward pass returns shape ``(n, q)``.
    eps : float, default 1e-5
        LayerNorm :math:`\\epsilon`.
    bias : bool, default True
        Whether the blocks carry the bias :math:`b_{1,k}` ("bias-free" blocks commute with
        positive scaling, which makes insertion preserve the function to :math:`O(\\epsilon^2)`,
        note §5.2).
    bias_std : float, default 0.0
        Initial biases are ``bias_std * N(0, 1)``.
    seed : int, default 0
        Seed of the initialisation (drawn on the CPU, then moved to ``device``, so it is the
        same on every device).  Weights are :math:`\\mathcal N(0, 1/\\text{fan-in})` (note §5).
    dtype : torch.dtype, default torch.float64
    device : torch.device or str, optional
    """

    def __init__(
        self,
        in_dim: int,
        d: int,
        hidden: int | Sequence[int],
        depth: int,
        affine: bool = False,
        *,
        out_dim: int = 1,
        eps: float = 1e-5,
        bias: bool = True,
        bias_std: float = 0.0,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        in_dim = _check_pos_int(in_dim, "in_dim")
        d = _check_pos_int(d, "d", 2)
        depth = _check_pos_int(depth, "depth", 0)
        out_dim = _check_pos_int(out_dim, "out_dim")
        eps = _check_eps(eps)
        dtype = _check_dtype(dtype)
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            widths = [_check_pos_int(hidden, "hidden")] * depth
        elif isinstance(hidden, Sequence) and not isinstance(hidden, str):
            widths = [_check_pos_int(m, "hidden[k]") for m in hidden]
            if len(widths) != depth:
                raise ValueError(
                    f"hidden must be an int or a sequence of length depth={depth}, got length {len(widths)}"
                )
        else:
            raise TypeError(f"hidden must be an int or a sequence of ints, got {type(hidden).__name__}")
        if isinstance(bias_std, bool) or not isinstance(bias_std, (int, float)) or not (
            math.isfinite(bias_std) and bias_std >= 0
        ):
            raise ValueError(f"bias_std must be a finite number >= 0, got {bias_std!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"seed must be an integer, got {type(seed).__name__}")

        self.in_dim, self.d, self.out_dim = in_dim, d, out_dim
        self.eps, self.affine = eps, bool(affine)
        self.embed = nn.Linear(in_dim, d, bias=False, dtype=dtype, device=device)
        self.embed_norm = PostNorm(d, affine=self.affine, eps=eps, dtype=dtype, device=device)
        self.blocks = nn.ModuleList(
            ResidualBlock(d, m, bias=bias, affine=self.affine, eps=eps, dtype=dtype, device=device)
            for m in widths
        )
        self.readout = nn.Linear(d, out_dim, bias=False, dtype=dtype, device=device)
        #: Record of the latest :func:`insert_block` that produced this model (``None`` if none).
        self.insertion_: Insertion | None = None

        gen = torch.Generator().manual_seed(int(seed))

        def normal(shape: tuple[int, ...], std: float) -> Tensor:
            return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).to(dtype=dtype, device=device)

        with torch.no_grad():
            self.embed.weight.copy_(normal((d, in_dim), 1 / math.sqrt(in_dim)))
            for block in self.blocks:
                m = block.hidden
                block.linear1.weight.copy_(normal((m, d), 1 / math.sqrt(d)))
                if block.linear1.bias is not None:
                    block.linear1.bias.copy_(normal((m,), float(bias_std)))
                block.linear2.weight.copy_(normal((d, m), 1 / math.sqrt(m)))
            self.readout.weight.copy_(normal((out_dim, d), 1 / math.sqrt(d)))

    # -- structure ------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of residual blocks :math:`L`."""
        return len(self.blocks)

    def _check_layer(self, k: Any, name: str) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"{name} must be an integer in [0, {self.depth}], got {type(k).__name__}")
        k = int(k)
        if not 0 <= k <= self.depth:
            raise ValueError(f"{name} must be an integer in [0, depth={self.depth}], got {k}")
        return k

    # -- forward pieces -------------------------------------------------------------------------
    def embed_inputs(self, x: Tensor) -> Tensor:
        """:math:`h_0 = N(Ax)`, shape (n, d)."""
        return self.embed_norm(self.embed(x))

    def hidden_state(self, x: Tensor, k: int) -> Tensor:
        """The stream :math:`h_k` after the first ``k`` blocks (``0 <= k <= depth``)."""
        k = self._check_layer(k, "k")
        h = self.embed_inputs(x)
        for block in self.blocks[:k]:
            h = block(h)
        return h

    def hidden_states(self, x: Tensor) -> list[Tensor]:
        """All streams :math:`[h_0, h_1, \\dots, h_L]` (for norm-across-depth plots)."""
        h = self.embed_inputs(x)
        out = [h]
        for block in self.blocks:
            h = block(h)
            out.append(h)
        return out

    def head(self, h: Tensor, start: int) -> Tensor:
        """Run blocks ``start, start+1, ...`` (0-based) and the readout on a stream ``h``.

        ``model.head(model.hidden_state(x, k), k) == model(x)`` for every ``k``.
        """
        start = self._check_layer(start, "start")
        for block in self.blocks[start:]:
            h = block(h)
        return self.readout(h)

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed_inputs(x)
        for block in self.blocks:
            h = block(h)
        return self.readout(h)

    @property
    def dtype(self) -> torch.dtype:
        return self.readout.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.readout.weight.device

    def as_input(self, X: Any, name: str = "X") -> Tensor:
        """Validate inputs and cast them to the model's dtype and device.

        Raises
        ------
        TypeError
            If ``X`` is not a tensor or array of real numbers.
        ValueError
            If ``X`` is not 2-D with ``in_dim`` columns and at least one row, or is not finite.
        """
        if isinstance(X, Tensor):
            t = X
        else:
            try:
                t = torch.as_tensor(np.asarray(X, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be a tensor or array of real numbers") from exc
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
        if t.ndim != 2 or t.shape[1] != self.in_dim or t.shape[0] < 1:
            raise ValueError(
                f"{name} must have shape (n, in_dim={self.in_dim}) with n >= 1, got {tuple(t.shape)}"
            )
        t = t.to(dtype=self.dtype, device=self.device)
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (found NaN or inf)")
        return t

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, d={self.d}, depth={self.depth}, out_dim={self.out_dim}, affine={self.affine}"


# ----------------------------------------------------------------------------------------------
# Insertion
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Insertion:
    """Record of a block insertion (attribute ``insertion_`` of the expanded model).

    Attributes
    ----------
    position : int
        :math:`p`: the new block sits after old block :math:`p`; it is ``model.blocks[p]`` of the
        expanded model (``p = 0``: right after the embedding).
    hidden : int
        Its hidden width :math:`m`.
    init : str
        ``"zero_out"`` (ray parameter :math:`W_2`) or ``"gate"`` (ray parameter :math:`g`).
    feature_scale : float
        The :math:`s` in :math:`\\varphi = s\\,\\sigma(W_1h+b_1)`.
    parameter_names : tuple of str
        Names (in ``model.named_parameters()``) of the new block's parameters.
    preserving : bool
        Whether the theory guarantees preservation (non-affine LayerNorm: exact at
        :math:`\\epsilon = 0`, :math:`O(\\epsilon)` otherwise, note §3.2).
    function_change : float
        Measured :math:`\\max |f_{\\rm exp} - f_{\\rm old}|` on the probe batch.
    probe : str
        Where the probe came from (``"given (n=...)"`` or the default Gaussian batch).
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
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_DEFAULT_PROBE_SIZE = 256


def insert_block(
    model: PostLNResNet,
    position: int,
    hidden: int,
    init: str = "zero_out",
    *,
    probe: Tensor | None = None,
    bias_std: float = 0.1,
    normalize_features: bool = True,
    seed: int = 0,
) -> PostLNResNet:
    """Insert a zero-output residual block after block ``position`` (note §2.4, §2.5, §3.2).

    .. math::

        h'_p = N\\big(h_p + G(h_p;\\psi)\\big),\\qquad G(h;\\psi) = g\\,W_2\\,\\varphi(h),\\qquad
        \\varphi(h) = s\\,\\sigma(W_1 h + b_1),

    keeping blocks :math:`p+1,\\dots,L` and the readout.  The argument is never mutated: the
    result is a deep copy with one more block, ``model.blocks[position]``.

    Initialisations ("near zero", note §2.5; the paper's formal meaning is not known):

    * ``"zero_out"`` (Fixup style, option (a)): :math:`W_1 \\sim \\mathcal N(0, 1/d)`,
      :math:`b_1 \\sim` ``bias_std`` :math:`\\cdot\\mathcal N(0,1)`, :math:`W_2 = 0`, no gate.
      :math:`G \\equiv 0`, and :math:`\\nabla_{W_2}\\hat R_S = \\hat{\\mathfrak G}_S \\neq 0` in general.
    * ``"gate"`` (ReZero style, option (b)): :math:`W_1, b_1` as above, :math:`W_2` random with
      entries :math:`\\mathcal N(0, 1/(m s^2))`, and a trainable scalar gate :math:`g = 0`;
      :math:`\\partial_g \\hat R_S = \\tfrac1n\\sum_i \\langle\\rho_i, W_2\\varphi_i\\rangle \\neq 0`.

    An initialisation that zeroes every factor (``"zero_both"`` and similar) is refused: all
    first-order derivatives vanish there (the zero-initialisation trap, note §3.3, Result B).

    Function preservation (Result A, [derived]): with non-affine LayerNorm the new model equals
    the old one exactly when :math:`\\epsilon = 0` and up to :math:`O(\\epsilon)` otherwise
    (:math:`O(\\epsilon^2)` for bias-free old blocks).  With affine LayerNorm it generally does not;
    the change is measured on a probe batch, stored in ``insertion_.function_change`` and, when it
    exceeds ``1e-6``, reported by a ``UserWarning``.

    Parameters
    ----------
    model : PostLNResNet
        The trained old model (not modified).
    position : int
        :math:`p \\in \\{0, \\dots, L\\}`; the note's results are stated for intermediate
        :math:`1 \\le p \\le L-1`, and the two ends behave the same way (:math:`h_0` is normalised).
    hidden : int
        Hidden width :math:`m` of the new block.
    init : {"zero_out", "gate"}, default "zero_out"
    probe : Tensor, optional
        Inputs, shape (n, in_dim), on which to measure :math:`\\max|f_{\\rm exp}-f_{\\rm old}|`.
        Default: 256 standard Gaussian inputs drawn with ``seed``.
    bias_std : float, default 0.1
        Scale of the random :math:`b_1`.
    normalize_features : bool, default True
        :math:`s = 1/\\sqrt m` (the note's recommended convention, pitfall 14) if True, else
        :math:`s = 1`.  It fixes how :math:`\\kappa`, :math:`\\beta` and the Rademacher surrogate
        scale with :math:`m`: going from :math:`s = 1/\\sqrt m` to :math:`s = 1` multiplies
        :math:`\\kappa` by :math:`\\sqrt m` and :math:`\\beta` by :math:`m`, and leaves
        :math:`\\kappa^2/(2\\beta)` unchanged.  The reference values of the note's §5.3–§5.4
        (:math:`\\kappa \\approx 0.04`, :math:`\\beta \\approx 1.6` at :math:`m = 64`) are on the
        :math:`s = 1` scale.
    seed : int, default 0
        Seed of the new block's random factors (drawn on the CPU).

    Returns
    -------
    PostLNResNet
        The expanded model, with ``insertion_`` set to an :class:`Insertion` record.

    Raises
    ------
    ValueError
        On a position outside ``[0, depth]``, a non-positive width, a degenerate or unknown
        ``init``, or a probe of the wrong shape.
    """
    if not isinstance(model, PostLNResNet):
        raise TypeError(f"model must be a PostLNResNet, got {type(model).__name__}")
    position = model._check_layer(position, "position")
    hidden = _check_pos_int(hidden, "hidden")
    if not isinstance(init, str):
        raise TypeError(f"init must be a string, one of {INSERT_INITS}, got {type(init).__name__}")
    if init.lower() in _DEGENERATE_INITS:
        raise ValueError(_TRAP_MESSAGE.format(init=init))
    if init not in INSERT_INITS:
        raise ValueError(f"init must be one of {INSERT_INITS}, got {init!r}")
    if isinstance(bias_std, bool) or not isinstance(bias_std, (int, float)) or not (
        math.isfinite(bias_std) and bias_std >= 0
    ):
        raise ValueError(f"bias_std must be a finite number >= 0, got {bias_std!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")

    gen = torch.Generator().manual_seed(int(seed))
    if probe is None:
        probe_t = torch.randn((_DEFAULT_PROBE_SIZE, model.in_dim), generator=gen, dtype=torch.float64)
        probe_t = probe_t.to(dtype=model.dtype, device=model.device)
        probe_desc = f"default: {_DEFAULT_PROBE_SIZE} standard Gaussian inputs (seed={int(seed)})"
    else:
        probe_t = model.as_input(probe, "probe")
        probe_desc = f"given (n={probe_t.shape[0]})"

    d, dtype, device = model.d, model.dtype, model.device
    scale = 1.0 / math.sqrt(hidden) if normalize_features else 1.0
    block = ResidualBlock(
        d,
        hidden,
        bias=True,
        affine=model.affine,
        eps=model.eps,
        feature_scale=scale,
        gated=(init == "gate"),
        dtype=dtype,
        device=device,
    )

    def normal(shape: tuple[int, ...], std: float) -> Tensor:
        return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).to(dtype=dtype, device=device)

    with torch.no_grad():
        block.linear1.weight.copy_(normal((hidden, d), 1 / math.sqrt(d)))
        block.linear1.bias.copy_(normal((hidden,), float(bias_std)))
        if init == "zero_out":
            block.linear2.weight.zero_()
        else:  # gate
            block.linear2.weight.copy_(normal((d, hidden), 1 / (math.sqrt(hidden) * scale)))
            block.gate.zero_()

    new = copy.deepcopy(model)
    new.blocks.insert(position, block)

    with torch.no_grad():
        change = float((new(probe_t) - model(probe_t)).abs().max())
    names = tuple(f"blocks.{position}.{name}" for name, _ in block.named_parameters())
    new.insertion_ = Insertion(
        position=position,
        hidden=hidden,
        init=init,
        feature_scale=scale,
        parameter_names=names,
        preserving=not model.affine,
        function_change=change,
        probe=probe_desc,
    )
    if model.affine and change > 1e-6:
        warnings.warn(
            f"insert_block: the network uses affine LayerNorm, so the zero-output insertion is not "
            f"function-preserving; measured max |f_exp - f_old| = {change:.3g} on the probe "
            f"({probe_desc}). See note section 3.2.",
            UserWarning,
            stacklevel=2,
        )
    return new


def fit_readout(model: PostLNResNet, X: Any, y: Any, ridge: float = 1e-3) -> PostLNResNet:
    """Return a copy of ``model`` whose readout :math:`U` is the ridge fit on the last stream.

    .. math::

        U^\\top = \\Big(\\tfrac1n H^\\top H + \\lambda I\\Big)^{-1} \\tfrac1n H^\\top Y,
        \\qquad H = [h_L(x_1), \\dots, h_L(x_n)]^\\top .

    This is the cheap "old model" of the note's verification toys (§5).  It leaves the gradients
    of the old blocks non-zero, so it is not a stationary point of the old class (pitfall 12).

    Parameters
    ----------
    model : PostLNResNet
    X : Tensor, shape (n, in_dim)
    y : Tensor, shape (n,) or (n, out_dim)
    ridge : float, default 1e-3
        :math:`\\lambda > 0`.
    """
    if not isinstance(model, PostLNResNet):
        raise TypeError(f"model must be a PostLNResNet, got {type(model).__name__}")
    X = model.as_input(X)
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or not (math.isfinite(ridge) and ridge > 0):
        raise ValueError(f"ridge must be a finite number > 0, got {ridge!r}")
    Y = torch.as_tensor(y).to(dtype=model.dtype, device=model.device)
    if Y.ndim == 1:
        Y = Y.unsqueeze(1)
    if Y.shape != (X.shape[0], model.out_dim):
        raise ValueError(
            f"y must have shape (n,) or (n, out_dim) = ({X.shape[0]}, {model.out_dim}), got {tuple(Y.shape)}"
        )
    if not bool(torch.isfinite(Y).all()):
        raise ValueError("y must be finite (found NaN or inf)")
    new = copy.deepcopy(model)
    with torch.no_grad():
        H = new.hidden_state(X, new.depth)
        n = H.shape[0]
        A = H.T @ H / n + float(ridge) * torch.eye(new.d, dtype=H.dtype, device=H.device)
        U = torch.linalg.solve(A, H.T @ Y / n)  # (d, q)
        new.readout.weight.copy_(U.T)
    return new
