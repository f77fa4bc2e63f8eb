r"""One spec for the scaled ResNet and its kernel, so that the two can never drift apart.

As ``neural_tangents.stax`` pairs each layer's finite ``apply_fn`` with its infinite-width ``kernel_fn``
:cite:`novak2020neural`, :func:`scaled_resnet` fixes ``(depth, alpha, trained)`` once and gives both the finite
network of Chapter 1 (Definition `def-scaled-resnet`) and its residual NTK and NNGP of Chapter 4 (Theorem
`rntk-thm-ntk`): the average empirical NTK of wide networks built by ``spec.module`` converges to ``spec.kernel``
as the width grows, with fluctuations of order :math:`m^{-1/2}` (Chapter 3, Theorem `ntk-thm-jacot`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validation import check_alpha, check_depth, check_trained
from ._scaled import ScaledResNet


@dataclass(frozen=True)
class ScaledResNetSpec:
    r"""The scaled ResNet with ``depth`` blocks, branch scale ``alpha`` and training convention ``trained``.

    Build it with :func:`scaled_resnet` (which validates the fields once). ``spec.module(in_dim, width)`` is a
    finite network and ``spec.kernel(x1, x2)`` its infinite-width kernels, for the same three numbers.

    Attributes
    ----------
    depth : int
        Number of residual blocks :math:`L \ge 1`.
    alpha : float
        Branch scale :math:`\alpha \ge 0`.
    trained : {"hidden", "all", "readout"}
        Which parameter groups train (:data:`resntk.nets.TRAINED_GROUPS`).
    """

    depth: int
    alpha: float
    trained: str = "hidden"

    def module(self, in_dim: int, width: int, *, seed: int = 0, mirrored: bool = True,
               dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
               generator: torch.Generator | None = None) -> ScaledResNet:
        """A finite :class:`ScaledResNet` of this spec (see there for the arguments)."""
        return ScaledResNet(in_dim, width, depth=self.depth, alpha=self.alpha, trained=self.trained,
                            mirrored=mirrored, dtype=dtype, device=device, seed=seed, generator=generator)

    def kernel(self, x1: torch.Tensor | np.ndarray, x2: torch.Tensor | np.ndarray | None = None, *,
               normalize: bool = False, method: str = "direct", block_size: int = 512,
               device: torch.device | str | None = None):
        r"""The analytic residual NNGP and NTK of this spec between ``x1`` and ``x2``.

        The limit of the empirical NTK of ``self.module(d, m)`` at initialisation as :math:`m \to \infty`
        (:func:`resntk.kernels.residual_ntk`, whose array rule and arguments apply).

        Returns
        -------
        resntk.kernels.ResidualKernel
            ``(nngp, ntk)`` of shape ``(n1, n2)``.
        """
        from ..kernels import residual_ntk

        return residual_ntk(x1, x2, depth=self.depth, alpha=self.alpha, trained=self.trained, normalize=normalize,
                            method=method, block_size=block_size, device=device)


def scaled_resnet(*, depth: int, alpha: float, trained: str = "hidden") -> ScaledResNetSpec:
    r"""The spec pairing the scaled ResNet with its residual NTK (Chapter 4, Theorem `rntk-thm-ntk`).

    Parameters
    ----------
    depth : int
        Number of residual blocks :math:`L \ge 1`.
    alpha : float
        Branch scale :math:`\alpha \ge 0`, e.g. ``depth ** -gamma``.
    trained : {"hidden", "all", "readout"}
        Training convention (Chapter 4, Definition `rntk-def-conventions`).

    Returns
    -------
    ScaledResNetSpec
        Frozen; ``spec.module(in_dim, width, seed=...)`` builds networks and ``spec.kernel(x1, x2)`` gives their
        infinite-width kernels.

    Examples
    --------
    >>> spec = scaled_resnet(depth=4, alpha=0.5)
    >>> net = spec.module(3, 512, seed=0)                        # doctest: +SKIP
    >>> Theta = spec.kernel(X).ntk                               # doctest: +SKIP
    """
    return ScaledResNetSpec(depth=check_depth(depth, minimum=1), alpha=check_alpha(alpha),
                            trained=check_trained(trained))
