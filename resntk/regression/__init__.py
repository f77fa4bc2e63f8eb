r"""Kernel gradient flow and gradient descent from zero, early stopping, and rates.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping") for the estimator and the stopping rules,
Chapter 7 ("Minimax optimality and the cost of overfitting") and Chapter 8 ("Wide ResNets train like kernel
regression") for their use with residual kernels. A wide mirrored network trained by gradient descent from the zero
function tracks, in the infinite-width limit, kernel gradient descent with its NTK; :class:`GradientFlowRegressor`
is that kernel method, for gradient flow (``t=``) and for discrete steps (``steps=``), from one eigendecomposition.

Array rule: predictions and risks are torch tensors when the inputs are, NumPy arrays otherwise; all linear algebra
is float64. The power-law fit of measured rates is :func:`resntk.spectrum.fit_power_law`.
"""

from ._estimator import GradientFlowRegressor
from ._stopping import (
    StoppingTime,
    early_stopping_by_validation,
    excess_risk,
    lr_from_ntk,
    select_stopping_time,
    theoretical_stopping_time,
)

__all__ = [
    "GradientFlowRegressor", "lr_from_ntk",
    "select_stopping_time", "early_stopping_by_validation", "StoppingTime", "theoretical_stopping_time",
    "excess_risk",
]
