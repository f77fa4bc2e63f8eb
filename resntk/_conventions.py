r"""The conventions shared by the networks, their kernels and the training code, each defined once.

``TRAINED_GROUPS`` says which parameter groups of the scaled ResNet
:math:`f(x) = v^\top x_L` (book, Chapter 1, Definition `def-scaled-resnet`) are trained under each convention of
Chapter 4 ("The residual NTK derived", Definition `rntk-def-conventions`); the networks use it to set
``requires_grad`` and the kernels to decide which terms the tangent kernel has:

* ``"hidden"`` -- the residual blocks :math:`W_\ell, V_\ell` only: the convention of the minimax result of
  :cite:`yu2026branch` and the book's main one;
* ``"all"`` -- also the input map :math:`A` and the readout :math:`v`;
* ``"readout"`` -- the readout :math:`v` alone: the tangent kernel is then the NNGP kernel :math:`K_L`.

``LOSSES`` are the two training losses, with the book's normalisation (Chapter 2, Definition `kreg-def-flow`):

.. math::

    \mathcal L_{\rm mse} = \frac{1}{2n}\sum_{i=1}^n \lVert f(x_i) - y_i\rVert^2, \qquad
    \mathcal L_{\rm ce} = \frac1n\sum_{i=1}^n -\log \operatorname{softmax}(f(x_i))_{y_i}.

With the :math:`\tfrac{1}{2n}` factor, gradient flow for a time :math:`t` matches :math:`e^{-t\Theta/n}`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["TRAINED_GROUPS", "TRAINED", "LOSSES", "loss_value"]

#: Parameter groups of the scaled ResNet trained under each convention.
TRAINED_GROUPS: dict[str, tuple[str, ...]] = {
    "hidden": ("W", "V"),
    "all": ("A", "W", "V", "v"),
    "readout": ("v",),
}

#: The names of the conventions, in the order of :data:`TRAINED_GROUPS`.
TRAINED: tuple[str, ...] = tuple(TRAINED_GROUPS)

#: The training losses.
LOSSES: tuple[str, ...] = ("mse", "cross_entropy")


def loss_value(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """The empirical risk of outputs ``out`` against targets ``y`` (shapes already checked by the caller).

    ``"mse"``: :math:`\\frac{1}{2n}\\sum_i\\lVert f(x_i) - y_i\\rVert^2`, with ``y`` of the shape of ``out`` (a 1-D
    ``y`` is matched to ``(n, 1)`` outputs and vice versa); ``"cross_entropy"``: the mean cross-entropy of logits
    ``(n, k)`` against integer labels ``(n,)``.
    """
    if loss == "mse":
        y = y.to(out.dtype)
        if out.ndim == 2 and out.shape[1] == 1 and y.ndim == 1:
            y = y[:, None]
        elif out.ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return 0.5 * ((out - y) ** 2).sum() / out.shape[0]
    return F.cross_entropy(out, y)
