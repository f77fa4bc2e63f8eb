"""The empirical neural tangent kernel of a torch model (book Part I, "the neural tangent kernel"; note §2.6, §3.4).

.. math::

    \\hat\\Theta(x, x') = \\sum_{p\\ \\text{trained}} \\sum_{k} \\frac{\\partial f_k(x;\\theta)}{\\partial \\theta_p}\\,
                          \\frac{\\partial f_k(x';\\theta)}{\\partial \\theta_p},

the residual network kernel :math:`K^m_t` of the note's §2.6 at the current parameters: a sum over the parameters that
require gradients only and, for a model with ``k`` outputs, the **trace over outputs** (the sum of the ``k``
per-output kernels; for the scalar networks of the book there is one output).

Two methods compute it:

``"jacobian"``
    The general path: ``torch.func.vmap(torch.func.jacrev(...))`` gives the per-sample Jacobian of every trained
    parameter; the kernel is the sum of their inner products. Works for any model whose samples are processed
    independently (no batch statistics), at a memory cost of ``n * k * P`` numbers for ``P`` trained parameters.
``"layer_gram"``
    The fast path for :class:`~resntk.models.ScaledResNet`. For a linear map :math:`y = c\\,M a` the contribution of
    :math:`M` to the kernel factorises,

    .. math::

        \\sum_{ij} \\frac{\\partial f(x)}{\\partial M_{ij}} \\frac{\\partial f(x')}{\\partial M_{ij}}
        = c^2\\, \\langle a(x), a(x') \\rangle\\, \\langle g(x), g(x') \\rangle,
        \\qquad g = \\partial f / \\partial y,

    so one forward pass (activations) and one manual backward pass (gradients with respect to each layer's output)
    give the kernel as a sum of Hadamard products of :math:`n_1 \\times n_2` Gram matrices, without ever forming the
    Jacobian. For the mirrored model each copy enters with weight :math:`s_c^2 = \\tfrac12`, so that
    :math:`\\hat\\Theta = \\tfrac12(\\hat\\Theta^{(1)} + \\hat\\Theta^{(2)})` (note §2.4).

The two methods agree to rounding (about :math:`10^{-13}` relative in float64); ``benchmarks/empirical.py`` measures
the speed ratio.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .models import ScaledResNet

__all__ = ["empirical_ntk", "EMPIRICAL_NTK_METHODS"]

EMPIRICAL_NTK_METHODS = ("auto", "jacobian", "layer_gram")


def _check_points(x: object, name: str, model: nn.Module) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must have a leading sample axis with at least one sample, got shape {tuple(x.shape)}")
    if isinstance(model, ScaledResNet) and (x.ndim != 2 or x.shape[1] != model.in_dim):
        raise ValueError(f"{name} must have shape (n, in_dim) = (n, {model.in_dim}), got {tuple(x.shape)}")
    if x.dtype.is_floating_point or x.dtype.is_complex:
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return x


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, method: str = "auto", *,
                  chunk_size: int | None = None) -> torch.Tensor:
    """Empirical NTK :math:`\\hat\\Theta(x_1, x_2)` of ``model`` at its current parameters.

    .. math::

        \\hat\\Theta(x, x') = \\sum_{p:\\ \\texttt{requires\\_grad}} \\sum_k
            \\partial_{\\theta_p} f_k(x)\\, \\partial_{\\theta_p} f_k(x')

    (trace over the ``k`` outputs of a multi-output model; one term for scalar models).

    Parameters
    ----------
    model
        A ``torch.nn.Module`` mapping a batch ``(n, ...)`` to outputs ``(n,)``, ``(n, 1)`` or ``(n, k)``.
        Only parameters with ``requires_grad=True`` contribute (for :class:`~resntk.models.ScaledResNet`, the groups
        selected by ``trained``).
    x1, x2
        Inputs with a leading sample axis; ``x2=None`` means ``x2 = x1`` (the symmetric Gram matrix, computed
        once). For a ``ScaledResNet`` they must have shape ``(n, in_dim)``. Non-finite values are rejected.
    method
        ``"layer_gram"`` (fast; ``ScaledResNet`` only), ``"jacobian"`` (any model) or ``"auto"`` (layer-Gram for a
        ``ScaledResNet``, Jacobian otherwise).
    chunk_size
        Jacobian path only: number of samples per ``vmap`` chunk, to bound memory (``None``: all at once).

    Returns
    -------
    torch.Tensor
        float64 tensor of shape ``(n1, n2)`` on the model's device. Computations run in the model's dtype and the
        products are accumulated in float64; use a float64 model for kernel work.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if method not in EMPIRICAL_NTK_METHODS:
        raise ValueError(f"method must be one of {EMPIRICAL_NTK_METHODS}, got {method!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be None or a positive int, got {chunk_size!r}")
    symmetric = x2 is None or x2 is x1
    x1 = _check_points(x1, "x1", model)
    x2 = x1 if symmetric else _check_points(x2, "x2", model)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no parameter with requires_grad=True: the empirical NTK would be identically 0")
    if method == "auto":
        method = "layer_gram" if isinstance(model, ScaledResNet) else "jacobian"
    if method == "layer_gram":
        if not isinstance(model, ScaledResNet):
            raise ValueError(f"method='layer_gram' supports ScaledResNet only, got {type(model).__name__}; "
                             "use method='jacobian'")
        return _layer_gram_ntk(model, x1, x2, symmetric)
    return _jacobian_ntk(model, x1, x2, symmetric, chunk_size)


# ---------------------------------------------------------------------------------------------- general path
def _jacobian_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor, symmetric: bool,
                  chunk_size: int | None) -> torch.Tensor:
    from torch.func import functional_call, jacrev, vmap

    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    frozen.update(dict(model.named_buffers()))

    def f_one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, frozen), (x.unsqueeze(0),))
        return out.reshape(-1)  # (k,) outputs of one sample

    jac: Callable = vmap(jacrev(f_one), in_dims=(None, 0), chunk_size=chunk_size)

    def jacobian(x: torch.Tensor) -> dict[str, torch.Tensor]:
        device = next(iter(params.values())).device
        return jac(params, x.to(device))

    J1 = jacobian(x1)
    J2 = J1 if symmetric else jacobian(x2)
    ntk = None
    for name in params:
        a = J1[name].flatten(2).to(torch.float64)  # (n1, k, P)
        b = a if symmetric else J2[name].flatten(2).to(torch.float64)
        term = torch.einsum("ikp,jkp->ij", a, b)
        ntk = term if ntk is None else ntk + term
    assert ntk is not None
    return ntk


# ---------------------------------------------------------------------------------------------- layer-Gram path
def _layer_features(model: ScaledResNet, x: torch.Tensor) -> list[list[tuple[float, torch.Tensor, torch.Tensor]]]:
    """Per copy, the list of ``(c, a, g)`` triples of every trained linear map ``y = c M a`` (``g = df/dy``).

    Backward recursion (manual, exact for ReLU away from the measure-zero set ``h = 0``), with
    :math:`b_\\ell = \\partial f^{(c)} / \\partial x_\\ell`:

    .. math::

        b_L = v,\\qquad
        \\delta_\\ell = \\tfrac{\\alpha}{\\sqrt m}\\,(V_\\ell^\\top b_\\ell) \\odot \\mathbb 1[h_\\ell > 0],\\qquad
        b_{\\ell-1} = b_\\ell + \\sqrt{2/m}\\; W_\\ell^\\top \\delta_\\ell ,

    and the four kinds of maps contribute
    :math:`V_\\ell: (\\alpha/\\sqrt m,\\ \\sigma(h_\\ell),\\ b_\\ell)`,
    :math:`W_\\ell: (\\sqrt{2/m},\\ x_{\\ell-1},\\ \\delta_\\ell)`,
    :math:`A: (1/\\sqrt m,\\ x,\\ b_0)`, :math:`v: (1,\\ x_L,\\ 1)`.
    """
    m, L = model.width, model.depth
    groups = set(model.trained_groups)
    c_in, c_w, c_v = 1 / math.sqrt(m), math.sqrt(2 / m), model.alpha / math.sqrt(m)
    x = x.to(dtype=model.dtype, device=model.device)
    out = []
    with torch.no_grad():
        traces = model.trace(x)
        for copy, tr in zip(model.copies, traces):
            feats: list[tuple[float, torch.Tensor, torch.Tensor]] = []
            if "v" in groups:
                feats.append((1.0, tr.states[L].detach(), torch.ones_like(tr.output[:, None])))
            if groups & {"W", "V", "A"}:
                b = copy.v.detach().expand(x.shape[0], m)
                for ell in range(L, 0, -1):
                    h = tr.preacts[ell - 1].detach()
                    if "V" in groups:
                        feats.append((c_v, torch.relu(h), b))
                    delta = (b @ copy.V[ell - 1].detach()) * (h > 0).to(h.dtype) * c_v
                    if "W" in groups:
                        feats.append((c_w, tr.states[ell - 1].detach(), delta))
                    b = b + (delta @ copy.W[ell - 1].detach()) * c_w
                if "A" in groups:
                    feats.append((c_in, x, b))
            out.append(feats)
    return out


def _gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.to(torch.float64) @ b.to(torch.float64).T


def _layer_gram_ntk(model: ScaledResNet, x1: torch.Tensor, x2: torch.Tensor, symmetric: bool) -> torch.Tensor:
    F1 = _layer_features(model, x1)
    F2 = F1 if symmetric else _layer_features(model, x2)
    ntk = torch.zeros(x1.shape[0], x2.shape[0], dtype=torch.float64, device=model.device)
    for sign, feats1, feats2 in zip(model.copy_signs, F1, F2):
        for (c, a1, g1), (_, a2, g2) in zip(feats1, feats2):
            ntk += (sign * c) ** 2 * (_gram(a1, a2) * _gram(g1, g2))
    return ntk
