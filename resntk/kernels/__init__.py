r"""Analytic residual kernels: the residual NNGP and NTK of the scaled ResNet and their infinite-depth limits.

Book: Part II, from Chapter 4 ("The residual NTK derived") to Chapter 6 ("Decaying scaling and the phase diagram");
Appendix A for the arc-cosine functions. The network is that of Chapter 1, Definition `def-scaled-resnet`,

.. math::

    x_0 = \tfrac{1}{\sqrt m} A x, \qquad
    x_\ell = x_{\ell-1} + \tfrac{\alpha}{\sqrt m} V_\ell\, \sigma\!\big(\sqrt{2/m}\, W_\ell x_{\ell-1}\big),
    \qquad f(x) = v^\top x_L ,

in the infinite-width limit :math:`m \to \infty` (NTK parameterisation, no bias, ReLU :math:`\sigma`). The same
``(depth, alpha, trained)`` give a finite network and this kernel through one spec, :func:`resntk.nets.scaled_resnet`.

Array rule: torch in, torch out (float64, on the compute device); NumPy, lists or numbers in, NumPy out. Depth and
:math:`\alpha` are keyword-only everywhere.
"""

from ._arccos import kappa0, kappa1, two_layer_ntk
from ._gram import residual_ntk
from ._limits import LIMIT_REGIMES, infinite_depth_ntk, ode_kernel
from ._recursion import ResidualKernel, residual_ntk_scalar
from ._table import ResidualKernelTable

__all__ = [
    # arc-cosine functions (Appendix A)
    "kappa0", "kappa1", "two_layer_ntk",
    # finite depth (Chapter 4)
    "residual_ntk", "residual_ntk_scalar", "ResidualKernel", "ResidualKernelTable",
    # infinite depth (Chapters 5-6)
    "ode_kernel", "infinite_depth_ntk", "LIMIT_REGIMES",
]
