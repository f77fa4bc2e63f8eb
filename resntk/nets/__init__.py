r"""Networks, their empirical tangent kernels, and the training loop.

Book: Part I (Chapter 1, "Residual networks with branch scaling"; Chapter 3, "The neural tangent kernel") for the
scaled ResNet, Part III (Chapter 10, "Normalised residual networks and function-preserving insertion") for the
post-normalised one, and Chapter 15 ("Synthesis") for zero-block insertion.

* :func:`scaled_resnet` -- one spec for the scaled ResNet and its analytic kernel (``spec.module`` and
  ``spec.kernel`` share ``depth``, ``alpha`` and ``trained``).
* :class:`ScaledResNet`, :class:`PostLNResNet` -- the two architectures; both take ``(in_dim, width, ...)`` with
  the rest keyword-only, validate their input in ``forward`` and never draw from torch's global generator.
* :func:`empirical_ntk` -- the tangent kernel of any model (the model's own ``ntk`` method when it has one).
* :func:`train` and its callbacks -- plain (stochastic) gradient descent with a history.

Array rule: networks take tensors (they are ``torch.nn.Module`` objects). :func:`empirical_ntk` follows the package
rule (torch in, torch out; NumPy in, NumPy out), as do :func:`layer_norm` and :func:`layer_norm_jacobian`.
"""

from .._conventions import LOSSES, TRAINED_GROUPS
from ._empirical import EMPIRICAL_NTK_METHODS, empirical_ntk
from ._insert import INSERT_INITS, Insertion, fit_readout, insert_block
from ._postln import PostLNResNet, PostNorm, ResidualBlock, layer_norm, layer_norm_jacobian
from ._scaled import ResNetTrace, ScaledResNet, insert_zero_block
from ._spec import ScaledResNetSpec, scaled_resnet
from ._train import Callback, History, LossCallback, NTKCallback, PredictionCallback, train

__all__ = [
    # the scaled ResNet and its kernel (Part II)
    "scaled_resnet", "ScaledResNetSpec", "ScaledResNet", "ResNetTrace", "insert_zero_block", "TRAINED_GROUPS",
    # post-normalised networks (Part III)
    "PostLNResNet", "ResidualBlock", "PostNorm", "layer_norm", "layer_norm_jacobian",
    "insert_block", "Insertion", "INSERT_INITS", "fit_readout",
    # tangent kernels and training (Part I)
    "empirical_ntk", "EMPIRICAL_NTK_METHODS", "train", "History", "Callback", "LossCallback", "PredictionCallback",
    "NTKCallback", "LOSSES",
]
