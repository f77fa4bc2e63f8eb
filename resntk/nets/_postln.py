r"""Post-normalised residual networks (Part III) and the LayerNorm facts they rest on.

Book: Chapter 10 ("Normalised residual networks and function-preserving insertion"), Definitions
`postln-def-layernorm` and `postln-def-network`, Proposition `postln-prop-ln-facts`, Corollary `postln-cor-bounded`;
Chapter 12, Lemma `capacity-lem-jacobian`. The architecture is the book's formalisation of the networks of
:cite:`cheng2026depth` (their exact architecture is not stated). With non-affine LayerNorm

.. math::

    N(z) = \frac{z - \mu(z)\mathbf 1}{\sqrt{v(z) + \epsilon}},\qquad
    \mu(z) = \tfrac1d \mathbf 1^\top z,\qquad
    v(z) = \tfrac1d \lVert z - \mu(z)\mathbf 1 \rVert_2^2,

the network is :math:`h_0 = N(Ax)`, :math:`h_k = N\big(h_{k-1} + W_{2,k}\,\varphi_k(h_{k-1})\big)`,
:math:`\varphi_k(h) = s_k\,\sigma(W_{1,k} h + b_{1,k})`, :math:`f(x) = U h_L`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import (
    as_float64,
    as_module_input,
    as_output,
    check_bool,
    check_dtype,
    check_int,
    check_real,
    make_generator,
    returns_torch,
)


def check_eps(eps: Any) -> float:
    return check_real(eps, "eps", minimum=0.0, what="the LayerNorm epsilon")


def _as_stream(z: Any) -> Tensor:
    """Pre-normalisation vectors: a tensor keeps its dtype (it is a layer); anything else becomes float64."""
    t = z if isinstance(z, Tensor) and z.is_floating_point() else as_float64(z, "z")
    if t.ndim < 1 or t.shape[-1] < 2:
        raise ValueError(f"z must have a last axis of size d >= 2, got shape {tuple(t.shape)}")
    return t


def layer_norm(z: Tensor | np.ndarray, eps: float = 1e-5) -> Tensor | np.ndarray:
    r"""Non-affine LayerNorm :math:`N` over the last axis (Chapter 10, Definition `postln-def-layernorm`).

    .. math::

        N(z) = \frac{z - \mu(z)\mathbf 1}{\sqrt{v(z)+\epsilon}},\qquad
        \lVert N(z) \rVert_2^2 = d\,\frac{v(z)}{v(z)+\epsilon} \le d .

    Parameters
    ----------
    z : tensor or array, shape (..., d)
        Pre-normalisation vectors, ``d >= 2``. A floating tensor keeps its dtype; other input is float64.
    eps : float, default 1e-5
        The :math:`\epsilon \ge 0` under the square root.

    Returns
    -------
    tensor or array, shape (..., d)
        torch for a tensor ``z``, NumPy otherwise.
    """
    t = _as_stream(z)
    return as_output(F.layer_norm(t, (t.shape[-1],), eps=check_eps(eps)), returns_torch(z))


def layer_norm_jacobian(z: Tensor | np.ndarray, eps: float = 1e-5) -> Tensor | np.ndarray:
    r"""Explicit Jacobian :math:`J_N(z)` of the non-affine LayerNorm (Chapter 12, Lemma `capacity-lem-jacobian`).

    .. math::

        J_N(z) = \frac{1}{\sqrt{v(z)+\epsilon}}
        \Big(I - \tfrac1d \mathbf 1 \mathbf 1^\top - \tfrac1d N(z) N(z)^\top\Big),

    symmetric, with :math:`\lVert J_N(z)\rVert_{op} \le 1/\sqrt{v(z)+\epsilon}`; it annihilates :math:`\mathbf 1`
    exactly and shrinks :math:`N(z)` by the factor :math:`\epsilon/(v+\epsilon)`.

    Returns
    -------
    tensor or array, shape (..., d, d)
    """
    t = _as_stream(z)
    eps = check_eps(eps)
    nz = F.layer_norm(t, (t.shape[-1],), eps=eps)
    d = t.shape[-1]
    c = t - t.mean(dim=-1, keepdim=True)
    inv_s = 1.0 / torch.sqrt((c * c).mean(dim=-1, keepdim=True) + eps)  # (..., 1)
    eye = torch.eye(d, dtype=t.dtype, device=t.device)
    bracket = eye - 1.0 / d - nz.unsqueeze(-1) * nz.unsqueeze(-2) / d
    return as_output(inv_s.unsqueeze(-1) * bracket, returns_torch(z))


class PostNorm(nn.Module):
    r"""The LayerNorm applied after each residual addition.

    Non-affine by default (:math:`N`). With ``affine=True`` it is
    :math:`N_{\gamma,\beta}(z) = \gamma \odot N(z) + \beta` with learned :math:`\gamma` (``weight``, initialised to 1)
    and :math:`\beta` (``bias``, initialised to 0).
    """

    def __init__(self, width: int, *, affine: bool = False, eps: float = 1e-5, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.width = check_int(width, "width", minimum=2)
        self.eps = check_eps(eps)
        self.affine = check_bool(affine, "affine")
        if self.affine:
            self.weight = nn.Parameter(torch.ones(self.width, dtype=dtype, device=device))
            self.bias = nn.Parameter(torch.zeros(self.width, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, z: Tensor) -> Tensor:
        return F.layer_norm(z, (self.width,), self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.width}, affine={self.affine}, eps={self.eps:g}"


def _linear(n_in: int, n_out: int, bias: bool, dtype: torch.dtype, device: Any) -> nn.Linear:
    """An ``nn.Linear`` with uninitialised parameters: no draw from torch's global generator (values set later)."""
    device = torch.get_default_device() if device is None else device
    return nn.utils.skip_init(nn.Linear, n_in, n_out, bias=bias, dtype=dtype, device=device)


class ResidualBlock(nn.Module):
    r"""One post-normalised residual block (Chapter 10, Definition `postln-def-network`).

    .. math::

        h \mapsto N\big(h + g\,W_2\,\varphi(h)\big),\qquad \varphi(h) = s\,\sigma(W_1 h + b_1),

    where :math:`g` is a trainable scalar gate when ``gated=True`` (ReZero style, :cite:`bachlechner2021rezero`) and
    :math:`g \equiv 1` otherwise, and :math:`s` is the fixed ``feature_scale``. Initial values are drawn from a
    private generator: :math:`W_1 \sim \mathcal N(0, 1/d)`, :math:`b_1 \sim` ``bias_std`` :math:`\cdot\mathcal N(0,1)`,
    then :math:`W_2 \sim \mathcal N(0, \texttt{w2\_std}^2)` (:math:`W_2 = 0` when ``w2_std`` is 0); a gate starts at 1.

    Attributes
    ----------
    linear1 : nn.Linear
        :math:`W_1 \in \mathbb R^{m\times d}` (``weight``) and :math:`b_1` (``bias``, or ``None``).
    linear2 : nn.Linear
        :math:`W_2 \in \mathbb R^{d\times m}` (``weight``; no bias).
    gate : nn.Parameter or None
    norm : PostNorm
    feature_scale : float
    """

    def __init__(self, width: int, hidden: int, *, bias: bool = True, affine: bool = False, eps: float = 1e-5,
                 feature_scale: float = 1.0, gated: bool = False, bias_std: float = 0.0, w2_std: float | None = None,
                 seed: int = 0, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.width = check_int(width, "width", minimum=2)
        self.hidden = check_int(hidden, "hidden", minimum=1)
        self.feature_scale = check_real(feature_scale, "feature_scale", minimum=0.0, strict=True)
        bias_std = check_real(bias_std, "bias_std", minimum=0.0)
        w2_std = 1 / math.sqrt(self.hidden) if w2_std is None else check_real(w2_std, "w2_std", minimum=0.0)
        gen = make_generator(seed, generator)
        self.linear1 = _linear(self.width, self.hidden, bias, dtype, device)
        self.linear2 = _linear(self.hidden, self.width, False, dtype, device)
        self.gate = nn.Parameter(torch.ones((), dtype=dtype, device=device)) if gated else None
        self.norm = PostNorm(self.width, affine=affine, eps=eps, dtype=dtype, device=device)

        def normal(shape: tuple[int, ...], std: float) -> Tensor:
            return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).to(dtype=dtype, device=device)

        with torch.no_grad():
            self.linear1.weight.copy_(normal((self.hidden, self.width), 1 / math.sqrt(self.width)))
            if self.linear1.bias is not None:
                self.linear1.bias.copy_(normal((self.hidden,), bias_std))
            if w2_std > 0:
                self.linear2.weight.copy_(normal((self.width, self.hidden), w2_std))
            else:
                self.linear2.weight.zero_()

    def features(self, h: Tensor) -> Tensor:
        r""":math:`\varphi(h) = s\,\sigma(W_1 h + b_1)`, shape ``(n, m)``."""
        phi = torch.relu(self.linear1(h))
        return phi * self.feature_scale if self.feature_scale != 1.0 else phi

    def branch(self, h: Tensor) -> Tensor:
        r"""The residual branch :math:`g\,W_2\varphi(h)`, shape ``(n, d)``."""
        out = self.linear2(self.features(h))
        return self.gate * out if self.gate is not None else out

    def forward(self, h: Tensor) -> Tensor:
        return self.norm(h + self.branch(h))


class PostLNResNet(nn.Module):
    r"""Post-normalised residual network (Chapter 10, Definition `postln-def-network`).

    .. math::

        h_0 = N(Ax),\qquad h_k = N\big(h_{k-1} + W_{2,k}\,\sigma(W_{1,k}h_{k-1} + b_{1,k})\big),
        \quad k = 1,\dots,L,\qquad f(x) = U h_L \in \mathbb R^q .

    Post-normalisation resets the scale after every block: :math:`\lVert h_k\rVert^2 = d\,v/(v+\epsilon) \le d`
    whatever the weights (Corollary `postln-cor-bounded`; times :math:`\lVert\gamma\rVert_\infty` plus
    :math:`\lVert\beta\rVert` when affine).

    Parameters
    ----------
    in_dim : int
        Input dimension.
    width : int
        Residual-stream width :math:`d \ge 2` (the name :class:`ScaledResNet` uses for its stream).
    hidden : int or sequence of int
        Hidden width :math:`m_k` of every block (or one per block); keyword-only.
    depth : int
        Number of residual blocks :math:`L \ge 0`; keyword-only.
    affine : bool, default False
        Affine LayerNorm after each addition and after the embedding. Function preservation needs ``False``.
    out_dim : int, default 1
        Output dimension :math:`q`; the forward pass returns shape ``(n, q)``.
    eps : float, default 1e-5
        LayerNorm :math:`\epsilon`.
    bias : bool, default True
        Whether the blocks carry :math:`b_{1,k}` (bias-free blocks commute with positive scaling, which makes
        insertion preserve the function to :math:`O(\epsilon^2)`).
    bias_std : float, default 0.0
        Initial biases are ``bias_std * N(0, 1)``.
    seed : int, default 0
        Seed of the initialisation (a private CPU generator, so the values are the same on every device and torch's
        global generator is not touched). Weights are :math:`\mathcal N(0, 1/\text{fan-in})`.
    dtype, device
        Of the parameters.
    """

    def __init__(self, in_dim: int, width: int, *, hidden: int | Sequence[int], depth: int, affine: bool = False,
                 out_dim: int = 1, eps: float = 1e-5, bias: bool = True, bias_std: float = 0.0, seed: int = 0,
                 dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.in_dim = check_int(in_dim, "in_dim", minimum=1)
        self.width = check_int(width, "width", minimum=2)
        depth = check_int(depth, "depth", minimum=0)
        self.out_dim = check_int(out_dim, "out_dim", minimum=1)
        self.eps = check_eps(eps)
        self.affine = check_bool(affine, "affine")
        dtype = check_dtype(dtype)
        bias_std = check_real(bias_std, "bias_std", minimum=0.0)
        if isinstance(hidden, Sequence) and not isinstance(hidden, str):
            widths = [check_int(m, "hidden[k]", minimum=1) for m in hidden]
            if len(widths) != depth:
                raise ValueError(f"hidden must be an int or a sequence of length depth={depth}, got length "
                                 f"{len(widths)}")
        else:
            widths = [check_int(hidden, "hidden", minimum=1)] * depth
        gen = make_generator(seed)

        def normal(shape: tuple[int, ...], std: float) -> Tensor:
            return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).to(dtype=dtype, device=device)

        d = self.width
        self.embed = _linear(self.in_dim, d, False, dtype, device)
        with torch.no_grad():
            self.embed.weight.copy_(normal((d, self.in_dim), 1 / math.sqrt(self.in_dim)))
        self.embed_norm = PostNorm(d, affine=self.affine, eps=self.eps, dtype=dtype, device=device)
        self.blocks = nn.ModuleList(
            ResidualBlock(d, m, bias=bias, affine=self.affine, eps=self.eps, bias_std=bias_std, generator=gen,
                          dtype=dtype, device=device) for m in widths)
        self.readout = _linear(d, self.out_dim, False, dtype, device)
        with torch.no_grad():
            self.readout.weight.copy_(normal((self.out_dim, d), 1 / math.sqrt(d)))
        #: Record of the :func:`insert_block` call that produced this model (``None`` if none).
        self.insertion_ = None

    # -- structure ------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of residual blocks :math:`L`."""
        return len(self.blocks)

    @property
    def dtype(self) -> torch.dtype:
        return self.readout.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.readout.weight.device

    def check_layer(self, k: Any, name: str) -> int:
        """``k`` as a layer index in ``[0, depth]``."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"{name} must be an integer in [0, depth={self.depth}], got {type(k).__name__}")
        if not 0 <= k <= self.depth:
            raise ValueError(f"{name} must be an integer in [0, depth={self.depth}], got {k}")
        return int(k)

    def _input(self, x: Any, name: str = "x") -> Tensor:
        return as_module_input(x, name, self.in_dim, self.dtype, self.device)

    # -- forward pieces (validated inputs; the public methods below check theirs) ---------------------------
    def _state(self, x: Tensor, k: int) -> Tensor:
        h = self.embed_norm(self.embed(x))
        for block in self.blocks[:k]:
            h = block(h)
        return h

    def _head(self, h: Tensor, start: int) -> Tensor:
        for block in self.blocks[start:]:
            h = block(h)
        return self.readout(h)

    def hidden_state(self, x: Tensor, k: int) -> Tensor:
        """The stream :math:`h_k` after the first ``k`` blocks (``0 <= k <= depth``), shape ``(n, width)``."""
        return self._state(self._input(x), self.check_layer(k, "k"))

    def hidden_states(self, x: Tensor) -> list[Tensor]:
        """All streams :math:`[h_0, h_1, \\dots, h_L]` (for norm-across-depth plots)."""
        h = self._state(self._input(x), 0)
        out = [h]
        for block in self.blocks:
            h = block(h)
            out.append(h)
        return out

    def head(self, h: Tensor, start: int) -> Tensor:
        """Run blocks ``start, start+1, ...`` (0-based) and the readout on a stream ``h`` of shape ``(n, width)``.

        ``model.head(model.hidden_state(x, k), k) == model(x)`` for every ``k``.
        """
        start = self.check_layer(start, "start")
        if not isinstance(h, Tensor) or h.ndim != 2 or h.shape[1] != self.width:
            raise ValueError(f"h must be a tensor of shape (n, width={self.width}), got "
                             f"{tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__}")
        return self._head(h, start)

    def forward(self, x: Tensor) -> Tensor:
        """Outputs :math:`f(x)` of shape ``(n, out_dim)`` for a real tensor ``x`` of shape ``(n, in_dim)``."""
        return self._head(self._state(self._input(x), 0), 0)

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, width={self.width}, depth={self.depth}, out_dim={self.out_dim}, "
                f"affine={self.affine}")
