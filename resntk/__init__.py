r"""resntk -- companion package of the executable textbook on residual networks.

The package pairs finite residual networks with their infinite-width kernels and the kernel methods that the wide
networks track, for the two results the book is about: branch scaling :cite:`yu2026branch` (Part II) and depth
expansion :cite:`cheng2026depth` (Part III).

Subpackages, one concern each:

* :mod:`resntk.nets` -- the scaled and the post-normalised ResNet, the spec :func:`scaled_resnet` that pairs a
  network with its kernel, the empirical NTK, block insertion, the training loop;
* :mod:`resntk.kernels` -- the analytic residual NNGP and NTK and their infinite-depth limits;
* :mod:`resntk.spectrum` -- Mercer eigenvalues on the sphere and power-law fits;
* :mod:`resntk.regression` -- kernel gradient flow and descent, early stopping, risks;
* :mod:`resntk.data` -- points on the sphere, targets, and the data sets;
* :mod:`resntk.expansion` -- the residual at an insertion point, the jumpboard, capacity, test-risk bounds;
* :mod:`resntk.book` -- what the chapters use besides the mathematics: the session setup of every chapter's first
  cell, the figure style, explorers, progress bars, and the book's experiment helpers.

The top level re-exports only the handful of names a reader uses most; everything else is reached through its
subpackage (``resntk.kernels.kappa1``, ``resntk.nets.History``, ...).

The array rule
--------------
The array type of an output follows that of the inputs: torch in, torch out (float64 for kernels and kernel
methods, on the device the work ran on); NumPy in, NumPy out. Inside, everything is a torch float64 tensor,
converted exactly once at the boundary. Networks are ``torch.nn.Module`` objects and take tensors; the data loaders,
which have no array input, return torch tensors. Every public function checks its arguments once, on entry, and a
bad argument raises ``TypeError`` or ``ValueError`` naming it.
"""

from . import book, data, expansion, kernels, nets, regression, spectrum
from .data import sphere_uniform
from .kernels import residual_ntk
from .nets import PostLNResNet, ScaledResNet, empirical_ntk, insert_block, scaled_resnet, train
from .regression import GradientFlowRegressor

__version__ = "0.2.0"

__all__ = [
    "__version__",
    # subpackages
    "nets", "kernels", "spectrum", "regression", "data", "expansion", "book",
    # the names used most
    "scaled_resnet", "ScaledResNet", "PostLNResNet", "residual_ntk", "empirical_ntk", "train", "insert_block",
    "GradientFlowRegressor", "sphere_uniform",
]
