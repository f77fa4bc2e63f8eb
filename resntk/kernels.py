r"""Analytic residual kernels: the residual NNGP and NTK of the book's ResNet (Part II, "the residual NTK derived").

This module implements the reference note ``branch-scaling.md`` §3.1–§3.9 for the architecture of its §2.1,

.. math::

    x_0 = \tfrac{1}{\sqrt m} A x, \qquad
    x_\ell = x_{\ell-1} + \tfrac{\alpha}{\sqrt m} V_\ell\, \sigma\!\big(\sqrt{2/m}\, W_\ell x_{\ell-1}\big),
    \qquad f(x) = v^\top x_L ,

in the infinite-width limit :math:`m \to \infty` (NTK parameterisation, no bias, ReLU :math:`\sigma`).

What is in here, and the fidelity of each piece (the note's labels):

* :func:`kappa0`, :func:`kappa1` — the arc-cosine functions of §3.1 [derived; standard], differentiable in torch.
* :func:`residual_ntk` — the NNGP :math:`K_L` and the NTK :math:`\Theta_L` of a set of inputs, raw or normalised,
  for ``trained="hidden"`` (residual blocks only: the book's main convention, the one under which the minimax
  result holds, §2.3 [reconstructed]) or ``trained="all"`` (input and readout layers too). It runs the
  :math:`O(n^2)`-memory forward recursion of §3.6 [derived], tiled, or (``method="table"``) the 1-D table fast
  path of §3.7.
* :func:`residual_ntk_scalar` — the same kernels on the sphere as functions of :math:`\rho_0 = \langle x, x'\rangle`
  (the forward forms of §3.7 [derived]), vectorised over a tensor of :math:`\rho_0` and of :math:`\alpha`.
* :class:`ResidualKernelTable` — the fast path: the scalar form tabulated once on a graded grid in
  :math:`\theta = \arccos\rho_0` and interpolated by a cubic spline, usable as a callable kernel ``k(X1, X2)``.
* :func:`two_layer_ntk`, :func:`ode_kernel`, :func:`infinite_depth_ntk` — the infinite-depth limits of §3.8–§3.9
  [derived; the regime boundaries match the papers' abstracts].

Normalised variables
--------------------
Every kernel here is positively homogeneous of degree one in each argument (a bias-free ReLU network satisfies
:math:`f(cx) = c f(x)` for :math:`c > 0`; note §3.4), so

.. math::

    K_L(x, x') = (1+\alpha^2)^L \|x\|\|x'\|\, \rho_L(\rho_0), \qquad
    \Theta_L(x, x') = \Theta_L(\hat x, \hat x)\, \|x\|\|x'\|\, \Omega_L(\rho_0),

with :math:`\rho_0 = \langle x, x'\rangle / (\|x\|\|x'\|)`. The implementation runs the recursion of §3.6 in these
normalised variables (the forward forms of §3.7): it is the same recursion with the known scale factors taken out,
which costs fewer operations per layer, cannot overflow at any depth, and is well defined at :math:`\alpha = 0`.
The raw kernels are recovered by multiplying by the closed-form diagonals of §3.4. ``tests/test_kernels.py``
checks the result against an independent transcription of the note's raw NumPy recursion (§3.6) and of the
backward-sum form (§3.4).

Rounding near :math:`\rho = \pm 1` (note §7, pitfall 12)
--------------------------------------------------------
:math:`\sqrt{1-\rho^2}` turns an error of :math:`10^{-16}` in :math:`\rho` into :math:`1.5\times 10^{-8}`. The code
therefore (i) carries :math:`\delta_\ell = 1 - \rho_\ell` rather than :math:`\rho_\ell` through the layers, with
:math:`1-\kappa_1` evaluated without cancellation, so that deep kernels (where :math:`\rho_\ell \to 1`) keep full
relative accuracy in :math:`1 - \rho_\ell` (a float64 recursion in :math:`\rho` is off by :math:`2\times10^{-7}` at
:math:`L = 1000`, :math:`\alpha = 1`, :math:`\theta_0 = 10^{-5}`; this one agrees with a 40-digit reference to
:math:`10^{-15}`), (ii) takes angles as :math:`\operatorname{atan2}(\sqrt{(1-\rho)(1+\rho)}, \rho)`, (iii) keeps
:math:`\rho = 1` exactly 1 and gives exactly :math:`\kappa_0 = \kappa_1 = 0` at :math:`\rho = -1`, (iv) snaps an
input correlation within :math:`4 d \varepsilon` of :math:`\pm 1` (the rounding error of a length-:math:`d` dot
product of unit vectors) to :math:`\pm 1`, and (v) when ``x2`` is omitted, sets the diagonal to its closed form and
makes the matrix exactly symmetric.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import torch
from scipy.integrate import solve_ivp
from scipy.interpolate import CubicSpline

__all__ = [
    "ResidualKernel",
    "ResidualKernelTable",
    "TRAINED",
    "LIMIT_REGIMES",
    "kappa0",
    "kappa1",
    "two_layer_ntk",
    "residual_ntk",
    "residual_ntk_scalar",
    "ode_kernel",
    "infinite_depth_ntk",
]

TRAINED = ("hidden", "all")
"""The two training conventions: residual blocks only (note §2.3, the book's main one) or all layers."""

LIMIT_REGIMES = ("constant", "critical", "fast")
"""The infinite-depth regimes of note §3.8: constant (or slowly decaying) ``alpha``, ``alpha = c/sqrt(L)``,
and ``alpha = L**-gamma`` with ``gamma > 1/2``."""

_DTYPE = torch.float64
_EPS = float(np.finfo(np.float64).eps)
_PI = math.pi
# Values of rho farther than this outside [-1, 1] are rejected; closer ones are rounding and are clamped.
_RHO_TOLERANCE = 1e-9
# Largest raw scale factor accepted before the raw kernel would overflow float64.
_MAX_LOG_SCALE = 700.0
# Below this many entries per tensor the recursion runs on one CPU thread (see _serial_if_small).
_PARALLEL_MIN_NUMEL = 1 << 17


class ResidualKernel(NamedTuple):
    """The pair of kernels returned by this module (torch float64 tensors of the same shape).

    Attributes
    ----------
    nngp : torch.Tensor
        The NNGP kernel :math:`K_L` (the covariance of the network output at initialisation, and the NTK when only
        the readout :math:`v` is trained), or its normalised form :math:`\\rho_L`.
    ntk : torch.Tensor
        The neural tangent kernel :math:`\\Theta_L` for the chosen training convention, or its normalised form
        (:math:`\\Omega_L` for hidden layers, :math:`\\Omega^{\\rm all}_L` for all layers).
    """

    nngp: torch.Tensor
    ntk: torch.Tensor


# ----------------------------------------------------------------------------------------------------------------
# Validation helpers (the public surface rejects bad input with a message that names the argument)
# ----------------------------------------------------------------------------------------------------------------


def _check_depth(depth: object, *, minimum: int = 0) -> int:
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an integer number of residual blocks, got {type(depth).__name__}")
    depth = int(depth)
    if depth < minimum:
        raise ValueError(f"depth must be an integer >= {minimum}, got {depth}")
    return depth


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, torch.Tensor):
        if alpha.numel() != 1:
            raise ValueError(f"alpha must be a scalar here, got a tensor of shape {tuple(alpha.shape)}")
        alpha = alpha.item()
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0 (the branch scaling factor), got {alpha}")
    return alpha


def _check_trained(trained: object) -> str:
    if trained not in TRAINED:
        raise ValueError(f"trained must be one of {TRAINED}, got {trained!r}")
    return str(trained)


def _resolve_device(device: torch.device | str | None, *tensors: object) -> torch.device:
    if device is not None:
        return torch.device(device)
    for t in tensors:
        if isinstance(t, torch.Tensor):
            return t.device
    return torch.device("cpu")


def _as_float64(x: object, name: str, device: torch.device) -> torch.Tensor:
    """Convert a tensor, array or number to a float64 tensor on ``device``; reject non-numeric and non-finite."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # pragma: no cover - numpy converts almost anything
            raise TypeError(f"{name} must be a tensor or an array of real numbers") from exc
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise TypeError(f"{name} must be a tensor or an array of real numbers, got dtype {arr.dtype}")
        t = torch.from_numpy(np.array(arr, dtype=np.float64, copy=True))
    if t.is_complex():
        raise TypeError(f"{name} must be real, got a complex tensor")
    t = t.to(device=device, dtype=_DTYPE)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return t


def _as_points(x: object, name: str, device: torch.device) -> torch.Tensor:
    t = _as_float64(x, name, device)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {tuple(t.shape)}")
    if t.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {tuple(t.shape)}")
    return t


def _as_rho(rho: object, name: str, device: torch.device) -> torch.Tensor:
    """A tensor of correlations in [-1, 1]; values within rounding of the interval are clamped."""
    t = _as_float64(rho, name, device)
    if t.numel() and float(t.abs().max()) > 1.0 + _RHO_TOLERANCE:
        raise ValueError(f"{name} must lie in [-1, 1] (a cosine of an angle), got values up to {float(t.abs().max())}")
    return t.clamp(-1.0, 1.0)


@contextlib.contextmanager
def _serial_if_small(numel: int, device: torch.device) -> Iterator[None]:
    """Run CPU work on tensors of fewer than ``_PARALLEL_MIN_NUMEL`` entries on one thread.

    ATen's vectorised ``sqrt``/``acos`` split tensors of a few thousand entries across threads; on a loaded
    two-core machine every such call then waits milliseconds at the barrier (measured: 12 ms for a 20001-entry
    ``sqrt`` against 3 microseconds for a multiply). Small recursions are far faster serial. The previous thread
    count is restored on exit.
    """
    prev = torch.get_num_threads()
    if device.type != "cpu" or numel >= _PARALLEL_MIN_NUMEL or prev == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


# ----------------------------------------------------------------------------------------------------------------
# Arc-cosine functions (note §3.1)
# ----------------------------------------------------------------------------------------------------------------


def _angle(rho: torch.Tensor) -> torch.Tensor:
    r""":math:`\theta = \arccos\rho`, computed as :math:`\operatorname{atan2}(\sqrt{(1-\rho)(1+\rho)}, \rho)`.

    Same accuracy as ``torch.acos`` (relative :math:`3\times10^{-16}`, exact at :math:`\pm1`), and it avoids
    ``acos``'s multithreaded small-grain kernel, which stalls for milliseconds per call on a loaded two-core
    machine (measured: 9 ms for 2001 values, against 5 microseconds for ``atan2``).
    """
    return torch.atan2(torch.sqrt((1.0 - rho) * (1.0 + rho)), rho)


class _Kappa0(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u)
        # (pi - arccos u) / pi, written so that u = 1 gives exactly 1 and u = -1 exactly 0.
        return _angle(u).sub_(_PI).div_(-_PI)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (u,) = ctx.saved_tensors
        # kappa0'(u) = 1 / (pi sqrt(1 - u^2)): infinite at u = +-1, as it truly is (one-sided).
        return grad / (_PI * torch.sqrt((1.0 - u) * (1.0 + u)))


class _Kappa1(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u)
        s = torch.sqrt((1.0 - u) * (1.0 + u))
        k0 = torch.atan2(s, u).sub_(_PI).div_(-_PI)
        return torch.addcmul(s.div_(_PI), u, k0)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (u,) = ctx.saved_tensors
        # kappa1' = kappa0 exactly, finite on all of [-1, 1] (autograd through the formula would give inf - inf).
        return grad * _Kappa0.apply(u)


def kappa0(u: torch.Tensor | np.ndarray | float) -> torch.Tensor:
    r"""The arc-cosine function of degree 0 (note §3.1).

    .. math::

        \kappa_0(u) = \frac{1}{\pi}\big(\pi - \arccos u\big) = 2\,\mathbb E[\sigma'(z)\sigma'(z')],
        \qquad u \in [-1, 1],

    for standard Gaussians :math:`(z, z')` of correlation :math:`u` (the Gaussian identity of §3.1). It is
    :math:`\dot\Sigma_\ell` of the residual recursion.

    Parameters
    ----------
    u : tensor, array or float
        Correlations in :math:`[-1, 1]`; values within :math:`10^{-9}` outside (rounding) are clamped.

    Returns
    -------
    torch.Tensor
        Float64, same shape. Exact at the ends: :math:`\kappa_0(1) = 1`, :math:`\kappa_0(-1) = 0`. Differentiable:
        :math:`\kappa_0'(u) = 1/(\pi\sqrt{1-u^2})` (infinite at :math:`\pm 1`, as it truly is).

    Raises
    ------
    ValueError
        If ``u`` has NaN/inf entries or values outside :math:`[-1, 1]` beyond rounding.
    """
    t = _prepare_kappa_input(u)
    return _Kappa0.apply(t)


def kappa1(u: torch.Tensor | np.ndarray | float) -> torch.Tensor:
    r"""The arc-cosine function of degree 1 (note §3.1).

    .. math::

        \kappa_1(u) = \frac{1}{\pi}\Big(u\,(\pi - \arccos u) + \sqrt{1-u^2}\Big) = 2\,\mathbb E[\sigma(z)\sigma(z')],

    for standard Gaussians of correlation :math:`u`. It drives the residual NNGP map of §3.2.

    Returns
    -------
    torch.Tensor
        Float64, same shape; :math:`\kappa_1(1) = 1` and :math:`\kappa_1(-1) = 0` exactly. Its gradient is
        :math:`\kappa_1' = \kappa_0`, finite on all of :math:`[-1, 1]` (a custom autograd rule: differentiating the
        formula term by term would give :math:`\infty - \infty` at the ends). Double backward is supported.

    Raises
    ------
    ValueError
        If ``u`` has NaN/inf entries or values outside :math:`[-1, 1]` beyond rounding.
    """
    t = _prepare_kappa_input(u)
    return _Kappa1.apply(t)


def _prepare_kappa_input(u: object) -> torch.Tensor:
    if isinstance(u, torch.Tensor):
        if u.is_complex():
            raise TypeError("u must be real, got a complex tensor")
        t = u if u.dtype == _DTYPE else u.to(_DTYPE)  # keeps the autograd graph
        if not bool(torch.isfinite(t.detach()).all()):
            raise ValueError("u must contain only finite values (found NaN or inf)")
        if t.numel() and float(t.detach().abs().max()) > 1.0 + _RHO_TOLERANCE:
            raise ValueError(f"u must lie in [-1, 1], got values up to {float(t.detach().abs().max())}")
        return t.clamp(-1.0, 1.0)
    return _as_rho(u, "u", torch.device("cpu"))


def two_layer_ntk(rho: torch.Tensor | np.ndarray | float) -> torch.Tensor:
    r"""The NTK of a two-layer bias-free ReLU network on the sphere (note §3.7, §3.8).

    .. math::

        \Omega_\infty(\rho) = \tfrac12\big(\kappa_1(\rho) + \rho\,\kappa_0(\rho)\big).

    It is the normalised residual NTK at depth one (for every :math:`\alpha`), the :math:`\alpha \to 0` limit at
    fixed depth, and the infinite-depth limit for :math:`\alpha = L^{-\gamma}`, :math:`\gamma > 1/2`
    (Result F [derived]). Differentiable; float64; :math:`\Omega_\infty(1) = 1`, :math:`\Omega_\infty(0) = 1/(2\pi)`.
    """
    t = _prepare_kappa_input(rho) if isinstance(rho, torch.Tensor) else _as_rho(rho, "rho", torch.device("cpu"))
    return 0.5 * (_Kappa1.apply(t) + t * _Kappa0.apply(t))


# ----------------------------------------------------------------------------------------------------------------
# The forward recursion in normalised variables (note §3.6 with the scale of §3.7 factored out)
# ----------------------------------------------------------------------------------------------------------------


class _Buffers:
    """Work tensors for the in-place recursion, reused across tiles."""

    def __init__(self, numel: int, device: torch.device) -> None:
        self.storage = [torch.empty(numel, dtype=_DTYPE, device=device) for _ in range(5)]

    def views(self, shape: tuple[int, ...]) -> list[torch.Tensor]:
        n = math.prod(shape)
        return [b[:n].view(shape) for b in self.storage]


def _recursion_(delta: torch.Tensor, vt: torch.Tensor, depth: int, a2: float, hidden: bool, buf: _Buffers) -> None:
    r"""Run ``depth`` layers of the normalised forward recursion in place (float ``a2``; the fast path).

    The state is :math:`\delta_\ell = 1 - \rho_\ell` (not :math:`\rho_\ell`) and :math:`\vartheta_\ell` of note §3.7:

    .. math::

        \delta_\ell = \frac{\delta_{\ell-1} + \alpha^2\big(1 - \kappa_1(\rho_{\ell-1})\big)}{1+\alpha^2},
        \qquad
        \vartheta_\ell = \frac{\vartheta_{\ell-1}\big(1 + \alpha^2\kappa_0(\rho_{\ell-1})\big)
                              + c\,\big(\kappa_1(\rho_{\ell-1}) + \rho_{\ell-1}\kappa_0(\rho_{\ell-1})\big)}{1+\alpha^2},

    with :math:`c = 1` for hidden layers (:math:`\tilde\vartheta`) and :math:`c = \alpha^2` for all layers; on entry
    ``delta`` holds :math:`1-\rho_0` and ``vt`` holds :math:`\vartheta_0` (0, or :math:`\rho_0` for all layers).

    Why :math:`\delta`: with :math:`\rho_\ell \to 1` (deep kernels), a float :math:`\rho_\ell` keeps
    :math:`1-\rho_\ell` only to :math:`10^{-16}` absolute, and the error compounds over the layers (measured
    :math:`2\times10^{-7}` in :math:`\Omega_{1000}` at :math:`\alpha=1`, :math:`\theta_0 = 1.35\times10^{-5}`, against
    a 40-digit reference). Here :math:`\delta` keeps its relative accuracy: :math:`\theta = \operatorname{atan2}(\sin\theta,
    \rho)` with :math:`\sin\theta = \sqrt{\delta(2-\delta)}` is accurate relative to :math:`\theta`, and

    .. math::

        1 - \kappa_1(\rho) = \kappa_0(\rho)\,\delta + \frac{\theta - \sin\theta}{\pi}

    has no cancellation at :math:`\theta \to 0` (:math:`\theta - \sin\theta \approx \theta^3/6` is a small
    correction to :math:`\kappa_0\delta \approx \theta^2/2`). :math:`\rho = 1` (:math:`\delta = 0`) stays exact, and
    :math:`\rho = -1` gives exactly :math:`\kappa_0 = \kappa_1 = 0`. 22 passes over memory per layer (about
    8 ns per entry per layer on two cores in cache-sized tiles; ``benchmarks/kernels.py``).
    """
    k0, k1, s, t, rho = buf.views(tuple(delta.shape))
    c = 1.0 if hidden else a2
    denom = 1.0 + a2
    for _ in range(depth):
        torch.neg(delta, out=rho).add_(1.0)  # rho = 1 - delta
        torch.neg(delta, out=t).add_(2.0)  # 1 + rho
        torch.mul(delta, t, out=s).sqrt_()  # sin(theta) = sqrt((1 - rho)(1 + rho))
        torch.atan2(s, rho, out=t)  # theta
        torch.sub(t, _PI, out=k0).div_(-_PI)  # kappa0 = 1 - theta/pi
        t.sub_(s)  # theta - sin(theta)
        torch.addcmul(t, k0, delta, value=_PI, out=k1).div_(_PI)  # 1 - kappa1
        delta.add_(k1, alpha=a2).div_(denom)
        # (kappa1 + rho kappa0) = 2 rho kappa0 + sin(theta)/pi ; then the NTK update
        torch.mul(rho, k0, out=t)
        torch.add(t, s, alpha=1.0 / _PI, out=k1)  # kappa1
        vt.addcmul_(vt, k0, value=a2)
        vt.add_(k1, alpha=c).add_(t, alpha=c).div_(denom)


def _recursion_broadcast_(delta: torch.Tensor, vt: torch.Tensor, depth: int, a2: torch.Tensor, hidden: bool) -> None:
    """The same recursion with a tensor ``a2`` broadcast against ``delta`` (the vectorised scalar form)."""
    c = torch.ones_like(a2) if hidden else a2
    denom = 1.0 + a2
    k0, k1, s, t, rho = (torch.empty_like(delta) for _ in range(5))
    for _ in range(depth):
        torch.neg(delta, out=rho).add_(1.0)
        torch.neg(delta, out=t).add_(2.0)
        torch.mul(delta, t, out=s).sqrt_()
        torch.atan2(s, rho, out=t)
        torch.sub(t, _PI, out=k0).div_(-_PI)
        t.sub_(s)
        torch.addcmul(t, k0, delta, value=_PI, out=k1).div_(_PI)
        delta.addcmul_(k1, a2).div_(denom)
        torch.mul(rho, k0, out=t)
        torch.add(t, s, alpha=1.0 / _PI, out=k1)
        torch.mul(vt, k0, out=s)
        vt.addcmul_(s, a2).addcmul_(k1, c).addcmul_(t, c).div_(denom)


def _ntk_denominator(depth: int, a2: float | torch.Tensor, hidden: bool) -> float | torch.Tensor:
    """The factor that turns the recursion state into the normalised NTK (note §3.7)."""
    if hidden:
        return 2.0 * depth / (1.0 + a2)
    return 2.0 + 2.0 * depth * a2 / (1.0 + a2)


def _normalised_from_state_(delta: torch.Tensor, vt: torch.Tensor, depth: int, a2: float, hidden: bool) -> None:
    """Turn (delta_L, vartheta_L) into (rho_L, Omega_L) in place."""
    delta.neg_().add_(1.0)  # rho_L
    if hidden:
        if depth == 0:
            vt.zero_()  # no hidden layer: the raw kernel is 0 and the normalised one is undefined (never returned)
        else:
            vt.div_(_ntk_denominator(depth, a2, True))
    else:
        vt.add_(delta).div_(_ntk_denominator(depth, a2, False))


def _init_state(delta0: torch.Tensor, hidden: bool) -> torch.Tensor:
    """vartheta_0: 0 for hidden layers, rho_0 = 1 - delta_0 for all layers."""
    return torch.zeros_like(delta0) if hidden else delta0.neg().add_(1.0)


def _scalar_forward(delta0: torch.Tensor, depth: int, a2: float, hidden: bool) -> ResidualKernel:
    """Normalised (rho_L, Omega_L) from a 1-D tensor of ``delta0 = 1 - rho0``, float ``a2`` (used by the tables)."""
    delta = delta0.clone()
    vt = _init_state(delta0, hidden)
    buf = _Buffers(delta.numel(), delta.device)
    with _serial_if_small(delta.numel(), delta.device):
        _recursion_(delta, vt, depth, a2, hidden, buf)
    _normalised_from_state_(delta, vt, depth, a2, hidden)
    return ResidualKernel(delta, vt)


def residual_ntk_scalar(
    rho: torch.Tensor | np.ndarray | float,
    depth: int,
    alpha: float | torch.Tensor | np.ndarray,
    trained: str = "hidden",
    *,
    device: torch.device | str | None = None,
) -> ResidualKernel:
    r"""The normalised residual NNGP and NTK on the sphere as functions of :math:`\rho_0` (note §3.7 [derived]).

    With :math:`\rho_0 = \langle x, x'\rangle` for unit vectors, the NNGP correlation follows the map of §3.2 and the
    NTK the forward forms of §3.7 (:math:`O(1)` memory per value, well defined at :math:`\alpha = 0`):

    .. math::

        \rho_\ell = \frac{\rho_{\ell-1} + \alpha^2\kappa_1(\rho_{\ell-1})}{1+\alpha^2}, \qquad
        \tilde\vartheta_\ell = \tilde\vartheta_{\ell-1}\frac{1+\alpha^2\kappa_0(\rho_{\ell-1})}{1+\alpha^2}
            + \frac{\kappa_1(\rho_{\ell-1}) + \rho_{\ell-1}\kappa_0(\rho_{\ell-1})}{1+\alpha^2},
        \qquad \Omega_L = \frac{(1+\alpha^2)\,\tilde\vartheta_L}{2L},

    and for all layers (starting from :math:`\vartheta_0 = \rho_0`, the bracket multiplied by :math:`\alpha^2`)

    .. math::

        \Omega^{\rm all}_L = \frac{\rho_L + \vartheta_L}{2 + 2L\alpha^2/(1+\alpha^2)} .

    Parameters
    ----------
    rho : tensor, array or float
        Correlations :math:`\rho_0 \in [-1, 1]` (any shape).
    depth : int
        Number of residual blocks :math:`L \ge 1` for ``trained="hidden"`` (:math:`\ge 0` for ``"all"``).
    alpha : float or tensor/array
        Branch scaling :math:`\alpha \ge 0`; a tensor is broadcast against ``rho`` (to evaluate several
        :math:`\alpha` at one depth in one pass), e.g. ``alpha`` of shape ``(k, 1)`` with ``rho`` of shape ``(m,)``.
    trained : {"hidden", "all"}
        Training convention (note §2.3).
    device : optional
        Where to compute (default: the device of ``rho`` if it is a tensor, else CPU).

    Returns
    -------
    ResidualKernel
        ``nngp`` = :math:`\rho_L`, ``ntk`` = :math:`\Omega_L` (hidden) or :math:`\Omega^{\rm all}_L` (all), float64,
        of the broadcast shape. Both equal 1 at :math:`\rho_0 = 1`. At :math:`\alpha = 0` the hidden kernel is its
        :math:`\alpha \to 0` limit, the two-layer NTK.
    """
    trained = _check_trained(trained)
    hidden = trained == "hidden"
    depth = _check_depth(depth, minimum=1 if hidden else 0)
    dev = _resolve_device(device, rho, alpha)
    r0 = _as_rho(rho, "rho", dev)
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        a = _check_alpha(alpha)
        flat = r0.reshape(-1).neg().add_(1.0)  # delta_0 = 1 - rho_0, exact for rho_0 >= 1/2 (Sterbenz)
        out = _scalar_forward(flat, depth, a * a, hidden)
        return ResidualKernel(out.nngp.view(r0.shape), out.ntk.view(r0.shape))
    a_t = _as_float64(alpha, "alpha", dev)
    if a_t.numel() and float(a_t.min()) < 0:
        raise ValueError(f"alpha must be >= 0 (the branch scaling factor), got a minimum of {float(a_t.min())}")
    try:
        shape = torch.broadcast_shapes(r0.shape, a_t.shape)
    except RuntimeError as exc:
        raise ValueError(f"alpha of shape {tuple(a_t.shape)} does not broadcast against rho {tuple(r0.shape)}") from exc
    a2 = (a_t * a_t).expand(shape).contiguous()
    delta = r0.expand(shape).neg().add_(1.0).contiguous()
    vt = _init_state(delta, hidden)
    with _serial_if_small(delta.numel(), delta.device):
        _recursion_broadcast_(delta, vt, depth, a2, hidden)
    r = delta.neg_().add_(1.0)
    vt = vt.div_(_ntk_denominator(depth, a2, True)) if hidden else vt.add_(r).div_(_ntk_denominator(depth, a2, False))
    return ResidualKernel(r, vt)


# ----------------------------------------------------------------------------------------------------------------
# Gram matrices: tiling, scaling, symmetry
# ----------------------------------------------------------------------------------------------------------------


def _raw_factors(depth: int, a2: float, trained: str) -> tuple[float, float]:
    r"""Closed-form diagonals on the unit sphere (note §3.4): :math:`K_L(x,x)` and :math:`\Theta_L(x,x)`.

    Raises ``ValueError`` if they overflow float64 (deep networks with :math:`\alpha` of order one).
    """
    log_growth = depth * math.log1p(a2)
    if log_growth > _MAX_LOG_SCALE:
        raise ValueError(
            f"the raw kernels overflow float64 at depth={depth}, alpha={math.sqrt(a2):g} "
            f"((1 + alpha^2)^depth = e^{log_growth:.0f}); use normalize=True"
        )
    growth = (1.0 + a2) ** depth
    hid = 2.0 * depth * a2 * (1.0 + a2) ** (depth - 1) if depth > 0 else 0.0
    return growth, (hid if trained == "hidden" else 2.0 * growth + hid)


def _unit_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    norms = torch.linalg.vector_norm(x, dim=1)
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    return x / safe[:, None], norms


def _correlation_tile_(rho: torch.Tensor, u1: torch.Tensor, u2: torch.Tensor, snap: float) -> None:
    """rho0 = <u1, u2> clamped to [-1, 1], with values within ``snap`` of +-1 set to +-1 (pitfall 12)."""
    torch.matmul(u1, u2.T, out=rho)
    rho.clamp_(-1.0, 1.0)
    rho.masked_fill_(rho >= 1.0 - snap, 1.0)
    rho.masked_fill_(rho <= -1.0 + snap, -1.0)


TileFn = Callable[[torch.Tensor, torch.Tensor, _Buffers], None]


def _gram(
    x1: torch.Tensor,
    x2: torch.Tensor | None,
    tile_fn: TileFn,
    *,
    diag_normalised: tuple[float, float],
    raw: tuple[float, float] | None,
    block_size: int,
) -> ResidualKernel:
    """Shared driver of the direct and table paths.

    ``tile_fn(rho, out_ntk, buf)`` replaces a tile of input correlations ``rho`` by the normalised NNGP and writes
    the normalised NTK into ``out_ntk``. ``raw`` holds the diagonal factors (None for the normalised form).
    """
    device = x1.device
    symmetric = x2 is None
    u1, n1 = _unit_rows(x1)
    if symmetric:
        u2, n2 = u1, n1
    else:
        u2, n2 = _unit_rows(x2)
    if raw is None:
        zero1 = n1 == 0
        zero2 = n2 == 0
        if bool(zero1.any()) or bool(zero2.any()):
            name = "x1" if bool(zero1.any()) else "x2"
            raise ValueError(f"{name} has a row of zeros: the normalised (unit-diagonal) kernel is undefined there")
    d = x1.shape[1]
    snap = 4.0 * d * _EPS
    m1, m2 = x1.shape[0], u2.shape[0]
    # Plain torch.empty on purpose: a NumPy buffer (which asks for transparent huge pages) writes faster once the
    # kernel has huge pages free, but on a fragmented machine each first touch stalls in direct compaction (0.3-0.4 s
    # for a 4000 x 4000 output, measured in benchmarks/kernels.py); 4 KiB pages cost a steady ~30 ms.
    K = torch.empty((m1, m2), dtype=_DTYPE, device=device)
    Th = torch.empty((m1, m2), dtype=_DTYPE, device=device)
    b = block_size
    buf = _Buffers(b * b, device)
    tile_storage = [torch.empty(b * b, dtype=_DTYPE, device=device) for _ in range(2)]
    if raw is not None:
        r1k, r1t = n1 * raw[0], n1 * raw[1]
    for i0 in range(0, m1, b):
        i1 = min(i0 + b, m1)
        for j0 in range(i0 if symmetric else 0, m2, b):
            j1 = min(j0 + b, m2)
            shape = (i1 - i0, j1 - j0)
            n = shape[0] * shape[1]
            rho = tile_storage[0][:n].view(shape)
            ntk = tile_storage[1][:n].view(shape)
            _correlation_tile_(rho, u1[i0:i1], u2[j0:j1], snap)
            on_diagonal = symmetric and i0 == j0
            if on_diagonal:
                rho.fill_diagonal_(1.0)
            tile_fn(rho, ntk, buf)
            if raw is not None:
                rho.mul_(r1k[i0:i1, None]).mul_(n2[None, j0:j1])
                ntk.mul_(r1t[i0:i1, None]).mul_(n2[None, j0:j1])
            if on_diagonal:
                for src, dst in ((rho, K), (ntk, Th)):
                    upper = torch.triu(src)
                    dst[i0:i1, j0:j1] = upper + torch.triu(src, 1).T
            else:
                K[i0:i1, j0:j1] = rho
                Th[i0:i1, j0:j1] = ntk
                if symmetric:
                    K[j0:j1, i0:i1] = rho.T
                    Th[j0:j1, i0:i1] = ntk.T
    if symmetric:  # the diagonal in closed form (note §3.4)
        if raw is None:
            K.diagonal().fill_(diag_normalised[0])
            Th.diagonal().fill_(diag_normalised[1])
        else:
            sq = n1 * n1
            K.diagonal().copy_(sq * raw[0])
            Th.diagonal().copy_(sq * raw[1])
    return ResidualKernel(K, Th)


def _check_block_size(block_size: object) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral) or int(block_size) < 1:
        raise ValueError(f"block_size must be a positive integer (rows and columns per tile), got {block_size!r}")
    return int(block_size)


def residual_ntk(
    x1: torch.Tensor | np.ndarray,
    x2: torch.Tensor | np.ndarray | None = None,
    depth: int | None = None,
    alpha: float | None = None,
    trained: str = "hidden",
    normalize: bool = False,
    *,
    method: str = "direct",
    block_size: int = 512,
    device: torch.device | str | None = None,
) -> ResidualKernel:
    r"""Residual NNGP and NTK of the note's ResNet between two sets of inputs (note §3.2–§3.7 [derived]).

    Raw kernels (``normalize=False``), for inputs of any norm:

    .. math::

        K_\ell = K_{\ell-1} + \alpha^2\Sigma_\ell, \qquad
        \Theta_\ell = \Theta_{\ell-1}\big(1+\alpha^2\dot\Sigma_\ell\big) + \alpha^2\big(\Sigma_\ell + K_{\ell-1}\dot\Sigma_\ell\big),
        \qquad \Theta = \Theta_L + \mathbb 1[v\ \text{trained}]\,K_L ,

    with :math:`K_0 = \langle x, x'\rangle`, :math:`\Theta_0 = \mathbb 1[A\ \text{trained}]\,K_0`,
    :math:`\Sigma_\ell = \sqrt{K^{xx}_{\ell-1}K^{x'x'}_{\ell-1}}\,\kappa_1(\rho_{\ell-1})` and
    :math:`\dot\Sigma_\ell = \kappa_0(\rho_{\ell-1})` (the forward recursion of §3.6). Diagonals (§3.4):
    :math:`K_L(x,x) = (1+\alpha^2)^L\|x\|^2`, :math:`\Theta^{\rm hid}_L(x,x) = 2L\alpha^2(1+\alpha^2)^{L-1}\|x\|^2`
    (24 at :math:`L=3, \alpha=1`; 37.2529 at :math:`L=10, \alpha=\tfrac12`) and
    :math:`\Theta^{\rm all}_L(x,x) = [2(1+\alpha^2)^L + 2L\alpha^2(1+\alpha^2)^{L-1}]\|x\|^2`.

    Normalised kernels (``normalize=True``) are the unit-diagonal forms of §3.5, functions of the directions only:

    .. math::

        \text{nngp} = \rho_L(\rho_0) = \frac{K_L(x,x')}{\sqrt{K_L(x,x)K_L(x',x')}},\qquad
        \text{ntk} = \frac{\Theta_L(x,x')}{\sqrt{\Theta_L(x,x)\Theta_L(x',x')}}
        = \begin{cases}\Omega_L(\rho_0) = \Theta^{\rm hid}_L/\big(2L\alpha^2(1+\alpha^2)^{L-1}\|x\|\|x'\|\big) & \text{hidden}\\
                       \Omega^{\rm all}_L(\rho_0) & \text{all.}\end{cases}

    At :math:`\alpha = 0` the raw hidden-layer NTK is 0 (the residual branches are switched off); the normalised one
    is then its :math:`\alpha \to 0` limit, the two-layer NTK :math:`\tfrac12(\kappa_1 + \rho_0\kappa_0)` (§3.4, small
    :math:`\alpha`), which the forward form of §3.7 computes directly.

    Parameters
    ----------
    x1 : tensor or array, shape (n1, d)
        Inputs (any norm; rows of zeros give zero raw kernel rows).
    x2 : tensor or array, shape (n2, d), optional
        Second set of inputs. ``None`` means ``x1`` itself; the result is then exactly symmetric, with the diagonal
        set to its closed form, and only the upper triangle of tiles is computed (half the work).
    depth : int
        Number of residual blocks :math:`L \ge 0` (``depth=0``: the input layer only; the hidden-layer NTK is then 0
        and has no normalised form).
    alpha : float
        Branch scaling :math:`\alpha \ge 0`.
    trained : {"hidden", "all"}
        ``"hidden"``: the residual blocks :math:`W_\ell, V_\ell` only (note §2.3, the book's main convention and the
        one of the minimax result); ``"all"``: also the input layer :math:`A` and the readout :math:`v`.
    normalize : bool
        Return the unit-diagonal forms above instead of the raw kernels.
    method : {"direct", "table"}
        ``"direct"``: the recursion, :math:`O(L)` work per entry, tiled so that the memory is the two outputs plus
        a few ``block_size**2`` work tensors (``n = 20000`` fits). ``"table"``: :class:`ResidualKernelTable`, the
        1-D fast path (:math:`O(1)` work per entry after a one-off tabulation; error below :math:`10^{-10}` on the
        normalised kernels, times the raw diagonal factor for the raw ones).
    block_size : int
        Rows and columns per tile (default 512: two-megabyte work tensors that stay in cache; measured fastest on two
        cores, about 8 ns per entry per layer).
    device : optional
        Where to compute; default the device of ``x1`` (CPU for arrays). The outputs live there.

    Returns
    -------
    ResidualKernel
        ``(nngp, ntk)``, float64 tensors of shape ``(n1, n2)``.

    Raises
    ------
    ValueError
        Negative depth, negative or non-finite ``alpha``, NaN/inf inputs, mismatched feature dimensions, an unknown
        ``trained``/``method``, ``normalize=True`` with a zero input or with ``depth=0`` and ``trained="hidden"``, or
        raw kernels that overflow float64 (use ``normalize=True``).
    TypeError
        Missing ``depth``/``alpha`` or arguments of the wrong type.

    Notes
    -----
    The recursion runs in the normalised variables of §3.7 and multiplies by the closed-form diagonals and the input
    norms at the end (positive homogeneity, §3.4), which is algebraically identical to §3.6 and is checked against
    it in the tests. Not differentiable (in-place updates); use :func:`residual_ntk_scalar` inside autograd code.
    """
    if depth is None or alpha is None:
        raise TypeError("residual_ntk() needs depth and alpha (e.g. residual_ntk(x, depth=10, alpha=0.5))")
    trained = _check_trained(trained)
    hidden = trained == "hidden"
    depth = _check_depth(depth)
    a = _check_alpha(alpha)
    a2 = a * a
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False, got {type(normalize).__name__}")
    if method not in ("direct", "table"):
        raise ValueError(f"method must be 'direct' or 'table', got {method!r}")
    block_size = _check_block_size(block_size)
    dev = _resolve_device(device, x1, x2)
    X1 = _as_points(x1, "x1", dev)
    X2 = None if x2 is None else _as_points(x2, "x2", dev)
    if X2 is not None and X2.shape[1] != X1.shape[1]:
        raise ValueError(f"x2 must have the same number of features as x1 ({X1.shape[1]}), got {X2.shape[1]}")
    if normalize and hidden and depth == 0:
        raise ValueError("depth must be >= 1 for normalize=True with trained='hidden' (no hidden layer to normalise)")
    raw = None if normalize else _raw_factors(depth, a2, trained)

    if method == "table":
        table = ResidualKernelTable(depth, a, trained, device=dev)
        tile_fn = table._tile_fn()
    else:

        def tile_fn(rho: torch.Tensor, ntk: torch.Tensor, buf: _Buffers) -> None:
            if hidden:
                ntk.zero_()
            else:
                ntk.copy_(rho)
            delta = rho.neg_().add_(1.0)  # the state is 1 - rho, in place
            _recursion_(delta, ntk, depth, a2, hidden, buf)
            _normalised_from_state_(delta, ntk, depth, a2, hidden)

    tile_numel = min(block_size, X1.shape[0]) * min(block_size, X1.shape[0] if X2 is None else X2.shape[0])
    with torch.no_grad(), _serial_if_small(tile_numel, dev):
        return _gram(X1, X2, tile_fn, diag_normalised=(1.0, 1.0), raw=raw, block_size=block_size)


# ----------------------------------------------------------------------------------------------------------------
# The 1-D table fast path (note §3.7, pitfall 13)
# ----------------------------------------------------------------------------------------------------------------


class _ThetaSpline:
    r"""Cubic-spline interpolant of functions of :math:`\theta = \arccos\rho \in [0, \pi]` on a doubly graded grid.

    With :math:`u = \theta/\pi`, the grid is uniform, with ``m`` intervals, on each octave
    :math:`u \in [2^{-j-1}, 2^{-j}]` (:math:`j = 1, \dots, J-1`) and on :math:`[0, 2^{-J}]`, and mirrored on
    :math:`[\tfrac12, 1]` (:math:`1-u` in the same octaves). The spacing therefore shrinks towards both ends, where
    residual kernels vary fastest: near :math:`\theta = 0` on the scale :math:`\approx 6\pi(1+\alpha^2)/(L\alpha^2)`
    (deep kernels, §3.10), near :math:`\theta = \pi` on the scale :math:`\approx \alpha` (the :math:`\sqrt{1+\rho}`
    cusp behind the sup-norm rate of Result F). Locating the interval of a query reads it off the float64 bits (a
    shift and a subtraction), no search.

    ``fn`` maps a 1-D float64 tensor of angles to a ``(k, n)`` tensor of ``k`` functions, evaluated at the knots
    themselves (no rounding through :math:`\cos`). ``m`` doubles from ``m_start`` until the largest error at the
    midpoints of all intervals is at most ``tol`` (or ``m_max``; then a ``RuntimeWarning`` gives the error reached).
    """

    def __init__(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        *,
        tol: float,
        device: torch.device,
        octaves: int = 16,
        m_start: int = 16,
        m_max: int = 512,
    ) -> None:
        if m_start < 1 or m_start & (m_start - 1):
            raise ValueError(f"m_start must be a power of two, got {m_start}")
        self.octaves = octaves
        self.device = device
        m = m_start
        nominal = self._nominal_knots(m)
        theta_k = torch.as_tensor(nominal * _PI, dtype=_DTYPE, device=device)
        theta_m = torch.as_tensor(0.5 * (nominal[:-1] + nominal[1:]) * _PI, dtype=_DTYPE, device=device)
        both = fn(torch.cat([theta_k, theta_m]))  # knots and midpoints in one call: fn's cost is mostly per call
        values, values_m = both[:, : theta_k.numel()], both[:, theta_k.numel():]
        while True:
            self._fit(theta_k, values, m)
            err = float((self.evaluate_theta(theta_m) - values_m).abs().max())
            self.error_estimate = err
            if err <= tol or 2 * m > m_max:
                break
            # The knots at 2m are the knots at m interleaved with their midpoints: reuse both evaluations.
            m *= 2
            nominal = self._nominal_knots(m)
            theta_k = torch.as_tensor(nominal * _PI, dtype=_DTYPE, device=device)
            merged = torch.empty((values.shape[0], 2 * values.shape[1] - 1), dtype=_DTYPE, device=device)
            merged[:, 0::2] = values
            merged[:, 1::2] = values_m
            values = merged
            theta_m = torch.as_tensor(0.5 * (nominal[:-1] + nominal[1:]) * _PI, dtype=_DTYPE, device=device)
            values_m = fn(theta_m)
        if err > tol:
            warnings.warn(
                f"kernel table reached a midpoint error of {err:.2e} > tol={tol:.1e} with {self.n_knots} knots",
                RuntimeWarning,
                stacklevel=3,
            )

    def _nominal_knots(self, m: int) -> np.ndarray:
        J = self.octaves
        lower = [np.arange(m) / m * 2.0**-J]
        for j in range(J - 1, 0, -1):
            lower.append(2.0 ** (-j - 1) * (1.0 + np.arange(m) / m))
        low = np.concatenate(lower)  # [0, 1/2), exact binary fractions
        return np.concatenate([low, [0.5], 1.0 - low[::-1]])  # theta / pi, ascending, 2 J m intervals

    def _fit(self, theta: torch.Tensor, values: torch.Tensor, m: int) -> None:
        th = theta.cpu().numpy()
        spline = CubicSpline(th, values.cpu().numpy().T, axis=0, bc_type="not-a-knot")
        c = spline.c  # shape (4, n_intervals, k): highest power first
        self.m = m
        self.n_intervals = c.shape[1]
        self.n_knots = self.n_intervals + 1
        self.k = c.shape[2]
        self.left = torch.as_tensor(th[:-1], dtype=_DTYPE, device=self.device)
        # coef[q][p]: the coefficient of (theta - left)^p for function q, each a contiguous 1-D table for take().
        self.coef = [
            [torch.as_tensor(np.ascontiguousarray(c[3 - p, :, q]), dtype=_DTYPE, device=self.device) for p in range(4)]
            for q in range(self.k)
        ]

    def _locate(self, theta: torch.Tensor) -> torch.Tensor:
        """Interval index of each angle, read off the bits of :math:`v = \\min(u, 1-u)`.

        For :math:`v = (1+f)\\,2^{E-1023} \\in [2^{-J}, \\tfrac12)` (biased exponent :math:`E`, mantissa
        fraction :math:`f`) the octave is number :math:`E - 1022 + J` (the uniform stretch :math:`[0, 2^{-J})` being
        number 0) and, ``m`` being a power of two :math:`2^s`, the interval inside it is given by the top :math:`s`
        bits of :math:`f`: both are in the float64 bit pattern shifted right by :math:`52 - s`, so the index is
        one shift and one subtraction, with no rounding. The bottom stretch is indexed directly.
        """
        J, m = self.octaves, self.m
        shift = 52 - (m.bit_length() - 1)
        u = theta * (1.0 / _PI)
        # distance to the nearer end, in [0, 1/2]: u itself below 1/2, and 1 - u (exact, Sterbenz) above
        v = torch.minimum(u, 1.0 - u)
        idx = v.view(torch.int64) >> shift  # E * m + top bits of f (v >= 0: the sign bit is clear)
        idx.sub_((1022 - J) * m)  # = (expo + J) m + floor(f m) with frexp's expo = E - 1022
        # the uniform bottom stretch: there floor(v 2^J m) < m exceeds the octave formula, elsewhere it is >= m and
        # never exceeds it, so the maximum with the clamped direct index picks the right one (no select pass)
        low = (v * (2.0**J * m)).to(torch.int64).clamp_(max=m - 1)  # trunc = floor for v >= 0
        idx = torch.maximum(idx, low).clamp_(0, J * m - 1)
        # mirror the upper half: idx -> 2Jm - 1 - idx where u > 1/2, as integer arithmetic
        upper = (u > 0.5).to(torch.int64)
        return idx.mul_(1 - 2 * upper).add_(upper, alpha=2 * J * m - 1)

    def evaluate_theta(self, theta: torch.Tensor) -> torch.Tensor:
        """Interpolated values at angles ``theta``, shape ``(k, *theta.shape)``."""
        out = torch.empty((self.k, *theta.shape), dtype=_DTYPE, device=theta.device)
        self.evaluate_into(theta.clone(), list(out))
        return out

    def evaluate(self, rho: torch.Tensor) -> torch.Tensor:
        """Interpolated values at correlations ``rho``, shape ``(k, *rho.shape)``."""
        out = torch.empty((self.k, *rho.shape), dtype=_DTYPE, device=rho.device)
        self.evaluate_into(_angle(rho), list(out))
        return out

    def evaluate_into(self, theta: torch.Tensor, outs: list[torch.Tensor]) -> None:
        """Write the ``k`` interpolated functions at ``theta`` into ``outs``; ``theta`` is overwritten."""
        idx = self._locate(theta)
        x = theta.sub_(torch.take(self.left, idx))
        coefficient = torch.empty_like(x)
        for q, out in enumerate(outs):
            c = self.coef[q]
            torch.take(c[3], idx, out=out)
            for p in (2, 1, 0):  # Horner, one fused multiply-add pass per degree
                torch.take(c[p], idx, out=coefficient)
                torch.addcmul(coefficient, out, x, out=out)


class ResidualKernelTable:
    r"""The residual kernel on the sphere, tabulated once in :math:`\theta = \arccos\rho_0` (note §3.7, pitfall 13).

    The normalised kernels :math:`\rho_L(\rho_0)` and :math:`\Omega_L(\rho_0)` (or :math:`\Omega^{\rm all}_L`) are
    computed by the recursion of :func:`residual_ntk_scalar` on a grid of angles and interpolated by a cubic spline
    in :math:`\theta`. In :math:`\rho_0` the kernels have :math:`\sqrt{1-\rho_0^2}` cusps at :math:`\pm 1`; in
    :math:`\theta` they are smooth on :math:`[0, \pi]`, so the spline converges at fourth order.

    Error bound. For a function with a bounded fourth derivative a cubic spline on a grid of spacing :math:`h`
    satisfies :math:`\|f - s\|_\infty \le C h^4 \|f^{(4)}\|_\infty` (:math:`C = 5/384` for the clamped spline on a
    uniform grid, Hall & Meyer 1976; the not-a-knot spline used here has the same order). Locally the error in an
    interval is :math:`\approx f^{(4)}(\theta)(\theta - \theta_i)^2(\theta - \theta_{i+1})^2/24`, largest at the
    midpoint; the table therefore measures it a posteriori at the midpoints of **all** intervals against the direct
    recursion and doubles the resolution until it is at most ``tol`` (default :math:`10^{-10}`; the achieved value is
    ``error_estimate``). The grid is graded in octaves towards both ends: towards :math:`\theta = 0`, where a deep
    kernel with large :math:`L\alpha^2` varies on the scale :math:`6\pi(1+\alpha^2)/(L\alpha^2)` (§3.10), and
    towards :math:`\theta = \pi`, where small :math:`\alpha` leaves a feature of width :math:`\approx\alpha` (the
    :math:`\sqrt{1+\rho}` cusp of Result F). The tests check the fourth-order convergence and the agreement with
    the direct recursion (at most :math:`10^{-9}`, typically :math:`10^{-11}`) on random inputs, including angles
    down to :math:`10^{-7}` from either end.

    Near :math:`\rho_0 = 1` the float :math:`\rho_0` itself limits any method: for
    :math:`1 - \rho_0 \lesssim 10^{-12}` the angle is known only to about :math:`10^{-16}/\theta`, and table and
    recursion both inherit that uncertainty (pitfall 12).

    Parameters
    ----------
    depth, alpha, trained
        As in :func:`residual_ntk` (``depth >= 1`` for ``trained="hidden"``).
    kernel : {"ntk", "nngp"}
        What :meth:`__call__` returns.
    normalize : bool
        :meth:`__call__` returns the unit-diagonal kernel (default) or the raw one (times the closed-form diagonal
        and :math:`\|x\|\|x'\|`).
    tol : float
        Target for the largest interpolation error of the normalised kernels (default ``1e-10``).
    device : optional
        Where the table lives and is evaluated.

    Examples
    --------
    >>> k = ResidualKernelTable(depth=1000, alpha=1e-3)       # alpha = 1/L: close to the two-layer NTK
    >>> G = k(X_train, X_test)                                  # doctest: +SKIP
    """

    def __init__(
        self,
        depth: int,
        alpha: float,
        trained: str = "hidden",
        *,
        kernel: str = "ntk",
        normalize: bool = True,
        tol: float = 1e-10,
        device: torch.device | str | None = None,
        block_size: int = 512,
    ) -> None:
        self.trained = _check_trained(trained)
        self.hidden = self.trained == "hidden"
        self.depth = _check_depth(depth, minimum=1 if self.hidden else 0)
        self.alpha = _check_alpha(alpha)
        if kernel not in ("ntk", "nngp"):
            raise ValueError(f"kernel must be 'ntk' or 'nngp', got {kernel!r}")
        self.kernel = kernel
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be True or False, got {type(normalize).__name__}")
        self.normalize = normalize
        if not (isinstance(tol, numbers.Real) and math.isfinite(tol) and tol > 0):
            raise ValueError(f"tol must be a positive number, got {tol!r}")
        self.block_size = _check_block_size(block_size)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        a2 = self.alpha**2

        def fn(theta: torch.Tensor) -> torch.Tensor:
            delta0 = torch.sin(0.5 * theta).square_().mul_(2.0)  # 1 - cos(theta), to full relative accuracy
            out = _scalar_forward(delta0, self.depth, a2, self.hidden)
            return torch.stack([out.nngp, out.ntk])

        with torch.no_grad():
            # m_start = 64: deep tables need m = 64-128, and each call of fn costs the same up to a few thousand
            # angles (a depth-long loop of vectorised passes), so starting fine saves calls without cost
            self._spline = _ThetaSpline(fn, tol=float(tol), device=self.device, m_start=64)

    @property
    def error_estimate(self) -> float:
        """Largest measured interpolation error of the normalised kernels (at all interval midpoints)."""
        return self._spline.error_estimate

    @property
    def n_knots(self) -> int:
        """Number of tabulated angles."""
        return self._spline.n_knots

    def __repr__(self) -> str:
        return (
            f"ResidualKernelTable(depth={self.depth}, alpha={self.alpha:g}, trained={self.trained!r}, "
            f"kernel={self.kernel!r}, normalize={self.normalize}, n_knots={self.n_knots}, "
            f"error_estimate={self.error_estimate:.1e})"
        )

    def scalar(self, rho: torch.Tensor | np.ndarray | float) -> ResidualKernel:
        """Interpolated normalised ``(rho_L, Omega_L)`` at correlations ``rho`` (any shape)."""
        r = _as_rho(rho, "rho", self.device)
        with torch.no_grad(), _serial_if_small(r.numel(), self.device):
            vals = self._spline.evaluate(r)
        return ResidualKernel(vals[0], vals[1])

    def _tile_fn(self) -> TileFn:
        spline = self._spline

        def tile_fn(rho: torch.Tensor, ntk: torch.Tensor, buf: _Buffers) -> None:
            theta, s = buf.views(tuple(rho.shape))[:2]
            torch.neg(rho, out=theta).add_(1.0)
            torch.add(rho, 1.0, out=s)
            s.mul_(theta).sqrt_()
            torch.atan2(s, rho, out=theta)  # _angle(rho) without allocating
            spline.evaluate_into(theta, [rho, ntk])

        return tile_fn

    def gram(self, x1: torch.Tensor | np.ndarray, x2: torch.Tensor | np.ndarray | None = None) -> ResidualKernel:
        """Both kernels between ``x1`` and ``x2`` (as :func:`residual_ntk` with ``method="table"``)."""
        X1 = _as_points(x1, "x1", self.device)
        X2 = None if x2 is None else _as_points(x2, "x2", self.device)
        if X2 is not None and X2.shape[1] != X1.shape[1]:
            raise ValueError(f"x2 must have the same number of features as x1 ({X1.shape[1]}), got {X2.shape[1]}")
        raw = None if self.normalize else _raw_factors(self.depth, self.alpha**2, self.trained)
        b = self.block_size
        tile_numel = min(b, X1.shape[0]) * min(b, X1.shape[0] if X2 is None else X2.shape[0])
        with torch.no_grad(), _serial_if_small(tile_numel, self.device):
            return _gram(X1, X2, self._tile_fn(), diag_normalised=(1.0, 1.0), raw=raw, block_size=self.block_size)

    def __call__(self, x1: torch.Tensor | np.ndarray, x2: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """The chosen kernel (``kernel``, ``normalize``) between ``x1`` and ``x2``: a callable kernel ``k(X1, X2)``."""
        out = self.gram(x1, x2)
        return out.ntk if self.kernel == "ntk" else out.nngp


# ----------------------------------------------------------------------------------------------------------------
# Infinite-depth limits (note §3.8–§3.10)
# ----------------------------------------------------------------------------------------------------------------


def _np_kappas(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.clip(rho, -1.0, 1.0)
    k0 = (np.arccos(r) - _PI) / -_PI
    k1 = r * k0 + np.sqrt((1.0 - r) * (1.0 + r)) / _PI
    return k0, k1


def _ode_solve(rho0: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Integrate :math:`(\rho, J, E)` of the depth-time ODE from 0 to ``T`` for every :math:`\rho_0` (float64).

    .. math::

        \rho' = \kappa_1(\rho) - \rho,\qquad
        J' = -\big(1-\kappa_0(\rho)\big)J + \tfrac12\big(\kappa_1(\rho) + \rho\kappa_0(\rho)\big),\qquad
        E' = -\big(1-\kappa_0(\rho)\big)E,

    with :math:`J(0) = 0`, :math:`E(0) = 1`, so that :math:`E(T) = e^{-g(T)}` and
    :math:`J(T) = \int_0^T e^{-(g(T)-g(\tau))}\tfrac12(\kappa_1+\rho\kappa_0)\,d\tau = T\,\Omega^{(T)}_\infty`
    (the integral of §3.9 as one more ODE component, instead of a quadrature after the fact).
    """
    n = rho0.size

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        r, J, E = y[:n], y[n : 2 * n], y[2 * n :]
        k0, k1 = _np_kappas(r)
        decay = 1.0 - k0
        return np.concatenate([k1 - np.clip(r, -1.0, 1.0), -decay * J + 0.5 * (k1 + r * k0), -decay * E])

    y0 = np.concatenate([rho0, np.zeros(n), np.ones(n)])
    sol = solve_ivp(rhs, (0.0, T), y0, method="DOP853", rtol=1e-12, atol=1e-14)
    if not sol.success:  # pragma: no cover - DOP853 on this smooth bounded system does not fail
        raise RuntimeError(f"ODE kernel integration failed: {sol.message}")
    y = sol.y[:, -1]
    return np.clip(y[:n], -1.0, 1.0), y[n : 2 * n], y[2 * n :]


def _check_T(T: object) -> float:
    if isinstance(T, bool) or not isinstance(T, numbers.Real):
        raise TypeError(f"T must be a real number (the depth-time L * alpha**2), got {type(T).__name__}")
    T = float(T)
    if not math.isfinite(T) or T < 0:
        raise ValueError(f"T must be a finite number >= 0 (the depth-time L * alpha**2), got {T}")
    return T


def ode_kernel(
    rho: torch.Tensor | np.ndarray | float,
    T: float,
    trained: str = "hidden",
    *,
    device: torch.device | str | None = None,
) -> ResidualKernel:
    r"""The infinite-depth kernel at the critical scaling :math:`\alpha = c/\sqrt L`, depth-time :math:`T = c^2` (§3.9).

    .. math::

        \rho'(\tau) = \kappa_1(\rho) - \rho,\ \ \rho(0) = \rho_0,\qquad
        g(\tau) = \int_0^\tau \big(1 - \kappa_0(\rho(s))\big)ds,\qquad
        \Omega^{(T)}_\infty(\rho_0) = \frac1T\int_0^T e^{-(g(T)-g(\tau))}\,
            \frac{\kappa_1(\rho(\tau)) + \rho(\tau)\kappa_0(\rho(\tau))}{2}\,d\tau ,

    and for all layers :math:`(1+T)^{-1}\big[\tfrac12\rho(T) + \tfrac12 e^{-g(T)}\rho_0 + T\,\Omega^{(T)}_\infty\big]`
    [derived]. Integrated with scipy's ``solve_ivp`` (DOP853, ``rtol=1e-12``); for more than 4096 distinct
    :math:`\rho_0` the ODE is solved on the graded :math:`\theta`-grid of :class:`ResidualKernelTable` and
    interpolated (error below :math:`10^{-10}`). ``T = 0`` gives the limits :math:`T \to 0` (two-layer NTK, or
    :math:`\rho_0` for all layers and for the NNGP).

    Returns
    -------
    ResidualKernel
        ``nngp`` = :math:`\rho(T)` (the NNGP limit, Result J) and ``ntk`` = the normalised NTK limit.
    """
    trained = _check_trained(trained)
    T = _check_T(T)
    dev = _resolve_device(device, rho)
    r0 = _as_rho(rho, "rho", dev)

    def fn_np(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if T == 0.0:
            k0, k1 = _np_kappas(values)
            hid = 0.5 * (k1 + values * k0)
            return values.copy(), hid if trained == "hidden" else values.copy()
        rT, J, E = _ode_solve(values, T)
        omega = J / T
        if trained == "hidden":
            return rT, omega
        return rT, (0.5 * rT + 0.5 * E * values + T * omega) / (1.0 + T)

    flat = r0.reshape(-1).cpu().numpy()
    uniq, inverse = np.unique(flat, return_inverse=True)
    if uniq.size <= 4096:
        nngp, ntk = fn_np(uniq)
        out = [torch.as_tensor(v[inverse].reshape(r0.shape), dtype=_DTYPE, device=dev) for v in (nngp, ntk)]
        return ResidualKernel(*out)

    def fn(theta: torch.Tensor) -> torch.Tensor:
        a, b = fn_np(np.cos(theta.cpu().numpy()))
        return torch.as_tensor(np.stack([a, b]), dtype=_DTYPE, device=theta.device)

    spline = _ThetaSpline(fn, tol=1e-10, device=dev)
    vals = spline.evaluate(r0)
    return ResidualKernel(vals[0], vals[1])


def infinite_depth_ntk(
    rho: torch.Tensor | np.ndarray | float,
    regime: str,
    T: float | None = None,
    trained: str = "hidden",
    *,
    device: torch.device | str | None = None,
) -> ResidualKernel:
    r"""The normalised kernels as :math:`L \to \infty` in the regimes of note §3.8 [derived].

    - ``"constant"``: :math:`\alpha > 0` fixed, or :math:`\alpha = L^{-\gamma}` with :math:`\gamma < \tfrac12`.
      NTK limit (hidden and all layers alike): :math:`\tfrac14 + \tfrac34\mathbb 1\{x = x'\}`.
    - ``"critical"``: :math:`\alpha = c/\sqrt L`, ``T`` :math:`= c^2`. NTK limit (hidden):
      :math:`\Omega^{(T)}_\infty`; (all): :func:`ode_kernel`.
    - ``"fast"``: :math:`\alpha = L^{-\gamma}` with :math:`\gamma > \tfrac12`. NTK limit (hidden):
      :math:`\tfrac12(\kappa_1 + \rho_0\kappa_0)`; (all): :math:`\rho_0`.

    The NNGP limit (``nngp``, Result J) is 1 (a constant kernel without nugget), :math:`\rho(T)`, and
    :math:`\rho_0` respectively. "Constant" is Results D/E (degenerate: kernel regression then predicts a
    constant), "fast" is Result F (the paper's minimax setting [reconstructed]), "critical" is Result G.

    Parameters
    ----------
    rho : tensor, array or float
        Correlations :math:`\rho_0 \in [-1, 1]`. In the constant regime :math:`x = x'` means :math:`\rho_0 = 1`
        exactly (inputs on the sphere).
    regime : {"constant", "critical", "fast"}
    T : float
        Depth-time :math:`L\alpha^2 = c^2`; required for (and only for) ``regime="critical"``.
    trained : {"hidden", "all"}
    """
    trained = _check_trained(trained)
    if regime not in LIMIT_REGIMES:
        raise ValueError(f"regime must be one of {LIMIT_REGIMES}, got {regime!r}")
    if regime == "critical":
        if T is None:
            raise ValueError("T (the depth-time c**2 of alpha = c / sqrt(L)) is required for regime='critical'")
        return ode_kernel(rho, T, trained, device=device)
    if T is not None:
        raise ValueError(f"T is only used with regime='critical', got T={T!r} with regime={regime!r}")
    dev = _resolve_device(device, rho)
    r0 = _as_rho(rho, "rho", dev)
    if regime == "constant":
        ntk = torch.where(r0 == 1.0, torch.ones_like(r0), torch.full_like(r0, 0.25))
        return ResidualKernel(torch.ones_like(r0), ntk)
    ntk = two_layer_ntk(r0) if trained == "hidden" else r0.clone()
    return ResidualKernel(r0.clone(), ntk.detach())
