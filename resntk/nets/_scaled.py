r"""The scaled ResNet of Part II in the NTK parameterisation, its exact empirical NTK, and zero-block insertion.

Book: Chapter 1 ("Residual networks with branch scaling"), Definition `def-scaled-resnet`; Chapter 3 ("The neural
tangent kernel"), Proposition `ntk-prop-mirror`; Chapter 15 ("Synthesis"), Proposition `synth-prop-insertion`.
The architecture is that of :cite:`huang2020resnet`, on which :cite:`yu2026branch` builds; the "hidden layers only"
convention and the mirrored initialisation are the book's formalisation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from .._conventions import TRAINED_GROUPS
from .._validation import (
    as_module_input,
    check_alpha,
    check_bool,
    check_depth,
    check_dtype,
    check_int,
    check_trained,
    make_generator,
)

if TYPE_CHECKING:
    from ._spec import ScaledResNetSpec


class ResNetTrace(NamedTuple):
    r"""The intermediate quantities of one copy's forward pass.

    Attributes
    ----------
    states
        ``[x_0, x_1, ..., x_L]``, each of shape ``(n, width)``.
    preacts
        ``[h_1, ..., h_L]`` with :math:`h_\ell = \sqrt{2/m}\, W_\ell x_{\ell-1}`, each ``(n, width)``.
    output
        :math:`f^{(c)}(x) = v^\top x_L`, shape ``(n,)``.
    """

    states: list[torch.Tensor]
    preacts: list[torch.Tensor]
    output: torch.Tensor


class _Copy(nn.Module):
    """One copy :math:`\\theta^{(c)} = (A, W_{1..L}, V_{1..L}, v)`; ``W`` and ``V`` are stacked ``(depth, m, m)``."""

    def __init__(self, A: torch.Tensor, W: torch.Tensor, V: torch.Tensor, v: torch.Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(A)
        self.W = nn.Parameter(W)
        self.V = nn.Parameter(V)
        self.v = nn.Parameter(v)


class ScaledResNet(nn.Module):
    r"""The fully connected ReLU ResNet with branch scale ``alpha`` (Chapter 1, Definition `def-scaled-resnet`).

    .. math::

        x_0 = \tfrac{1}{\sqrt m} A x,\quad
        x_\ell = x_{\ell-1} + \tfrac{\alpha}{\sqrt m} V_\ell\,\sigma\big(\sqrt{2/m}\,W_\ell x_{\ell-1}\big),\quad
        f(x) = v^\top x_L ,

    with all entries of :math:`A, W_\ell, V_\ell, v` i.i.d. :math:`\mathcal N(0,1)` at initialisation (NTK
    parameterisation: :math:`1/\sqrt m` and :math:`\sqrt{2/m}` are explicit multipliers). With ``mirrored=True``
    the model holds two copies :math:`\theta^{(1)}, \theta^{(2)}` with identical initial values, trained
    independently, and outputs

    .. math::

        f(x;\theta) = \tfrac{1}{\sqrt 2}\big(f^{(1)}(x;\theta^{(1)}) - f^{(2)}(x;\theta^{(2)})\big),

    so that :math:`f(\cdot;\theta_0) \equiv 0` *exactly* (the copies are separate, identically laid-out tensors
    evaluated by the same operations) while the tangent kernel :math:`\tfrac12(\Theta^{(1)} + \Theta^{(2)})` equals
    that of one copy at initialisation (Chapter 3, Proposition `ntk-prop-mirror`). Training then starts from the
    zero function, as kernel gradient flow does.

    The analytic kernel of this network is ``net.spec.kernel(x1, x2)`` (:func:`resntk.nets.scaled_resnet`).

    Parameters
    ----------
    in_dim
        Input dimension :math:`d`.
    width
        Width :math:`m \ge 1`.
    depth
        Number of residual blocks :math:`L \ge 1` (keyword-only).
    alpha
        Branch scale :math:`\alpha \ge 0`, e.g. ``depth ** -gamma`` (keyword-only).
    trained
        Which groups require gradients (:data:`resntk.nets.TRAINED_GROUPS`): ``"hidden"`` (:math:`W_\ell, V_\ell`),
        ``"all"`` (also :math:`A` and :math:`v`) or ``"readout"`` (only :math:`v`: the NNGP regime). It can be
        changed later through the ``trained`` attribute.
    mirrored
        Antisymmetric two-copy initialisation (default) or the plain network.
    dtype
        Parameter dtype; float64 (default) for kernel work, float32 for faster training.
    device
        Where the parameters live. Initial values are drawn on the CPU in float64 from ``seed``/``generator`` (never
        from torch's global generator), then cast and moved, so they do not depend on ``dtype`` or ``device``.
    seed
        Seed of the initialisation (ignored when ``generator`` is given).
    generator
        A CPU ``torch.Generator`` to draw the initial values from.

    Notes
    -----
    Drawing order: :math:`A`, then :math:`W_1, V_1, \dots, W_L, V_L`, then :math:`v`. The plain network with the same
    seed equals each copy of the mirrored one. Parameter names are ``copies.<c>.A``, ``copies.<c>.W`` (shape
    ``(depth, width, width)``), ``copies.<c>.V`` and ``copies.<c>.v``.
    """

    def __init__(self, in_dim: int, width: int, *, depth: int, alpha: float, trained: str = "hidden",
                 mirrored: bool = True, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
                 seed: int = 0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.in_dim = check_int(in_dim, "in_dim", minimum=1)
        self.width = check_int(width, "width", minimum=1)
        self.depth = check_depth(depth, minimum=1)
        self.alpha = check_alpha(alpha)
        self.mirrored = check_bool(mirrored, "mirrored")
        dtype = check_dtype(dtype)
        trained = check_trained(trained)
        gen = make_generator(seed, generator)

        m, d, L = self.width, self.in_dim, self.depth
        draw = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
        A = draw(m, d)
        blocks = [(draw(m, m), draw(m, m)) for _ in range(L)]
        W = torch.stack([w for w, _ in blocks])
        V = torch.stack([u for _, u in blocks])
        v = draw(m)
        n_copies = 2 if self.mirrored else 1
        # Each copy gets its own freshly allocated tensors (same layout), so that both copies run bit-identical
        # arithmetic at initialisation and f(.; theta_0) is exactly 0.
        self.copies = nn.ModuleList(
            _Copy(*(t.to(dtype=dtype, device=device).clone() for t in (A, W, V, v))) for _ in range(n_copies))
        #: :math:`\pm 1/\sqrt 2` for the mirrored model, ``(1.0,)`` for the plain one.
        self.copy_signs: tuple[float, ...] = (1 / math.sqrt(2), -1 / math.sqrt(2)) if self.mirrored else (1.0,)
        self._trained = ""
        self.trained = trained

    # ------------------------------------------------------------------ configuration
    @property
    def trained(self) -> str:
        """The training convention, ``"hidden"``, ``"all"`` or ``"readout"``; setting it updates ``requires_grad``."""
        return self._trained

    @trained.setter
    def trained(self, value: str) -> None:
        groups = TRAINED_GROUPS[check_trained(value)]
        for copy in self.copies:
            for name, param in copy.named_parameters():
                param.requires_grad_(name in groups)
        self._trained = value

    @property
    def trained_groups(self) -> tuple[str, ...]:
        """The parameter groups (``"A"``, ``"W"``, ``"V"``, ``"v"``) that are trained."""
        return TRAINED_GROUPS[self._trained]

    @property
    def spec(self) -> ScaledResNetSpec:
        """The ``(depth, alpha, trained)`` spec of this network; ``net.spec.kernel(x)`` is its analytic kernel."""
        from ._spec import ScaledResNetSpec

        return ScaledResNetSpec(depth=self.depth, alpha=self.alpha, trained=self.trained)

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
    def _input(self, x: object, name: str = "x") -> torch.Tensor:
        return as_module_input(x, name, self.in_dim, self.dtype, self.device)

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
        """Network output :math:`f(x;\\theta)` of shape ``(n,)`` for a tensor ``x`` of shape ``(n, in_dim)``."""
        x = self._input(x)
        out = None
        for sign, copy in zip(self.copy_signs, self.copies):
            f_c = self._copy_forward(copy, x, keep=False).output
            out = sign * f_c if out is None else out + sign * f_c
        return out

    def trace(self, x: torch.Tensor) -> list[ResNetTrace]:
        """Per-copy intermediate states and pre-activations (one :class:`ResNetTrace` per copy).

        The network output is :math:`\\sum_c s_c\\, f^{(c)}` with ``s_c = copy_signs[c]``.
        """
        x = self._input(x)
        return [self._copy_forward(copy, x, keep=True) for copy in self.copies]

    # ------------------------------------------------------------------ the empirical NTK
    def ntk(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        r"""The empirical NTK at the current parameters, exactly, by layer-wise Gram products.

        .. math::

            \hat\Theta(x, x') = \sum_c s_c^2 \sum_{y = c\,M a}
                c^2\, \langle a(x), a(x') \rangle\, \langle g(x), g(x') \rangle, \qquad g = \partial f^{(c)}/\partial y,

        over the trained linear maps :math:`y = c\,Ma` of each copy: for a weight matrix the rows of the Jacobian are
        outer products, so their Gram is a Hadamard product of two :math:`n_1\times n_2` Grams and the Jacobian is
        never formed (Chapter 3, Definition `ntk-def-tangent`). The backward signals follow, with
        :math:`b_\ell = \partial f^{(c)} / \partial x_\ell`,

        .. math::

            b_L = v,\qquad
            \delta_\ell = \tfrac{\alpha}{\sqrt m}\,(V_\ell^\top b_\ell) \odot \mathbb 1[h_\ell > 0],\qquad
            b_{\ell-1} = b_\ell + \sqrt{2/m}\; W_\ell^\top \delta_\ell ,

        and the maps contribute :math:`V_\ell: (\alpha/\sqrt m, \sigma(h_\ell), b_\ell)`,
        :math:`W_\ell: (\sqrt{2/m}, x_{\ell-1}, \delta_\ell)`, :math:`A: (1/\sqrt m, x, b_0)`,
        :math:`v: (1, x_L, 1)`. Agrees with the ``vmap(jacrev)`` path of :func:`resntk.nets.empirical_ntk` to
        about :math:`10^{-13}` relative. Computed in the model's dtype, accumulated in float64.

        Returns
        -------
        torch.Tensor
            float64, shape ``(n1, n2)``, on the model's device (``x2=None``: ``x2 = x1``, computed once).
        """
        a = self._input(x1, "x1")
        b = a if x2 is None or x2 is x1 else self._input(x2, "x2")
        f1 = self._features(a)
        f2 = f1 if b is a else self._features(b)
        ntk = torch.zeros(a.shape[0], b.shape[0], dtype=torch.float64, device=self.device)
        for sign, feats1, feats2 in zip(self.copy_signs, f1, f2):
            for (c, a1, g1), (_, a2, g2) in zip(feats1, feats2):
                ntk += (sign * c) ** 2 * (_gram(a1, a2) * _gram(g1, g2))
        return ntk

    def _features(self, x: torch.Tensor) -> list[list[tuple[float, torch.Tensor, torch.Tensor]]]:
        """Per copy, the ``(c, a, g)`` triples of every trained linear map ``y = c M a`` (see :meth:`ntk`)."""
        m, L = self.width, self.depth
        groups = set(self.trained_groups)
        c_in, c_w, c_v = 1 / math.sqrt(m), math.sqrt(2 / m), self.alpha / math.sqrt(m)
        out = []
        with torch.no_grad():
            for copy in self.copies:
                tr = self._copy_forward(copy, x, keep=True)
                feats: list[tuple[float, torch.Tensor, torch.Tensor]] = []
                if "v" in groups:
                    feats.append((1.0, tr.states[L], torch.ones_like(tr.output[:, None])))
                if groups & {"W", "V", "A"}:
                    b = copy.v.detach().expand(x.shape[0], m)  # a view of a parameter would require grad
                    for ell in range(L, 0, -1):
                        h = tr.preacts[ell - 1]
                        if "V" in groups:
                            feats.append((c_v, torch.relu(h), b))
                        delta = (b @ copy.V[ell - 1]) * (h > 0).to(h.dtype) * c_v
                        if "W" in groups:
                            feats.append((c_w, tr.states[ell - 1], delta))
                        b = b + (delta @ copy.W[ell - 1]) * c_w
                    if "A" in groups:
                        feats.append((c_in, x, b))
                out.append(feats)
        return out


def _gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.to(torch.float64) @ b.to(torch.float64).T


def insert_zero_block(net: ScaledResNet, position: int, *, seed: int = 0,
                      generator: torch.Generator | None = None) -> ScaledResNet:
    r"""A copy of ``net`` with one more residual block, inserted after block ``position``, whose output map is 0.

    The new block :math:`x \mapsto x + \frac{\alpha}{\sqrt m} V_\star\,\sigma\big(\sqrt{2/m}\,W_\star x\big)` has a
    fresh input map :math:`W_\star` with i.i.d. :math:`\mathcal N(0, 1)` entries and :math:`V_\star = 0`, so
    (Chapter 15, "Synthesis", Proposition `synth-prop-insertion`):

    - the new network computes exactly the same function as ``net`` (the block adds :math:`0`);
    - the gradients of all old parameters are unchanged, the gradient with respect to :math:`W_\star` is zero, and
      the gradient with respect to :math:`V_\star` is :math:`\frac{\alpha}{\sqrt m}\,g\,\sigma(h_\star)^\top`,
      with :math:`g` the back-propagated vector at the insertion point; the tangent kernel therefore grows by
      :math:`\frac{\alpha^2}{m}\langle g(x), g(x')\rangle\langle\sigma(h_\star(x)), \sigma(h_\star(x'))\rangle`.

    The scaled-ResNet analogue of :func:`resntk.nets.insert_block` (post-normalised networks, Part III). In a
    mirrored network both copies receive the same :math:`W_\star`; ``alpha`` is kept (changing it would change the
    function).

    Parameters
    ----------
    net
        The network to grow (left unchanged).
    position
        Number of blocks before the new one: ``0`` inserts it first, ``net.depth`` last.
    seed, generator
        Where :math:`W_\star` is drawn from (a private CPU generator).

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
    gen = make_generator(seed, generator)
    grown = ScaledResNet(net.in_dim, net.width, depth=net.depth + 1, alpha=net.alpha, trained=net.trained,
                         mirrored=net.mirrored, dtype=net.dtype, device=net.device)
    w_star = torch.randn(net.width, net.width, generator=gen, dtype=torch.float64).to(net.dtype).to(net.device)
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
