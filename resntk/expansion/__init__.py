r"""Depth expansion: the residual at the insertion point, the jumpboard, capacity and test-risk bounds.

Book: Part III, Chapters 11 ("The first-order descent condition and the jumpboard"), 12 ("Capacity of
post-normalised classes") and 13 ("Two test-risk guarantees"), on the mechanism of :cite:`cheng2026depth`. Blocks
are inserted with :func:`resntk.nets.insert_block`; the book's experiments built on these functions (the toy and
the equal-compute comparison) live in :mod:`resntk.book`.

* gradients -- :func:`backprop_residual`, :func:`output_gradient`, :func:`block_features`, :func:`descent_matrix`
  (from a model, or from precomputed factors ``rho=``/``phi=``), :func:`block_gradients`,
  :func:`directional_derivative` (``method="formula"`` or ``"finite_difference"``), :func:`risk_along_ray`,
  :func:`curvature_along_ray`;
* the jumpboard -- :func:`jumpboard`, :class:`Jumpboard`;
* capacity -- :func:`linearized_rademacher` (closed form and Monte Carlo; from a model or from factors),
  :class:`RademacherSurrogate`;
* bounds -- :func:`route_i_bound`, :func:`route_ii_bound`, :class:`RiskBound`.

Array rule: per-sample arrays and the descent matrix follow the type of the data (torch in, torch out; NumPy in,
NumPy out); :func:`risk_along_ray` follows ``t``; scalars are floats; records that hold a model hold tensors.
"""

from .._conventions import LOSSES as EXPANSION_LOSSES
from ._bounds import RiskBound, route_i_bound, route_ii_bound
from ._capacity import RademacherSurrogate, linearized_rademacher
from ._gradients import (
    backprop_residual,
    block_features,
    block_gradients,
    curvature_along_ray,
    descent_matrix,
    directional_derivative,
    output_gradient,
    risk_along_ray,
)
from ._jumpboard import Jumpboard, jumpboard

__all__ = [
    # first-order quantities (Chapter 11)
    "backprop_residual", "output_gradient", "block_features", "descent_matrix", "block_gradients",
    "directional_derivative", "risk_along_ray", "curvature_along_ray", "EXPANSION_LOSSES",
    # the jumpboard (Chapter 11)
    "jumpboard", "Jumpboard",
    # capacity (Chapter 12)
    "linearized_rademacher", "RademacherSurrogate",
    # test-risk bounds (Chapter 13)
    "route_i_bound", "route_ii_bound", "RiskBound",
]
