"""Scaled residual networks in the NTK parameterisation (branch-scaling note, §2.1–2.4).

The network of Part II of the book, exactly as fixed in the note's §2.1 (the architecture of Huang et al. 2020, which
this line of work builds on; the book's own choice where the paper's exact architecture is not known):

.. math::

    x_0 = \\tfrac{1}{\\sqrt m} A x, \\qquad
    x_\\ell = x_{\\ell-1} + \\tfrac{\\alpha}{\\sqrt m} V_\\ell\\,
              \\sigma\\!\\Big(\\sqrt{\\tfrac{2}{m}}\\, W_\\ell x_{\\ell-1}\\Big)\\ (\\ell = 1,\\dots,L), \\qquad
    f(x;\\theta) = v^\\top x_L,

with ReLU :math:`\\sigma`, width :math:`m`, depth :math:`L` (number of residual blocks), one branch scale
:math:`\\alpha` for every block, no bias and no normalisation. All entries of :math:`A, W_\\ell, V_\\ell, v` are
i.i.d. :math:`\\mathcal N(0,1)` at initialisation (NTK parameterisation): the factors :math:`1/\\sqrt m` and
:math:`\\sqrt{2/m}` are explicit multipliers, not part of the initial variance.

Fidelity: the architecture, the "hidden layers only" convention and the mirrored initialisation are
**[reconstructed]** in the note's sense — the book's formalisation, not a quotation of Yu et al. (2026).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["ScaledResNet", "ResNetTrace", "TRAINED_GROUPS", "insert_zero_block"]

#: Which parameter groups each ``trained`` convention trains (note §2.3, §3.4).
TRAINED_GROUPS: dict[str, tuple[str, ...]] = {
    "hidden": ("W", "V"),          # residual blocks only: the book's main convention (Huang et al.)
    "all": ("A", "W", "V", "v"),   # input and readout layers too
    "readout": ("v",),             # only the readout: the NNGP ("GP kernel") regime
}


class ResNetTrace(NamedTuple):
    """The intermediate quantities of one copy's forward pass (used by the layer-Gram NTK).

    Attributes
    ----------
    states
        ``[x_0, x_1, ..., x_L]``, each of shape ``(n, width)``.
    preacts
        ``[h_1, ..., h_L]`` with :math:`h_\\ell = \\sqrt{2/m}\\, W_\\ell x_{\\ell-1}`, each ``(n, width)``.
    output
        :math:`f^{(c)}(x) = v^\\top x_L`, shape ``(n,)``.
    """

    states: list[torch.Tensor]
    preacts: list[torch.Tensor]
    output: torch.Tensor


def _is_transformed(x: torch.Tensor) -> bool:
    """Whether ``x`` is wrapped by a ``torch.func`` transform (vmap/grad), where data-dependent checks are illegal."""
    check = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return bool(check(x)) if check is not None else False


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


class _Copy(nn.Module):
    """One copy :math:`\\theta^{(c)} = (A, W_{1..L}, V_{1..L}, v)` of the network's parameters.

    The blocks are stacked: ``W`` and ``V`` have shape ``(depth, width, width)``.
    """

    def __init__(self, A: torch.Tensor, W: torch.Tensor, V: torch.Tensor, v: torch.Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(A)
        self.W = nn.Parameter(W)
        self.V = nn.Parameter(V)
        self.v = nn.Parameter(v)


class ScaledResNet(nn.Module):
    """The fully connected ReLU ResNet with branch scale ``alpha`` (note §2.1–2.4; book Part II).

    .. math::

        x_0 = \\tfrac{1}{\\sqrt m} A x,\\quad
        x_\\ell = x_{\\ell-1} + \\tfrac{\\alpha}{\\sqrt m} V_\\ell\\,\\sigma\\big(\\sqrt{2/m}\\,W_\\ell x_{\\ell-1}\\big),\\quad
        f(x) = v^\\top x_L .

    With ``mirrored=True`` (note §2.4, [reconstructed]) the model holds two copies
    :math:`\\theta^{(1)}, \\theta^{(2)}` with identical initial values (``A`` and ``v`` included), trained
    independently, and outputs

    .. math::

        f(x;\\theta) = \\tfrac{1}{\\sqrt 2}\\big(f^{(1)}(x;\\theta^{(1)}) - f^{(2)}(x;\\theta^{(2)})\\big),

    so that :math:`f(\\cdot;\\theta_0) \\equiv 0` *exactly* (the two copies are separate, identically laid-out
    tensors evaluated by the same operations, hence bit-identical) while the tangent kernel
    :math:`\\tfrac12(\\Theta^{(1)} + \\Theta^{(2)})` equals that of one copy at initialisation. Training then starts
    from the zero function, as kernel gradient flow does (note §2.7, pitfall 14).

    Parameters
    ----------
    in_dim
        Input dimension :math:`d` (inputs are typically on :math:`\\mathbb S^{d-1}`).
    width
        Width :math:`m \\ge 1`.
    depth
        Number of residual blocks :math:`L \\ge 1`.
    alpha
        Branch scale :math:`\\alpha \\ge 0` (e.g. ``depth ** -gamma``).
    trained
        Which groups require gradients: ``"hidden"`` (:math:`W_\\ell, V_\\ell`; the book's main convention),
        ``"all"`` (also :math:`A` and :math:`v`) or ``"readout"`` (only :math:`v`: the NNGP regime).
        It can be changed later through the ``trained`` attribute.
    mirrored
        Antisymmetric two-copy initialisation (default) or the plain network.
    dtype
        Parameter dtype; float64 (default) for kernel work, float32 for faster training.
    device
        Where the parameters live. Initial values are drawn on the CPU in float64 from ``seed``/``generator`` and
        then cast and moved, so they do not depend on ``dtype`` (up to rounding) or ``device``.
    seed
        Seed of the initialisation (ignored when ``generator`` is given).
    generator
        A CPU ``torch.Generator`` to draw the initial values from.

    Notes
    -----
    Drawing order: :math:`A`, then :math:`W_1, V_1, \\dots, W_L, V_L`, then :math:`v`. The plain network
    (``mirrored=False``) with the same seed equals each copy of the mirrored one.

    Parameter names are ``copies.<c>.A``, ``copies.<c>.W`` (shape ``(depth, width, width)``), ``copies.<c>.V`` and
    ``copies.<c>.v``.
    """

    def __init__(self, in_dim: int, width: int, depth: int, alpha: float, trained: str = "hidden",
                 mirrored: bool = True, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None, seed: int = 0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.in_dim = _check_int(in_dim, "in_dim", 1)
        self.width = _check_int(width, "width", 1)
        self.depth = _check_int(depth, "depth", 1)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
        if not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
        self.alpha = float(alpha)
        if not isinstance(mirrored, bool):
            raise TypeError(f"mirrored must be a bool, got {type(mirrored).__name__}")
        self.mirrored = mirrored
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        if generator is None:
            _check_int(seed, "seed", 0)
            generator = torch.Generator().manual_seed(seed)
        elif not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")

        m, d, L = self.width, self.in_dim, self.depth
        draw = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
        A = draw(m, d)
        blocks = [(draw(m, m), draw(m, m)) for _ in range(L)]
        W = torch.stack([w for w, _ in blocks])
        V = torch.stack([u for _, u in blocks])
        v = draw(m)
        n_copies = 2 if mirrored else 1
        # Each copy gets its own freshly allocated tensors (same layout), so that both copies run bit-identical
        # arithmetic at initialisation and f(.; theta_0) is exactly 0.
        self.copies = nn.ModuleList(
            _Copy(*(t.to(dtype=dtype, device=device).clone() for t in (A, W, V, v))) for _ in range(n_copies)
        )
        #: :math:`\\pm 1/\\sqrt 2` for the mirrored model, ``(1.0,)`` for the plain one.
        self.copy_signs: tuple[float, ...] = (1 / math.sqrt(2), -1 / math.sqrt(2)) if mirrored else (1.0,)
        self._trained = ""
        self.trained = trained

    # ------------------------------------------------------------------ configuration
    @property
    def trained(self) -> str:
        """The training convention, ``"hidden"``, ``"all"`` or ``"readout"``; setting it updates ``requires_grad``."""
        return self._trained

    @trained.setter
    def trained(self, value: str) -> None:
        if value not in TRAINED_GROUPS:
            raise ValueError(f"trained must be one of {sorted(TRAINED_GROUPS)}, got {value!r}")
        groups = TRAINED_GROUPS[value]
        for copy in self.copies:
            for name, param in copy.named_parameters():
                param.requires_grad_(name in groups)
        self._trained = value

    @property
    def trained_groups(self) -> tuple[str, ...]:
        """The parameter groups (``"A"``, ``"W"``, ``"V"``, ``"v"``) that are trained."""
        return TRAINED_GROUPS[self._trained]

    @property
    def dtype(self) -> torch.dtype:
        return self.copies[0].v.dtype

    @property
    def device(self) -> torch.device:
        return self.copies[0].v.device

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, width={self.width}, depth={self.depth}, alpha={self.alpha:g}, "
                f"trained={self.trained!r}, mirrored={self.mirrored}")

    # ------------------------------------------------------------------ forward
    def _check_input(self, x: object, name: str = "x") -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (n, {self.in_dim}), got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"{name} must have shape (n, in_dim) = (n, {self.in_dim}), got {tuple(x.shape)}")
        if not (x.dtype.is_floating_point or x.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"{name} must be a real tensor, got dtype {x.dtype}")
        x = x.to(dtype=self.dtype, device=self.device)
        if not _is_transformed(x) and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains non-finite values (NaN or inf)")
        return x

    def _copy_forward(self, copy: _Copy, x: torch.Tensor, keep: bool) -> ResNetTrace:
        m = self.width
        scale_in, scale_w, scale_v = 1 / math.sqrt(m), math.sqrt(2 / m), self.alpha / math.sqrt(m)
        state = (x @ copy.A.T) * scale_in
        states, preacts = [state], []
        for ell in range(self.depth):
            h = (state @ copy.W[ell].T) * scale_w
            state = state + scale_v * (torch.relu(h) @ copy.V[ell].T)
            if keep:
                states.append(state)
                preacts.append(h)
        return ResNetTrace(states if keep else [state], preacts, state @ copy.v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Network output :math:`f(x;\\theta)` of shape ``(n,)`` for inputs ``x`` of shape ``(n, in_dim)``."""
        x = self._check_input(x)
        out = None
        for sign, copy in zip(self.copy_signs, self.copies):
            f_c = self._copy_forward(copy, x, keep=False).output
            out = sign * f_c if out is None else out + sign * f_c
        return out

    def trace(self, x: torch.Tensor) -> list[ResNetTrace]:
        """Per-copy intermediate states and pre-activations (one :class:`ResNetTrace` per copy).

        Used by :func:`resntk.empirical.empirical_ntk` to build the layer-wise Gram products without forming the
        Jacobian. The network output is :math:`\\sum_c s_c\\, f^{(c)}` with ``s_c = copy_signs[c]``.
        """
        x = self._check_input(x)
        return [self._copy_forward(copy, x, keep=True) for copy in self.copies]


def insert_zero_block(net: ScaledResNet, position: int, *, seed: int = 0,
                      generator: torch.Generator | None = None) -> ScaledResNet:
    r"""A copy of ``net`` with one more residual block, inserted after block ``position`` with output map 0.

    The new block :math:`x \mapsto x + \frac{\alpha}{\sqrt m} V_\star\,\sigma\big(\sqrt{2/m}\,W_\star x\big)` has a
    fresh input map :math:`W_\star` with i.i.d. :math:`\mathcal N(0, 1)` entries and :math:`V_\star = 0`, so (book,
    chapter 15, "Synthesis"):

    - the new network computes exactly the same function as ``net`` (the block adds :math:`0`);
    - the gradients of all old parameters are unchanged, the gradient with respect to :math:`W_\star` is zero, and
      the gradient with respect to :math:`V_\star` is :math:`\frac{\alpha}{\sqrt m}\,g\,\sigma(h_\star)^\top`,
      with :math:`g` the back-propagated vector at the insertion point; the tangent kernel therefore grows by
      :math:`\frac{\alpha^2}{m}\langle g(x), g(x')\rangle\langle\sigma(h_\star(x)), \sigma(h_\star(x'))\rangle`.

    This is the scaled-ResNet analogue of :func:`resntk.postln.insert_block` (which inserts into post-normalised
    networks, Part III). In a mirrored network both copies receive the same :math:`W_\star`. The branch scale
    ``alpha`` is kept: changing it would change the function.

    Parameters
    ----------
    net
        The network to grow (left unchanged).
    position
        Number of blocks before the new one: ``0`` inserts it first, ``net.depth`` last.
    seed
        Seed of :math:`W_\star` (ignored when ``generator`` is given).
    generator
        A CPU ``torch.Generator`` to draw :math:`W_\star` from.

    Returns
    -------
    ScaledResNet
        Depth ``net.depth + 1``, same width, ``alpha``, ``trained``, ``mirrored``, dtype and device.
    """
    if not isinstance(net, ScaledResNet):
        raise TypeError(f"net must be a ScaledResNet, got {type(net).__name__}")
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= net.depth:
        raise ValueError(f"position must be an int in [0, {net.depth}] (the number of blocks before the new one), "
                         f"got {position!r}")
    if generator is None:
        _check_int(seed, "seed", 0)
        generator = torch.Generator().manual_seed(seed)
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    grown = ScaledResNet(net.in_dim, net.width, net.depth + 1, net.alpha, trained=net.trained,
                         mirrored=net.mirrored, dtype=net.dtype, device=net.device)
    w_star = torch.randn(net.width, net.width, generator=generator, dtype=torch.float64)
    w_star = w_star.to(dtype=net.dtype, device=net.device)
    state = {}
    with torch.no_grad():
        for key, value in net.state_dict().items():
            if key.endswith(".W"):
                value = torch.cat([value[:position], w_star[None], value[position:]])
            elif key.endswith(".V"):
                value = torch.cat([value[:position], torch.zeros_like(value[:1]), value[position:]])
            state[key] = value.clone()
    grown.load_state_dict(state)
    return grown
