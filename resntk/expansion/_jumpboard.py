r"""The jumpboard: one certified step from a zero-output inserted block.

Book: Chapter 11 ("The first-order descent condition and the jumpboard"), Theorem `jumpboard-thm-jumpboard` and
Exercise `ex-jumpboard-gd-step`; the book's quantitative form of the mechanism of :cite:`cheng2026depth`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .._validation import check_choice
from ..nets import PostLNResNet
from ._common import RayEvaluator, check_model, check_step, data, resolve_position
from ._gradients import _CURVATURE_METHODS, _curvature, _descent


@dataclass
class Jumpboard:
    r"""The empirical jumpboard :math:`\hat f_{\rm jb}` and its certificate.

    Attributes
    ----------
    position : int
        Index of the inserted block in ``model.blocks``.
    parameter : str
        The ray parameter: ``"W2"`` (init ``"zero_out"``) or ``"gate"`` (init ``"gate"``).
    descent_matrix : Tensor, shape (d, m)
        :math:`\hat{\mathfrak G}_S`.
    direction : Tensor
        Steepest unit direction :math:`V^\star = -\hat{\mathfrak G}_S/\lVert\hat{\mathfrak G}_S\rVert_F` (``"W2"``), or
        :math:`v^\star = -\operatorname{sign}\partial_g\hat R_S` (``"gate"``, a 0-d tensor).
    kappa : float
        :math:`\kappa = -r'(0)` along the direction.
    beta : float
        Curvature constant :math:`\beta` used (estimated along the direction, or given).
    curvature_method : str
        ``"second_difference"``, ``"autodiff"`` or ``"given"``.
    curvature_step : float or None
        The second-difference step (``None`` otherwise).
    t_star : float
        :math:`t^\star = \kappa/\beta`.
    predicted_decrease : float
        :math:`\kappa^2/(2\beta)`: guaranteed when :math:`r'' \le \beta` on :math:`[0, t^\star]`.
    risk_before, risk_after : float
        :math:`r(0)` and :math:`r(t^\star) = \hat R_S(\hat f_{\rm jb})`.
    realized_decrease : float
        ``risk_before - risk_after`` on the given data.
    model : PostLNResNet
        :math:`\hat f_{\rm jb}`: a copy of the expanded model moved by :math:`t^\star v^\star`.
    """

    position: int
    parameter: str
    descent_matrix: Tensor
    direction: Tensor
    kappa: float
    beta: float
    curvature_method: str
    curvature_step: float | None
    t_star: float
    predicted_decrease: float
    risk_before: float
    risk_after: float
    realized_decrease: float
    model: PostLNResNet = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The scalar fields (for tables)."""
        keys = ("position", "parameter", "kappa", "beta", "curvature_method", "curvature_step", "t_star",
                "predicted_decrease", "risk_before", "risk_after", "realized_decrease")
        return {k: getattr(self, k) for k in keys}


def jumpboard(model: PostLNResNet, position: int | None, X: Any, y: Any, loss: str = "mse", *,
              curvature: str = "second_difference", curvature_step: float | None = None,
              beta: float | None = None) -> Jumpboard:
    r"""The jumpboard step from a zero-output inserted block (Chapter 11, Theorem `jumpboard-thm-jumpboard`).

    Along the steepest unit direction of the ray parameter, :math:`r(t) \le r(0) - \kappa t + \tfrac\beta2 t^2` when
    :math:`r` is :math:`\beta`-smooth on :math:`[0, t^\star]`, so

    .. math::

        \hat R_S(\hat f_{\rm jb}) \le \hat R_S(f_{\rm old}) - \frac{\kappa^2}{2\beta},\qquad
        \hat f_{\rm jb} = f_{\rm old}\oplus(\psi_0 + t^\star v^\star),\qquad
        t^\star = \frac{\kappa}{\beta},\qquad V^\star = -\frac{\hat{\mathfrak G}_S}{\lVert\hat{\mathfrak G}_S\rVert_F}.

    This is exactly one gradient step of size :math:`1/\beta` on :math:`W_2` (or on the gate; Exercise
    `ex-jumpboard-gd-step`). The jumpboard is a certificate of representational gain, not a useful model: the gain
    is small and steps of a few :math:`t^\star` already increase the risk.

    :math:`\beta` is estimated at :math:`t = 0` (``curvature="second_difference"``: step :math:`10^{-3}` of the natural
    scale :math:`t^\star`, from a first pass with step :math:`10^{-4}`; or ``"autodiff"``: exact :math:`r''(0)`), or
    given as ``beta`` (e.g. a bound on :math:`r''` over an interval). A local estimate makes
    :math:`\kappa^2/(2\beta)` a prediction, not a guarantee; ``realized_decrease`` reports what happened on
    ``(X, y)``.

    Parameters
    ----------
    model : PostLNResNet
        An expanded model whose block ``position`` has zero output (:math:`W_2 = 0`, or gate :math:`g = 0`), e.g. from
        :func:`resntk.nets.insert_block`.
    position : int or None
        Index of the inserted block (``None``: ``model.insertion_.position``).
    X, y
        The sample :math:`S` defining :math:`\hat R_S`.
    loss : {"mse", "cross_entropy"}
    curvature : {"second_difference", "autodiff"}
    curvature_step : float, optional
    beta : float, optional
        Use this :math:`\beta > 0` instead of estimating it.

    Raises
    ------
    ValueError
        If the block does not have zero output, if the first-order descent condition fails (:math:`\kappa = 0`), or
        if the estimated curvature is not positive (then pass ``beta``).
    """
    model = check_model(model)
    curvature = check_choice(curvature, "curvature", _CURVATURE_METHODS)
    p, block = resolve_position(model, position)
    Xt, Y = data(model, X, y, loss)
    beta_given = None if beta is None else check_step(beta, "beta")
    step_given = None if curvature_step is None else check_step(curvature_step, "curvature_step")
    W2 = block.linear2.weight.detach()
    if block.gate is None:
        if bool((W2 != 0).any()):
            raise ValueError(f"block {p} does not have zero output (W2 != 0): the jumpboard starts from f_old + psi_0 "
                             "with G(.; psi_0) = 0, e.g. a block inserted by insert_block(..., init='zero_out')")
    elif float(block.gate.detach()) != 0.0:
        raise ValueError(f"block {p} does not have zero output (gate = {float(block.gate.detach()):.3g} != 0): the "
                         "jumpboard starts from the zero-gated block of insert_block(..., init='gate')")

    G = _descent(model, p, Xt, Y, loss)
    if block.gate is None:
        kind = "W2"
        kappa = float(torch.linalg.matrix_norm(G))
        if kappa == 0.0:
            raise ValueError("the first-order descent condition fails: the descent matrix is exactly zero "
                             "(kappa = 0), so no direction of W2 decreases the risk to first order")
        v = -G / kappa
    else:
        kind = "gate"
        dg = float((W2 * G).sum())
        kappa = abs(dg)
        if kappa == 0.0:
            raise ValueError("the first-order descent condition fails: the gate derivative is exactly zero")
        v = torch.tensor(-math.copysign(1.0, dg), dtype=W2.dtype, device=W2.device)

    ev = RayEvaluator(model, p, block, Xt, Y, loss)
    step_used: float | None = None
    if beta_given is not None:
        beta_val, method = beta_given, "given"
    elif curvature == "autodiff":
        beta_val, method = _curvature(ev, kind, v, "autodiff", 0.0), "autodiff"
    else:
        if step_given is None:
            first = _curvature(ev, kind, v, "second_difference", 1e-4)
            step_used = min(max(1e-3 * kappa / first, 1e-6), 1e-3) if first > 0 else 1e-4
        else:
            step_used = step_given
        beta_val, method = _curvature(ev, kind, v, "second_difference", step_used), "second_difference"
    if not (math.isfinite(beta_val) and beta_val > 0):
        raise ValueError(f"the estimated curvature along the steepest direction is {beta_val:.3g} <= 0; the quadratic "
                         "bound needs beta > 0: pass beta= (an upper bound on r'' over the step)")
    t_star = kappa / beta_val
    r0, r1 = ev.risks(kind, v, [0.0, t_star])

    jb_model = copy.deepcopy(model)
    with torch.no_grad():
        jb_block = jb_model.blocks[p]
        (jb_block.linear2.weight if kind == "W2" else jb_block.gate).add_(t_star * v)
    return Jumpboard(position=p, parameter=kind, descent_matrix=G, direction=v, kappa=kappa, beta=beta_val,
                     curvature_method=method, curvature_step=step_used, t_star=t_star,
                     predicted_decrease=kappa**2 / (2 * beta_val), risk_before=float(r0), risk_after=float(r1),
                     realized_decrease=float(r0 - r1), model=jb_model)
