"""resntk — companion package of the executable textbook on residual networks.

The public surface is re-exported here; every name is documented with the mathematics it implements and the
chapter of the book where it is used.
"""

from __future__ import annotations

from resntk.expansion import (
    EqualComputeResult,
    ExpansionToy,
    Jumpboard,
    RademacherSurrogate,
    RiskBound,
    backprop_residual,
    block_features,
    block_gradients,
    curvature_along_ray,
    descent_matrix,
    descent_matrix_from,
    directional_derivative,
    equal_compute_comparison,
    finite_difference_derivative,
    jumpboard,
    linearized_rademacher,
    linearized_rademacher_bound,
    linearized_rademacher_mc,
    make_expansion_toy,
    output_gradient,
    risk_along_ray,
    route_i_bound,
    route_ii_bound,
)
from resntk.data import (
    ChecksumError,
    Dataset,
    HarmonicTarget,
    KernelSectionTarget,
    circle_angles,
    circle_points,
    harmonic_target_circle,
    load_cifar100,
    load_digits_sphere,
    load_mnist,
    load_mnist1d,
    one_hot,
    parse_idx,
    project_to_sphere,
    random_rkhs_target,
    rkhs_target,
    sphere_uniform,
)
from resntk.empirical import empirical_ntk
from resntk.interactive import explore
from resntk.kernels import (
    ResidualKernel,
    ResidualKernelTable,
    infinite_depth_ntk,
    kappa0,
    kappa1,
    ode_kernel,
    residual_ntk,
    residual_ntk_scalar,
    two_layer_ntk,
)
from resntk.models import ScaledResNet, insert_zero_block
from resntk.plotting import palette, reference_slope, use_book_style
from resntk.postln import Insertion, PostLNResNet, fit_readout, insert_block, layer_norm, layer_norm_jacobian
from resntk.regression import (
    GradientFlowRegressor,
    StoppingTime,
    early_stopping_by_validation,
    excess_risk,
    select_stopping_time,
    theoretical_stopping_time,
)
from resntk.spectrum import (
    PowerLawFit,
    fit_power_law,
    fourier_coefficients,
    funk_hecke_eigenvalues,
    gegenbauer,
    multiplicity,
    repeat_by_multiplicity,
)
from resntk.train import (
    Callback,
    History,
    LossCallback,
    NTKCallback,
    PredictionCallback,
    kernel_gd_predictions,
    lr_from_ntk,
    train,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # analytic residual kernels and their spectra (Part II)
    "kappa0", "kappa1", "two_layer_ntk", "residual_ntk", "residual_ntk_scalar", "ResidualKernel",
    "ResidualKernelTable", "ode_kernel", "infinite_depth_ntk",
    "fourier_coefficients", "funk_hecke_eigenvalues", "gegenbauer", "multiplicity", "repeat_by_multiplicity",
    "fit_power_law", "PowerLawFit",
    # scaled ResNets, empirical NTK and training (Parts I-II)
    "ScaledResNet", "insert_zero_block", "empirical_ntk", "train", "History", "Callback", "LossCallback", "PredictionCallback",
    "NTKCallback", "lr_from_ntk", "kernel_gd_predictions",
    # gradient-flow kernel regression and early stopping
    "GradientFlowRegressor", "StoppingTime", "select_stopping_time", "early_stopping_by_validation",
    "theoretical_stopping_time", "excess_risk",
    # data
    "sphere_uniform", "circle_points", "circle_angles", "project_to_sphere", "one_hot", "KernelSectionTarget",
    "rkhs_target", "random_rkhs_target", "HarmonicTarget", "harmonic_target_circle", "Dataset",
    "load_digits_sphere", "load_mnist1d", "load_mnist", "load_cifar100", "parse_idx", "ChecksumError",
    # depth expansion (Part III)
    "PostLNResNet", "insert_block", "Insertion", "fit_readout", "layer_norm", "layer_norm_jacobian",
    "backprop_residual", "block_features", "descent_matrix", "descent_matrix_from", "block_gradients",
    "directional_derivative", "finite_difference_derivative", "risk_along_ray", "curvature_along_ray",
    "jumpboard", "Jumpboard", "output_gradient", "linearized_rademacher", "linearized_rademacher_bound",
    "linearized_rademacher_mc", "RademacherSurrogate", "route_i_bound", "route_ii_bound", "RiskBound",
    "equal_compute_comparison", "EqualComputeResult", "make_expansion_toy", "ExpansionToy",
    # figures and explorers
    "explore", "palette", "reference_slope", "use_book_style",
]
