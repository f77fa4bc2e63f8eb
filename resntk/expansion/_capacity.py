r"""Capacity of the expanded class: the linearised Rademacher surrogate, in closed form and by Monte Carlo.

Book: Chapter 12 ("Capacity of post-normalised classes"), Definitions `capacity-def-rademacher` and
`capacity-def-linearised`, Proposition `capacity-prop-closed-form`, Corollary `capacity-cor-rate`; the closed form is
tight within :math:`\sqrt 2` by the Khintchine-Kahane inequality with the optimal constant :cite:`latala1994khinchin`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from .._validation import check_int, check_real
from ..nets import PostLNResNet
from ._common import check_model, check_seed, factor_pair, model_input, resolve_position
from ._gradients import _phi, _residual


@dataclass(frozen=True)
class RademacherSurrogate:
    r"""Linearised Rademacher surrogate of the expanded class.

    Attributes
    ----------
    radius : float
        :math:`M`, the Frobenius budget of :math:`W_2`.
    n : int
        Sample size.
    n_draws : int
        Monte Carlo sign draws (0: closed form only).
    bound : float
        Closed form :math:`\frac Mn\sqrt{\sum_i\lVert\tilde\rho_i\rVert^2\lVert\varphi_i\rVert^2}` (the Jensen bound;
        exactly the root of the second moment).
    monte_carlo, monte_carlo_se : float or None
        Monte Carlo :math:`\hat{\mathfrak R}_S(\mathcal F_{\rm lin})` and its standard error.
    second_moment_mc, second_moment_se : float or None
        Monte Carlo :math:`\mathbb E Z^2` (exactly ``bound**2``) and its standard error.
    """

    radius: float
    n: int
    n_draws: int
    bound: float
    monte_carlo: float | None = None
    monte_carlo_se: float | None = None
    second_moment_mc: float | None = None
    second_moment_se: float | None = None

    @property
    def ratio(self) -> float:
        """``monte_carlo / bound``; in :math:`[1/\\sqrt2, 1]` up to Monte Carlo error (NaN without Monte Carlo)."""
        if self.monte_carlo is None or self.bound == 0:
            return float("nan")
        return self.monte_carlo / self.bound

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _monte_carlo(r: Tensor, f: Tensor, M: float, n_draws: int, seed: int) -> tuple[float, float, float, float]:
    r"""Mean and SE of :math:`Z_b = \frac Mn\lVert\sum_i \varepsilon^{(b)}_i\tilde\rho_i\varphi_i^\top\rVert_F` and of
    :math:`Z_b^2`, over ``n_draws`` sign vectors from a private generator."""
    n = r.shape[0]
    gen = torch.Generator().manual_seed(seed)
    chunk = max(1, min(n_draws, 2**22 // max(1, r.shape[1] * f.shape[1])))
    norms = []
    done = 0
    while done < n_draws:
        b = min(chunk, n_draws - done)
        eps = (torch.randint(0, 2, (b, n), generator=gen, dtype=torch.int64) * 2 - 1).to(dtype=torch.float64,
                                                                                           device=r.device)
        norms.append(torch.linalg.matrix_norm(torch.einsum("bi,id,im->bdm", eps, r, f)).cpu())
        done += b
    z = torch.cat(norms).numpy() * (M / n)
    z2 = z * z
    root = math.sqrt(len(z))
    return float(z.mean()), float(z.std(ddof=1) / root), float(z2.mean()), float(z2.std(ddof=1) / root)


def linearized_rademacher(model: PostLNResNet | None = None, position: int | None = None, X: Any = None, *,
                          radius: float, n_draws: int = 200, seed: int = 0, rho_tilde: Any = None,
                          phi: Any = None) -> RademacherSurrogate:
    r"""Linearised Rademacher surrogate at the inserted block: closed form and Monte Carlo.

    Linearising the expanded model in :math:`W_2` around :math:`W_2 = 0` gives
    :math:`\mathcal F_{\rm lin}(M) = \{x \mapsto f_{\rm old}(x) + \langle W_2, \mathcal J(x)\rangle_F :
    \lVert W_2\rVert_F \le M\}` with :math:`\mathcal J = \tilde\rho\varphi^\top` (Chapter 12, Definition
    `capacity-def-linearised`), and (Proposition `capacity-prop-closed-form`)

    .. math::

        \hat{\mathfrak R}_S(\mathcal F_{\rm lin}) = \frac Mn\,\mathbb E_\varepsilon
        \Big\lVert\sum_i\varepsilon_i\mathcal J(x_i)\Big\rVert_F
        \le \frac Mn\sqrt{\textstyle\sum_i \lVert\tilde\rho(x_i)\rVert^2\lVert\varphi(x_i)\rVert^2},

    tight within :math:`\sqrt2`; the right side is exactly
    :math:`\frac Mn\sqrt{\mathbb E_\varepsilon\lVert\sum_i\varepsilon_i\mathcal J(x_i)\rVert_F^2}`. It is the
    statistical cost of the expansion to first order and scales as :math:`M/\sqrt n` (Corollary `capacity-cor-rate`).

    Two forms: ``linearized_rademacher(model, position, X, radius=M)`` computes
    :math:`\tilde\rho` (:func:`output_gradient`) and :math:`\varphi` (:func:`block_features`; scalar-output models);
    ``linearized_rademacher(rho_tilde=..., phi=..., radius=M)`` takes them precomputed, shapes ``(n, d)`` and
    ``(n, m)``.

    Parameters
    ----------
    radius : float
        :math:`M > 0`.
    n_draws : int
        Monte Carlo sign draws (``>= 2``), or 0 for the closed form alone.
    seed : int
        Seed of the signs (a private generator).

    Returns
    -------
    RademacherSurrogate
    """
    M = check_real(radius, "radius", minimum=0.0, strict=True)
    n_draws = check_int(n_draws, "n_draws", minimum=0)
    if n_draws == 1:
        raise ValueError("n_draws must be 0 (closed form only) or an integer >= 2 (a standard error needs two draws)")
    seed = check_seed(seed)
    if rho_tilde is not None or phi is not None:
        if model is not None or X is not None:
            raise ValueError("pass either (model, position, X) or the factors (rho_tilde=..., phi=...), not both")
        if rho_tilde is None or phi is None:
            raise ValueError("the factor form needs both rho_tilde and phi")
        r, f = factor_pair(rho_tilde, phi, ("rho_tilde", "phi"))
    else:
        if model is None or X is None:
            raise ValueError("linearized_rademacher needs (model, position, X) or the factors (rho_tilde=..., phi=...)")
        model = check_model(model)
        if model.out_dim != 1:
            raise ValueError(f"linearized_rademacher needs a scalar-output model (out_dim=1), got "
                             f"out_dim={model.out_dim}")
        p, _ = resolve_position(model, position)
        Xt = model_input(model, X)
        r = _residual(model, p, Xt, lambda out: out.sum()).to(torch.float64)
        f = _phi(model, p, Xt).to(torch.float64)
    n = r.shape[0]
    bound = M / n * math.sqrt(float(((r * r).sum(1) * (f * f).sum(1)).sum()))
    mc = _monte_carlo(r, f, M, n_draws, seed) if n_draws else (None, None, None, None)
    return RademacherSurrogate(M, n, n_draws, bound, *mc)
