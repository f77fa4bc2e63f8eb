r"""The two test-risk guarantees of depth expansion, term by term.

Book: Chapter 13 ("Two test-risk guarantees"), Lemma `testrisk-lem-clipped`, Theorems `testrisk-thm-route-i` and
`testrisk-thm-route-ii`; the book's formalisation of the two routes of :cite:`cheng2026depth` (the paper's own
statements are not known), with the symmetrisation and McDiarmid steps of :cite:`bartlett2002rademacher` and
:cite:`mcdiarmid1989method`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_float64, check_bool, check_choice, check_real

Number = float | np.ndarray


@dataclass(frozen=True)
class RiskBound:
    """Terms of a test-risk bound on :math:`\\hat R_T(\\hat f_{\\rm new}) - \\hat R_T(f_{\\rm old})`.

    ``total = -margin + optimization + complexity + confidence``; each field is a float or an
    array (the inputs broadcast, so a chapter can pass arrays of ``n`` and plot each term).

    Attributes
    ----------
    route : str
        ``"i"`` or ``"ii"``.
    margin : float or ndarray
        :math:`\\Delta` (route i) or :math:`\\hat\\Delta_S` (route ii), entering with a minus sign.
    optimization : float or ndarray
        :math:`\\varepsilon_{\\rm opt}`.
    complexity : float or ndarray
        The Rademacher terms.
    confidence : float or ndarray
        The Hoeffding / McDiarmid terms.
    total : float or ndarray
        The bound.
    probability : float
        The probability with which it holds (:math:`1 - 4\\delta` or :math:`1 - \\delta`).
    """

    route: str
    margin: Number
    optimization: Number
    complexity: Number
    confidence: Number
    total: Number
    probability: float

    @property
    def certifies_improvement(self) -> bool | np.ndarray:
        """Whether the bound is negative, i.e. certifies :math:`\\hat R_T(\\hat f_{\\rm new}) < \\hat R_T(f_{\\rm old})`."""
        out = np.asarray(self.total) < 0
        return bool(out) if out.ndim == 0 else out

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["certifies_improvement"] = self.certifies_improvement
        return d


def _arr(x: Any, name: str, *, minimum: float | None = None, strict: bool = False) -> np.ndarray:
    a = as_float64(x, name).cpu().numpy()
    if minimum is not None:
        bad = a <= minimum if strict else a < minimum
        if np.any(bad):
            raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {x!r}")
    return a


def _out(a: np.ndarray) -> Number:
    return float(a) if a.ndim == 0 else a


def _check_delta(delta: Any, upper: float) -> float:
    return check_real(delta, "delta", minimum=0.0, maximum=upper, strict=True, what="the failure probability")


def route_i_bound(
    margin: Any,
    complexity: Any,
    n: Any,
    n_test: Any,
    *,
    loss_bound: float,
    delta: float = 0.05,
    eps_opt: Any = 0.0,
    separate_sample: bool = False,
) -> RiskBound:
    """Test-risk route (i), through the population risk (Chapter 13, Theorem `testrisk-thm-route-i`).

    With probability at least :math:`1 - 4\\delta`,

    .. math::

        \\hat R_T(\\hat f_{\\rm new}) - \\hat R_T(f_{\\rm old}) \\le -\\Delta + \\varepsilon_{\\rm opt}
        + c\\,\\mathfrak R_n(\\ell\\circ\\mathcal F_{\\rm new})
        + 2B\\sqrt{\\frac{\\ln(1/\\delta)}{2n}} + 2B\\sqrt{\\frac{\\ln(1/\\delta)}{2n_{\\rm te}}},

    with :math:`c = 4` (two uniform deviations, because :math:`f_{\\rm jb}` depends on :math:`S`
    through :math:`f_{\\rm old}`; Exercise `testrisk-ex-dependence`) or :math:`c = 2` when :math:`f_{\\rm old}` was trained on
    a separate sample (``separate_sample=True``: step 4 of the chain becomes a Hoeffding step, and
    the confidence terms are unchanged).  Assumptions: nesting, a positive population margin
    :math:`\\Delta = R(f_{\\rm old}) - R(f_{\\rm jb})` (e.g. :math:`\\ge\\kappa^2/(2\\beta)`),
    :math:`\\hat R_S(\\hat f_{\\rm new}) \\le \\hat R_S(f_{\\rm jb}) + \\varepsilon_{\\rm opt}`, a loss in
    :math:`[0, B]`, and :math:`T` independent of :math:`S`.  This is the book's formalisation of the
    paper's route (i); the paper's own statement is not known.

    Parameters
    ----------
    margin : float or array
        Population margin :math:`\\Delta` (any real: the bound is vacuous for :math:`\\Delta \\le 0`).
    complexity : float or array
        :math:`\\mathfrak R_n(\\ell\\circ\\mathcal F_{\\rm new}) \\ge 0`, the Rademacher complexity of
        the *loss* class (for an :math:`L_\\ell`-Lipschitz loss, :math:`L_\\ell` times that of the
        function class by contraction).
    n, n_test : int or array
        Training and test sample sizes (> 0).
    loss_bound : float
        :math:`B > 0` (clip the squared loss, Lemma `testrisk-lem-clipped`).
    delta : float, default 0.05
        In :math:`(0, 1/4)`.
    eps_opt : float or array, default 0
        Optimisation slack :math:`\\varepsilon_{\\rm opt} \\ge 0`.
    separate_sample : bool, default False
    """
    B = float(_arr(loss_bound, "loss_bound", minimum=0.0, strict=True))
    delta = _check_delta(delta, 0.25)
    Delta = _arr(margin, "margin")
    R = _arr(complexity, "complexity", minimum=0.0)
    n_a = _arr(n, "n", minimum=0.0, strict=True)
    nt_a = _arr(n_test, "n_test", minimum=0.0, strict=True)
    eo = _arr(eps_opt, "eps_opt", minimum=0.0)
    c = 2.0 if check_bool(separate_sample, "separate_sample") else 4.0
    log = math.log(1 / delta)
    complexity_term = c * R
    confidence = 2 * B * np.sqrt(log / (2 * n_a)) + 2 * B * np.sqrt(log / (2 * nt_a))
    Delta, eo, complexity_term, confidence = np.broadcast_arrays(Delta, eo, complexity_term, confidence)
    total = -Delta + eo + complexity_term + confidence
    return RiskBound("i", _out(Delta.copy()), _out(eo.copy()), _out(complexity_term.copy()),
                     _out(confidence.copy()), _out(total), 1 - 4 * delta)


_ROUTE_II_FORMS = ("absolute", "one_sided")


def route_ii_bound(
    empirical_margin: Any,
    complexity_train: Any,
    complexity_test: Any,
    n: Any,
    n_test: Any,
    *,
    loss_bound: float,
    delta: float = 0.05,
    eps_opt: Any = 0.0,
    form: str = "absolute",
) -> RiskBound:
    """Test-risk route (ii), at the train/test level (Chapter 13, Theorem `testrisk-thm-route-ii`).

    .. math::

        \\hat R_T(\\hat f_{\\rm new}) - \\hat R_T(f_{\\rm old}) \\le -\\hat\\Delta_S + \\varepsilon_{\\rm opt} + 2\\Phi,
        \\qquad \\Phi = \\sup_{f\\in\\mathcal F_{\\rm new}} |\\hat R_T(f) - \\hat R_S(f)|,

    and, with probability at least :math:`1 - \\delta`,

    * ``form="absolute"`` (symmetrisation + McDiarmid, with the absolute-value complexities
      :math:`\\bar{\\mathfrak R}`; Chapter 12, Exercise `capacity-ex-absolute`):
      :math:`\\Phi \\le 2\\bar{\\mathfrak R}_n + 2\\bar{\\mathfrak R}_{n_{\\rm te}} + B\\sqrt{\\tfrac12(\\tfrac1n + \\tfrac1{n_{\\rm te}})\\ln\\tfrac2\\delta}`;
    * ``form="one_sided"`` (four one-sided uniform deviations, ordinary :math:`\\mathfrak R`):
      :math:`\\Phi \\le 2\\mathfrak R_n + 2\\mathfrak R_{n_{\\rm te}} + B\\sqrt{\\ln(4/\\delta)/(2n)} + B\\sqrt{\\ln(4/\\delta)/(2n_{\\rm te})}`.

    The returned ``complexity`` and ``confidence`` are the terms of :math:`2\\Phi`.  The route needs
    no population margin and no Hoeffding transfer: :math:`\\hat\\Delta_S = \\hat R_S(f_{\\rm old}) - \\hat R_S(\\hat f_{\\rm jb})`
    is observable (e.g. ``Jumpboard.realized_decrease``).  This is the book's formalisation of the
    paper's route (ii); the paper's own statement is not known.

    Parameters
    ----------
    empirical_margin : float or array
        :math:`\\hat\\Delta_S`.
    complexity_train, complexity_test : float or array
        Rademacher complexities (:math:`\\ge 0`) of the loss class at sample sizes ``n`` and ``n_test``.
    n, n_test : int or array
    loss_bound : float
        :math:`B > 0`.
    delta : float, default 0.05
        In :math:`(0, 1)`.
    eps_opt : float or array, default 0
    form : {"absolute", "one_sided"}
    """
    form = check_choice(form, "form", _ROUTE_II_FORMS)
    B = float(_arr(loss_bound, "loss_bound", minimum=0.0, strict=True))
    delta = _check_delta(delta, 1.0)
    D = _arr(empirical_margin, "empirical_margin")
    Rn = _arr(complexity_train, "complexity_train", minimum=0.0)
    Rt = _arr(complexity_test, "complexity_test", minimum=0.0)
    n_a = _arr(n, "n", minimum=0.0, strict=True)
    nt_a = _arr(n_test, "n_test", minimum=0.0, strict=True)
    eo = _arr(eps_opt, "eps_opt", minimum=0.0)
    complexity_term = 2 * (2 * Rn + 2 * Rt)
    if form == "absolute":
        confidence = 2 * B * np.sqrt(0.5 * (1 / n_a + 1 / nt_a) * math.log(2 / delta))
    else:
        log4 = math.log(4 / delta)
        confidence = 2 * (B * np.sqrt(log4 / (2 * n_a)) + B * np.sqrt(log4 / (2 * nt_a)))
    D, eo, complexity_term, confidence = np.broadcast_arrays(D, eo, complexity_term, confidence)
    total = -D + eo + complexity_term + confidence
    return RiskBound("ii", _out(D.copy()), _out(eo.copy()), _out(complexity_term.copy()),
                     _out(confidence.copy()), _out(total), 1 - delta)
