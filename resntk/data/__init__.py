r"""Data for the book: points on the sphere, targets of known smoothness, and data sets.

Book: Chapter 2 ("Kernel regression, the RKHS and early stopping") for the data model and the targets, Chapter 7
("Minimax optimality and the cost of overfitting") for the rate experiments, Chapter 9 ("Real data") for the data
sets.

* the sphere -- :func:`sphere_uniform`, :func:`circle_points`, :func:`circle_angles`, :func:`project_to_sphere`,
  :func:`one_hot`;
* targets -- :func:`rkhs_target`, :func:`random_rkhs_target` (finite sums of kernel sections, inside the RKHS),
  :func:`harmonic_target_circle` (prescribed harmonic decay on the circle);
* data sets shipped or generated locally -- :func:`load_digits_sphere`, :func:`load_mnist1d`;
* files, verified by SHA-256 before they are parsed -- :func:`load_mnist`, :func:`load_cifar100`,
  :func:`parse_idx`, :class:`ChecksumError` (download only when asked, atomic writes, clear offline errors).

Array rule: functions of an array follow its type (torch in, torch out; NumPy in, NumPy out); generators and loaders,
which have no array input, return torch float64 tensors (labels int64).
"""

from ._datasets import Dataset, load_digits_sphere, load_mnist1d
from ._download import CIFAR100_FILES, MNIST_FILES, ChecksumError
from ._loaders import load_cifar100, load_mnist, parse_idx
from ._sphere import circle_angles, circle_points, one_hot, project_to_sphere, sphere_uniform
from ._targets import HarmonicTarget, KernelSectionTarget, harmonic_target_circle, random_rkhs_target, rkhs_target

__all__ = [
    # the sphere
    "sphere_uniform", "circle_points", "circle_angles", "project_to_sphere", "one_hot",
    # targets
    "rkhs_target", "random_rkhs_target", "KernelSectionTarget", "harmonic_target_circle", "HarmonicTarget",
    # data sets
    "Dataset", "load_digits_sphere", "load_mnist1d", "load_mnist", "load_cifar100", "parse_idx", "ChecksumError",
    "MNIST_FILES", "CIFAR100_FILES",
]
