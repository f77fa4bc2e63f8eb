r"""The one input boundary of resntk, and the array rule.

Every public function checks its arguments here, once, on entry, and private code never checks them again. A bad
argument raises ``TypeError`` (wrong kind: a string for a number, a boolean or string array, an unknown object) or
``ValueError`` (wrong value: NaN or infinity, complex numbers -- "Complex data not supported", as scikit-learn says
--, a wrong shape, a number out of range); every message names the argument and says what was expected.

The array rule
--------------
The array type of an output follows that of the inputs: torch in, torch out (float64, on the device the work ran
on, which is the input's unless ``device=`` says otherwise); NumPy arrays, lists or Python numbers in, NumPy out.
Inside, everything is a torch float64 tensor; the conversion happens exactly once in each direction, here
(:func:`returns_torch` decides, :func:`as_output` converts).

Devices
-------
One rule (:func:`resolve_device`): an explicit ``device`` argument wins; otherwise the device of the first torch
tensor among the inputs; otherwise the CPU.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np
import torch

from ._conventions import TRAINED

__all__ = [
    "as_batch",
    "as_float64",
    "as_kernel_matrix",
    "as_module_input",
    "as_output",
    "as_points",
    "as_rho",
    "as_targets",
    "check_alpha",
    "check_bool",
    "check_choice",
    "check_depth",
    "check_dtype",
    "check_finite",
    "check_fitted",
    "check_int",
    "check_real",
    "check_trained",
    "make_generator",
    "resolve_device",
    "returns_torch",
]

DTYPE = torch.float64
#: Correlations farther than this outside [-1, 1] are rejected; closer ones are rounding and are clamped.
RHO_TOLERANCE = 1e-9

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------ scalars
def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (Python or NumPy, not ``bool``) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return value


def check_real(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
               strict: bool = False, what: str = "") -> float:
    """A finite real number (Python, NumPy, or a one-element tensor/array) in ``[minimum, maximum]``.

    ``strict=True`` excludes the bounds. ``what`` is appended to messages (e.g. "the branch scale").
    """
    if isinstance(value, (torch.Tensor, np.ndarray)):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size != 1:
            raise ValueError(f"{name} must be a single number, got an array of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{what and ' (' + what + ')'}, got {type(value).__name__}")
    value = float(value)
    low_bad = minimum is not None and (value <= minimum if strict else value < minimum)
    high_bad = maximum is not None and (value >= maximum if strict else value > maximum)
    if not math.isfinite(value) or low_bad or high_bad:
        lo = "" if minimum is None else f"{'>' if strict else '>='} {minimum:g}"
        hi = "" if maximum is None else f"{'<' if strict else '<='} {maximum:g}"
        rng = " and ".join(part for part in (lo, hi) if part)
        raise ValueError(f"{name} must be a finite number{' ' + rng if rng else ''}"
                         f"{what and ' (' + what + ')'}, got {value}")
    return value


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_alpha(alpha: Any) -> float:
    """The branch scale :math:`\\alpha \\ge 0` (finite)."""
    return check_real(alpha, "alpha", minimum=0.0, what="the branch scale")


def check_depth(depth: Any, *, minimum: int = 0) -> int:
    """The number of residual blocks :math:`L`."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an integer number of residual blocks, got {type(depth).__name__}")
    return check_int(depth, "depth", minimum=minimum)


def check_trained(trained: Any, allowed: Iterable[str] = TRAINED) -> str:
    """One of the training conventions of :data:`resntk.nets.TRAINED_GROUPS`."""
    return check_choice(trained, "trained", allowed)


def check_dtype(dtype: Any) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype


def make_generator(seed: Any, generator: torch.Generator | None = None) -> torch.Generator:
    """A private CPU generator: ``generator`` if given, else a fresh one seeded by ``seed``.

    Library code draws from such generators only, never from torch's global generator.
    """
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    return torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))


# ------------------------------------------------------------------------------------------------ devices and arrays
def resolve_device(device: Any, *inputs: Any) -> torch.device:
    """``device`` if given, else the device of the first torch tensor in ``inputs``, else the CPU."""
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be None, a str or a torch.device, got {type(device).__name__}")
        return torch.device(device)
    for x in inputs:
        if isinstance(x, torch.Tensor):
            return x.device
    return torch.device("cpu")


def returns_torch(*inputs: Any) -> bool:
    """The array rule: outputs are torch tensors when any array input is one, NumPy arrays otherwise."""
    return any(isinstance(x, torch.Tensor) for x in inputs)


def as_output(value: T, torch_out: bool) -> T:
    """Convert the tensors in ``value`` (a tensor, or a tuple/NamedTuple of them) to NumPy unless ``torch_out``."""
    if torch_out:
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()  # type: ignore[return-value]
    if isinstance(value, tuple):
        items = [as_output(v, False) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)  # type: ignore[return-value]
    return value


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` if ``t`` holds NaN or an infinity.

    The sum is tested first (one pass, no temporary of the tensor's size); only when it is not finite (an entry is
    not, or the finite entries overflow the sum) are the entries checked one by one.
    """
    if t.numel() == 0:
        return
    data = t.detach()
    if data.is_floating_point() and not bool(torch.isfinite(data.sum())) and not bool(torch.isfinite(data).all()):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")


def as_float64(x: Any, name: str, device: torch.device | None = None, *, keep_grad: bool = False) -> torch.Tensor:
    """``x`` as a finite float64 tensor on ``device`` (default: where it is, or the CPU).

    Accepts torch tensors, NumPy arrays, nested sequences and numbers of real (integer or floating) type, and object
    arrays of such numbers. Boolean, string and other data raise ``TypeError``; complex numbers, NaN or infinities
    raise ``ValueError``. ``keep_grad`` keeps
    a tensor's autograd graph (the conversion to float64 is differentiable); otherwise tensors are detached.
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise ValueError(f"{name} must hold real numbers: Complex data not supported (got dtype {x.dtype})")
        if x.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {x.dtype}")
        t = x if keep_grad else x.detach()
        t = t.to(device=device if device is not None else t.device, dtype=DTYPE)
    else:
        if hasattr(x, "tocsr") or type(x).__module__.startswith("scipy.sparse"):
            raise TypeError(f"{name}: sparse input is not supported; pass a dense array (e.g. X.toarray())")
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a tensor or an array of real numbers, got {type(x).__name__}") from exc
        if np.iscomplexobj(arr):
            raise ValueError(f"{name} must hold real numbers: Complex data not supported (got dtype {arr.dtype})")
        if arr.dtype == object:  # e.g. a list mixing Python and NumPy numbers; strings and the like fail here
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must hold real numbers, got an object array that is not numeric ({exc})"
                                ) from exc
        if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer)
                                         or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        t = torch.as_tensor(np.array(arr, dtype=np.float64, copy=True), device=device)
    check_finite(t, name)
    return t


def as_points(x: Any, name: str, device: torch.device | None = None, *, n_features: int | None = None
              ) -> torch.Tensor:
    """Inputs of shape ``(n, d)`` with ``n >= 1`` (and ``d == n_features`` when given), float64."""
    t = as_float64(x, name, device)
    if t.ndim != 2 or t.shape[0] < 1 or t.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features) with at least one row and "
                         f"one column, got shape {tuple(t.shape)}")
    if n_features is not None and t.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (columns), got {t.shape[1]}")
    return t


def as_targets(y: Any, name: str, n: int, device: torch.device | None = None) -> torch.Tensor:
    """Real targets of shape ``(n,)`` or ``(n, k)`` with ``k >= 1``, float64."""
    t = as_float64(y, name, device)
    if t.ndim not in (1, 2) or t.shape[0] != n or (t.ndim == 2 and t.shape[1] < 1):
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k) (one row per sample), got {tuple(t.shape)}")
    return t


def as_matrix(x: Any, name: str, device: torch.device | None = None, *, what: str, reshape: str) -> torch.Tensor:
    """A non-empty 2-D float64 array, refused in the words scikit-learn's estimator checks look for."""
    t = as_float64(x, name, device)
    shape = tuple(t.shape)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D {what}, got shape {shape}. Reshape your data: {reshape}")
    if t.shape[0] < 1 or t.shape[1] < 1:
        raise ValueError(f"{name} has {t.shape[1]} feature(s) (shape={shape}) while a minimum of 1 is required: it "
                         f"must be a non-empty {what}")
    return t


def as_kernel_matrix(K: Any, name: str, device: torch.device | None = None, *, n_rows: int | None = None,
                     n_cols: int | None = None, square: bool = False) -> torch.Tensor:
    """A 2-D float64 Gram matrix, optionally square or of a given number of rows or columns."""
    t = as_matrix(K, name, device, what="Gram matrix", reshape="a single row is K.reshape(1, -1)")
    shape = tuple(t.shape)
    if square and t.shape[0] != t.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) Gram matrix, got shape {shape}")
    if n_rows is not None and t.shape[0] != n_rows:
        raise ValueError(f"{name} must have {n_rows} rows, got shape {shape}")
    if n_cols is not None and t.shape[1] != n_cols:
        raise ValueError(f"{name} has {t.shape[1]} features, but it is expecting {n_cols} features as "
                         f"input: the cross Gram matrix of shape (m, n_train={n_cols}), one column per training "
                         "point")
    return t


def as_rho(rho: Any, name: str, device: torch.device | None = None, *, keep_grad: bool = False) -> torch.Tensor:
    """Correlations in :math:`[-1, 1]` (any shape); values within rounding (``1e-9``) outside are clamped."""
    t = as_float64(rho, name, device, keep_grad=keep_grad)
    if t.numel():
        top = float(t.detach().abs().max())
        if top > 1.0 + RHO_TOLERANCE:
            raise ValueError(f"{name} must lie in [-1, 1] (a cosine of an angle), got values up to {top}")
    return t.clamp(-1.0, 1.0)


def check_fitted(estimator: Any, attribute: str) -> None:
    """scikit-learn's check: ``NotFittedError`` (a ``ValueError``) unless ``fit`` has set ``attribute``."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, attribute)


def _is_transformed(x: torch.Tensor) -> bool:
    """Whether ``x`` is wrapped by a ``torch.func`` transform (vmap/grad), where data-dependent checks are illegal."""
    check = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return bool(check(x)) if check is not None else False


def as_module_input(x: Any, name: str, in_dim: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The input batch of one of the package's networks: a real tensor ``(n, in_dim)``, cast to the network.

    Networks are ``torch.nn.Module`` objects and take tensors only (``TypeError`` otherwise); integer tensors are
    cast, complex and boolean ones refused. Inside ``torch.func`` transforms the finiteness check is skipped.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, {in_dim}), got {type(x).__name__}")
    if x.is_complex():
        raise ValueError(f"{name} must hold real numbers: Complex data not supported (got dtype {x.dtype})")
    if x.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] != in_dim or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, in_dim) = (n, {in_dim}) with n >= 1, got {tuple(x.shape)}")
    x = x.to(dtype=dtype, device=device)
    if not _is_transformed(x):
        check_finite(x, name)
    return x


def as_batch(x: Any, name: str) -> torch.Tensor:
    """A batch for a generic model: a real tensor with a leading sample axis of length >= 1, finite.

    Arrays become tensors; the dtype is kept (a model may take integer inputs, and the caller casts floating inputs
    to the model's dtype).
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a tensor or an array, got {type(x).__name__}") from exc
    if x.is_complex():
        raise ValueError(f"{name} must hold real numbers: Complex data not supported (got dtype {x.dtype})")
    if x.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must have a leading sample axis with at least one sample, got shape {tuple(x.shape)}")
    check_finite(x, name)
    return x
