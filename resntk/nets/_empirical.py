r"""The empirical neural tangent kernel of any torch model.

Book: Chapter 3 ("The neural tangent kernel"), Definition `ntk-def-tangent` and Proposition `ntk-prop-init`.

.. math::

    \hat\Theta(x, x') = \sum_{p\ \text{trained}} \sum_{k} \frac{\partial f_k(x;\theta)}{\partial \theta_p}\,
                        \frac{\partial f_k(x';\theta)}{\partial \theta_p},

a sum over the parameters that require gradients only and, for a model with ``k`` outputs, the **trace over
outputs**. A model that knows a faster exact way to compute its own kernel provides it as a method
``model.ntk(x1, x2)`` (the package's :class:`ScaledResNet` does, by layer-wise Gram products), and
:func:`empirical_ntk` dispatches to it; every other model goes through ``torch.func.vmap(torch.func.jacrev(...))``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .._validation import as_batch, as_output, check_choice, check_int, returns_torch

EMPIRICAL_NTK_METHODS = ("auto", "jacobian", "model")


def empirical_ntk(model: nn.Module, x1: torch.Tensor | np.ndarray, x2: torch.Tensor | np.ndarray | None = None, *,
                  method: str = "auto", chunk_size: int | None = None) -> torch.Tensor | np.ndarray:
    r"""Empirical NTK :math:`\hat\Theta(x_1, x_2)` of ``model`` at its current parameters.

    .. math::

        \hat\Theta(x, x') = \sum_{p:\ \texttt{requires\_grad}} \sum_k
            \partial_{\theta_p} f_k(x)\, \partial_{\theta_p} f_k(x')

    (trace over the ``k`` outputs of a multi-output model; one term for scalar models; Chapter 3, Definition
    `ntk-def-tangent`).

    Parameters
    ----------
    model
        A ``torch.nn.Module`` mapping a batch ``(n, ...)`` to outputs ``(n,)``, ``(n, 1)`` or ``(n, k)``, whose
        samples are processed independently (no batch statistics). Only parameters with ``requires_grad=True``
        contribute (for :class:`ScaledResNet`, the groups selected by ``trained``).
    x1, x2
        Inputs with a leading sample axis (tensors or arrays); ``x2=None`` means ``x2 = x1`` (the symmetric Gram
        matrix, computed once).
    method
        ``"model"``: the model's own ``model.ntk(x1, x2)`` (exact and fast for :class:`ScaledResNet`);
        ``"jacobian"``: ``vmap(jacrev)`` for any model; ``"auto"`` (default): ``"model"`` when the model has an
        ``ntk`` method, ``"jacobian"`` otherwise.
    chunk_size
        Jacobian path only: samples per ``vmap`` chunk, to bound memory (``None``: all at once; memory
        ``n * k * P`` numbers for ``P`` trained parameters).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        float64 of shape ``(n1, n2)``: a tensor on the model's device when an input is a tensor, NumPy otherwise.
        Computed in the model's dtype, accumulated in float64; use a float64 model for kernel work.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    method = check_choice(method, "method", EMPIRICAL_NTK_METHODS)
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", minimum=1)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no parameter with requires_grad=True: the empirical NTK would be identically 0")
    own = callable(getattr(model, "ntk", None))
    if method == "model" and not own:
        raise ValueError(f"method='model' needs a model with an ntk(x1, x2) method; {type(model).__name__} has none: "
                         "use method='jacobian'")
    torch_out = returns_torch(x1, x2)
    symmetric = x2 is None or x2 is x1
    if method == "model" or (method == "auto" and own):
        # the model validates its own inputs; arrays become tensors first
        a = x1 if isinstance(x1, torch.Tensor) else torch.as_tensor(np.asarray(x1))
        b = None if symmetric else (x2 if isinstance(x2, torch.Tensor) else torch.as_tensor(np.asarray(x2)))
        return as_output(model.ntk(a, b), torch_out)
    a = as_batch(x1, "x1")
    b = a if symmetric else as_batch(x2, "x2")
    return as_output(_jacobian_ntk(model, a, b, symmetric, chunk_size), torch_out)


def _jacobian_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor, symmetric: bool,
                  chunk_size: int | None) -> torch.Tensor:
    from torch.func import functional_call, jacrev, vmap

    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    frozen.update(dict(model.named_buffers()))
    ref = next(iter(params.values()))

    def f_one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, frozen), (x.unsqueeze(0),)).reshape(-1)  # the k outputs of one sample

    jac: Callable = vmap(jacrev(f_one), in_dims=(None, 0), chunk_size=chunk_size)

    def jacobian(x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.is_floating_point():
            x = x.to(dtype=ref.dtype)
        return jac(params, x.to(ref.device))

    J1 = jacobian(x1)
    J2 = J1 if symmetric else jacobian(x2)
    ntk = torch.zeros(x1.shape[0], x2.shape[0], dtype=torch.float64, device=ref.device)
    for name in params:
        a = J1[name].flatten(2).to(torch.float64)  # (n1, k, P)
        b = a if symmetric else J2[name].flatten(2).to(torch.float64)
        ntk += torch.einsum("ikp,jkp->ij", a, b)
    return ntk
