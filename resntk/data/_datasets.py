r"""Classification data sets with a fixed split, and the two that need no download: digits and MNIST-1D.

Book: Chapter 9 ("Real data"); MNIST-1D is :cite:`greydanus2020mnist1d`. Inputs are centred by the training mean and
projected onto the sphere (:func:`project_to_sphere`, Proposition `real-prop-centring`).
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import check_bool, check_int, check_real
from ._sphere import one_hot, project_to_sphere


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set with a fixed train/test split (torch tensors).

    Attributes
    ----------
    X_train, X_test
        Inputs, float64 tensors of shapes ``(n, p)`` and ``(m, p)``; on the unit sphere when the loader projected
        them.
    y_train, y_test
        Integer labels in ``[0, n_classes)``, int64 tensors.
    n_classes
        Number of classes.
    name
        A short description of the source and the preprocessing.
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str

    def one_hot(self, centered: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One-vs-rest targets ``(Y_train, Y_test)`` as float64 tensors, see :func:`one_hot`."""
        centered = check_bool(centered, "centered")
        return (one_hot(self.y_train, self.n_classes, centered=centered),
                one_hot(self.y_test, self.n_classes, centered=centered))


def _check_test_size(test_size: Any) -> float | int:
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        return check_int(test_size, "test_size", minimum=1)
    return check_real(test_size, "test_size", minimum=0.0, maximum=1.0, strict=True,
                      what="a fraction, or a positive int")


def load_digits_sphere(seed: int = 0, test_size: float | int = 0.25, *,
                       classes: Sequence[int] | None = None) -> Dataset:
    r"""scikit-learn's 8x8 digits (1797 images, 64 features), projected onto :math:`\mathbb S^{63}`.

    The data ship with scikit-learn: nothing is downloaded. The split is stratified and fixed by ``seed``; the inputs
    are centered by the training mean and scaled to unit norm (:func:`project_to_sphere`).

    Parameters
    ----------
    seed
        Seed of the stratified split.
    test_size
        Fraction (or number) of test images.
    classes
        Keep only these digits (e.g. ``(3, 8)`` for a binary problem); labels are renumbered ``0..len-1`` in the
        given order.

    Returns
    -------
    Dataset
        torch tensors.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_size = _check_test_size(test_size)
    digits = load_digits()
    X, y = digits.data.astype(np.float64), digits.target.astype(np.int64)
    name = "digits (scikit-learn), centered and projected onto the sphere"
    if classes is not None:
        keep = [int(c) for c in classes]
        if len(keep) < 2 or len(set(keep)) != len(keep) or not all(0 <= c <= 9 for c in keep):
            raise ValueError(f"classes must hold at least two distinct digits in 0..9, got {classes!r}")
        relabel = np.full(10, -1, dtype=np.int64)
        relabel[keep] = np.arange(len(keep))
        mask = np.isin(y, keep)
        X, y = X[mask], relabel[y[mask]]
        name += f", classes {tuple(keep)}"
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    A, B = project_to_sphere(torch.from_numpy(X_tr), torch.from_numpy(X_te))
    return Dataset(X_train=A, y_train=torch.from_numpy(y_tr), X_test=B, y_test=torch.from_numpy(y_te),
                   n_classes=int(y.max()) + 1, name=name)


def load_mnist1d(num_samples: int = 5000, *, seed: int = 42, train_split: float = 0.8) -> Dataset:
    r"""MNIST-1D generated locally by the ``mnist1d`` package, projected onto :math:`\mathbb S^{39}`.

    Calls ``mnist1d.data.make_dataset`` with the package's default arguments (``seed=42``, 5000 sequences of length
    40, the first 80 % for training), which reproduce the published data set without downloading it. The package
    seeds NumPy's and Python's global random generators; their states are restored afterwards.

    Parameters
    ----------
    num_samples
        Total number of sequences (a multiple of 10 keeps the classes balanced), at least 20.
    seed
        The generator's seed.
    train_split
        Fraction of the sequences used for training (the package splits in order).

    Returns
    -------
    Dataset
        torch tensors.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    num_samples = check_int(num_samples, "num_samples", minimum=20)
    train_split = check_real(train_split, "train_split", minimum=0.0, maximum=1.0, strict=True)
    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = check_int(seed, "seed", minimum=0)
    args.train_split = train_split
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    if len(data["y"]) == 0 or len(data["y_test"]) == 0:
        raise ValueError(f"train_split={train_split} leaves an empty train or test set for {num_samples} samples")
    A, B = project_to_sphere(torch.as_tensor(data["x"], dtype=torch.float64),
                             torch.as_tensor(data["x_test"], dtype=torch.float64))
    return Dataset(X_train=A, y_train=torch.as_tensor(np.asarray(data["y"], dtype=np.int64)), X_test=B,
                   y_test=torch.as_tensor(np.asarray(data["y_test"], dtype=np.int64)), n_classes=10,
                   name="MNIST-1D (generated locally), centered and projected onto the sphere")
