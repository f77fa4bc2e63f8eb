"""Tests of resntk.expansion: rho, the descent matrix, the jumpboard, the surrogate and the bounds.

Book: Chapters 11 ("The first-order descent condition and the jumpboard"), 12 ("Capacity of post-normalised
classes") and 13 ("Two test-risk guarantees").
"""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from conftest import training_risk

from resntk.book import make_expansion_toy
from resntk.expansion import (
    backprop_residual,
    block_features,
    block_gradients,
    curvature_along_ray,
    descent_matrix,
    directional_derivative,
    jumpboard,
    linearized_rademacher,
    output_gradient,
    risk_along_ray,
    route_i_bound,
    route_ii_bound,
)
from resntk.nets import PostLNResNet, insert_block, layer_norm_jacobian

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b))


# ----------------------------------------------------------------------------------------------- rho and G


def test_jumpboard_prop_first_order_descent_matrix_is_the_autodiff_gradient(toy, expanded) -> None:
    # Proposition jumpboard-prop-first-order: G_S from rho phi^T equals grad_{W2} R_S at W2 = 0, exact to rounding
    G = descent_matrix(expanded, 1, toy.X, toy.y)
    W2 = expanded.blocks[1].linear2.weight
    (grad,) = torch.autograd.grad(0.5 * ((expanded(toy.X)[:, 0] - toy.y) ** 2).mean(), W2)
    assert G.shape == (16, 64)
    assert float(G.norm()) > 0
    assert float((G - grad).abs().max()) <= 1e-12 * float(G.abs().max())
    # W1 and b1 reach the output only through W2 = 0: their gradients vanish exactly
    grads = block_gradients(expanded, 1, toy.X, toy.y)
    assert float(grads["linear1.weight"].abs().max()) == 0.0
    assert float(grads["linear1.bias"].abs().max()) == 0.0
    torch.testing.assert_close(grads["linear2.weight"], G, rtol=1e-10, atol=1e-16)


def test_rho_lives_on_the_tangent_space_of_the_normalisation_sphere(toy) -> None:
    # Definition jumpboard-def-rho: rho is orthogonal to 1 exactly and to h_p up to O(eps)
    for eps in (0.0, 1e-5, 1e-3):
        model = PostLNResNet(10, 16, hidden=32, depth=2, eps=eps, bias_std=0.3, seed=2)
        exp = insert_block(model, 1, 16)
        rho = backprop_residual(exp, 1, toy.X, toy.y)
        with torch.no_grad():
            hp = exp.hidden_state(toy.X, 1)
        scale = rho.norm(dim=1) * math.sqrt(16)
        assert float((rho.sum(1).abs() / scale).max()) < 1e-12
        cos_h = (rho * hp).sum(1).abs() / (rho.norm(dim=1) * hp.norm(dim=1))
        assert float(cos_h.max()) <= max(10 * eps, 1e-12)


@pytest.mark.parametrize(("eps", "upper"), [(0.0, 1e-10), (1e-5, 1e-4)])
def test_rho_from_the_explicit_jacobian_formula(toy, eps: float, upper: float) -> None:
    # rho assembled from J_N(h_p) (Lemma capacity-lem-jacobian) with the downstream Jacobian taken at h_p (not N(h_p))
    # differs from the autodiff rho by O(eps) (1e-6 - 1e-5 at eps = 1e-5), and not at all at eps = 0
    model = PostLNResNet(10, 16, hidden=32, depth=2, eps=eps, bias_std=0.3, seed=5)
    exp = insert_block(model, 1, 16)
    rho = backprop_residual(exp, 1, toy.X, toy.y)
    with torch.no_grad():
        hp = exp.hidden_state(toy.X, 1)
    h = hp.clone().requires_grad_(True)
    out = exp.head(h, 2)[:, 0]
    (down,) = torch.autograd.grad(0.5 * ((out - toy.y) ** 2).sum(), h)  # per-sample J_down^T (f - y) at h_p
    rho_formula = torch.einsum("nij,nj->ni", layer_norm_jacobian(hp, eps), down)
    rel = float((rho_formula - rho).norm() / rho.norm())
    assert rel < upper
    if eps > 0:
        assert rel > 1e-9  # the O(eps) discrepancy is real, not rounding


def test_rho_is_the_output_gradient_times_the_residual(toy, expanded) -> None:
    # squared loss: rho_i = rho_tilde_i (f(x_i) - y_i) (Definition capacity-def-linearised)
    rho = backprop_residual(expanded, 1, toy.X, toy.y)
    rt = output_gradient(expanded, 1, toy.X)
    with torch.no_grad():
        resid = expanded(toy.X)[:, 0] - toy.y
    torch.testing.assert_close(rho, rt * resid[:, None], rtol=1e-10, atol=1e-14)


def test_descent_matrix_from_precomputed_factors(toy, expanded) -> None:
    rho = backprop_residual(expanded, 1, toy.X, toy.y)
    phi = block_features(expanded, 1, toy.X)
    ref = sum(torch.outer(rho[i], phi[i]) for i in range(rho.shape[0])) / rho.shape[0]
    torch.testing.assert_close(descent_matrix(rho=rho, phi=phi), ref, rtol=1e-10, atol=1e-16)
    with pytest.raises(ValueError, match="same n"):
        descent_matrix(rho=rho, phi=phi[:10])


# ----------------------------------------------------------------------------------------------- directional derivative


def test_jumpboard_prop_first_order_derivative_matches_central_differences(toy, expanded) -> None:
    # Proposition jumpboard-prop-first-order: r'(0) = <V, G_S> against central finite differences, <= 1e-4 relative
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        V = torch.randn(16, 64, generator=gen, dtype=torch.float64)
        V /= V.norm()
        formula = directional_derivative(expanded, 1, toy.X, toy.y, V)
        fd = directional_derivative(expanded, 1, toy.X, toy.y, V, method="finite_difference")
        assert _rel(formula, fd) <= 1e-4
    G = descent_matrix(expanded, 1, toy.X, toy.y)
    steepest = -G / G.norm()
    assert directional_derivative(expanded, 1, toy.X, toy.y, steepest) == pytest.approx(-float(G.norm()), rel=1e-12)
    fd = directional_derivative(expanded, 1, toy.X, toy.y, steepest, method="finite_difference")
    assert _rel(fd, -float(G.norm())) <= 1e-4


def test_gate_derivative_matches_central_differences(toy) -> None:
    # the gate ray: d/dg R_S = (1/n) sum <rho_i, W2 phi_i> at g = 0
    gated = insert_block(toy.model, 1, 32, "gate", seed=4)
    formula = directional_derivative(gated, 1, toy.X, toy.y, 1.0)
    fd = directional_derivative(gated, 1, toy.X, toy.y, 1.0, method="finite_difference")
    assert formula != 0 and _rel(formula, fd) <= 1e-4
    rho = backprop_residual(gated, 1, toy.X, toy.y)
    phi = block_features(gated, 1, toy.X)
    W2 = gated.blocks[1].linear2.weight.detach()
    assert formula == pytest.approx(float((rho * (phi @ W2.T)).sum(1).mean()), rel=1e-12)
    (auto,) = torch.autograd.grad(0.5 * ((gated(toy.X)[:, 0] - toy.y) ** 2).mean(), gated.blocks[1].gate)
    assert formula == pytest.approx(float(auto), rel=1e-10)
    # at g = 0 the W2 gradient vanishes (the gate carries the first-order signal)
    assert float(block_gradients(gated, 1, toy.X, toy.y)["linear2.weight"].abs().max()) == 0.0


def test_directional_derivative_for_cross_entropy() -> None:
    torch.manual_seed(0)
    model = PostLNResNet(6, 8, hidden=16, depth=3, out_dim=4, bias_std=0.2, seed=1)
    X = torch.randn(300, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (300,))
    exp = insert_block(model, 2, 12, seed=2)
    V = torch.randn(8, 12, dtype=torch.float64)
    formula = directional_derivative(exp, 2, X, y, V, loss="cross_entropy")
    fd = directional_derivative(exp, 2, X, y, V, loss="cross_entropy", method="finite_difference")
    assert _rel(formula, fd) <= 1e-4
    W2 = exp.blocks[2].linear2.weight
    (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(exp(X), y), W2)
    torch.testing.assert_close(descent_matrix(exp, 2, X, y, loss="cross_entropy"), grad, rtol=1e-10, atol=1e-16)


def test_jumpboard_prop_trap_kills_every_first_order_derivative(toy, expanded) -> None:
    # Proposition jumpboard-prop-trap: at W1 = b1 = W2 = 0 all gradients are exactly 0, and G_S = 0 exactly
    trapped = copy.deepcopy(expanded)
    with torch.no_grad():
        trapped.blocks[1].linear1.weight.zero_()
        trapped.blocks[1].linear1.bias.zero_()
    grads = block_gradients(trapped, 1, toy.X, toy.y)
    assert all(float(g.abs().max()) == 0.0 for g in grads.values())
    assert float(descent_matrix(trapped, 1, toy.X, toy.y).abs().max()) == 0.0
    with pytest.raises(ValueError, match="first-order descent condition fails"):
        jumpboard(trapped, 1, toy.X, toy.y)


def test_risk_along_ray_starts_at_the_oldtraining_risk(toy, expanded) -> None:
    V = torch.ones(16, 64, dtype=torch.float64) / 32
    r = risk_along_ray(expanded, 1, toy.X, toy.y, V, [0.0, 0.01])
    assert r.shape == (2,)
    assert r[0] == pytest.approx(training_risk(toy.model, toy.X, toy.y), abs=1e-10)
    moved = copy.deepcopy(expanded)
    with torch.no_grad():
        moved.blocks[1].linear2.weight.add_(0.01 * V)
    assert r[1] == pytest.approx(training_risk(moved, toy.X, toy.y), rel=1e-12)


def test_curvature_second_difference_matches_autodiff(toy, expanded) -> None:
    G = descent_matrix(expanded, 1, toy.X, toy.y)
    V = -G / G.norm()
    fd = curvature_along_ray(expanded, 1, toy.X, toy.y, V)
    exact = curvature_along_ray(expanded, 1, toy.X, toy.y, V, method="autodiff")
    assert exact > 0 and _rel(fd, exact) <= 1e-4


# ----------------------------------------------------------------------------------------------- the jumpboard


def test_jumpboard_thm_jumpboard_quadratic_bound_holds_on_the_trainingtraining_risk(toy, expanded) -> None:
    # Theorem jumpboard-thm-jumpboard: with beta >= r'' on [0, t*], r(t*) <= r(0) - kappa^2 / (2 beta)
    jb = jumpboard(expanded, 1, toy.X, toy.y)
    G = descent_matrix(expanded, 1, toy.X, toy.y)
    assert jb.kappa == pytest.approx(float(G.norm()), rel=1e-12)
    torch.testing.assert_close(jb.direction, -G / G.norm())
    assert jb.t_star == pytest.approx(jb.kappa / jb.beta, rel=1e-12)
    assert jb.predicted_decrease == pytest.approx(jb.kappa**2 / (2 * jb.beta), rel=1e-12)
    assert jb.risk_before == pytest.approx(training_risk(toy.model, toy.X, toy.y), abs=1e-10)
    assert jb.risk_after == pytest.approx(training_risk(jb.model, toy.X, toy.y), rel=1e-12)
    assert jb.realized_decrease > 0.5 * jb.predicted_decrease
    # a curvature bound over the step: the largest second difference on a grid over [0, 2 t*]
    ts = np.linspace(0, 2 * jb.t_star, 41)
    h = 1e-3 * jb.t_star
    r = risk_along_ray(expanded, 1, toy.X, toy.y, jb.direction, np.concatenate([ts - h, ts, ts + h]))
    beta_sup = float(np.max((r[:41] - 2 * r[41:82] + r[82:]) / h**2))
    assert beta_sup >= jb.beta * (1 - 1e-6)
    certified = jumpboard(expanded, 1, toy.X, toy.y, beta=beta_sup)
    assert certified.realized_decrease >= certified.predicted_decrease * (1 - 1e-6)
    assert certified.t_star <= jb.t_star


def test_jumpboard_is_a_local_certificate(toy, expanded) -> None:
    # the jumpboard is local: the decrease shrinks at 2 t* and the risk increases at 4 t*
    jb = jumpboard(expanded, 1, toy.X, toy.y)
    r = risk_along_ray(expanded, 1, toy.X, toy.y, jb.direction, [0, jb.t_star, 2 * jb.t_star, 4 * jb.t_star])
    dec = r[0] - r
    assert dec[1] > dec[2] and dec[1] > 0
    assert dec[3] < 0
    # the argument is untouched; the jumpboard model moved W2 by t* V*
    assert float(expanded.blocks[1].linear2.weight.detach().abs().max()) == 0.0
    torch.testing.assert_close(jb.model.blocks[1].linear2.weight.detach(), jb.t_star * jb.direction)


def test_jumpboard_magnitudes_on_the_toy(toy) -> None:
    # a = 0.6, sigma = 0.3, m = 64, unnormalised features:
    # kappa 0.0416, beta 1.56, t* 0.0267, predicted 5.56e-4, observed 5.79e-4 (indicative values)
    exp = insert_block(toy.model, 1, 64, seed=1, normalize_features=False)
    jb = jumpboard(exp, 1, toy.X, toy.y)
    assert 0.01 < jb.kappa < 0.2
    assert 0.3 < jb.beta < 10
    assert 5e-3 < jb.t_star < 0.2
    assert 1e-4 < jb.predicted_decrease < 3e-3
    assert 0.5 < jb.realized_decrease / jb.predicted_decrease < 2
    # the feature convention rescales kappa by sqrt(m) and beta by m, leaving kappa^2/(2 beta) alone
    jb_norm = jumpboard(insert_block(toy.model, 1, 64, seed=1), 1, toy.X, toy.y, curvature="autodiff")
    assert jb_norm.kappa * 8 == pytest.approx(jb.kappa, rel=1e-10)
    assert jb_norm.predicted_decrease == pytest.approx(jb.predicted_decrease, rel=1e-4)


def test_gated_jumpboard(toy) -> None:
    gated = insert_block(toy.model, 1, 32, "gate", seed=4)
    jb = jumpboard(gated, None, toy.X, toy.y, curvature="autodiff")
    assert jb.parameter == "gate" and float(abs(jb.direction)) == 1.0
    assert jb.kappa == pytest.approx(abs(directional_derivative(gated, 1, toy.X, toy.y, 1.0)), rel=1e-12)
    assert jb.realized_decrease > 0.5 * jb.predicted_decrease > 0
    assert float(jb.model.blocks[1].gate.detach()) == pytest.approx(float(jb.t_star * jb.direction))


def test_jumpboard_refuses_bad_input(toy, expanded) -> None:
    jb = jumpboard(expanded, 1, toy.X, toy.y)
    with pytest.raises(ValueError, match="zero output"):
        jumpboard(jb.model, 1, toy.X, toy.y)
    for bad in (-1, 3, 7):
        with pytest.raises(ValueError, match="position must index a block"):
            jumpboard(expanded, bad, toy.X, toy.y)
    with pytest.raises(TypeError, match="position"):
        jumpboard(expanded, True, toy.X, toy.y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no insertion record"):
        jumpboard(toy.model, None, toy.X, toy.y)
    with pytest.raises(ValueError, match=r"y must have shape"):
        jumpboard(expanded, 1, toy.X, toy.y[:10])
    with pytest.raises(ValueError, match=r"X must have 10 features"):
        jumpboard(expanded, 1, toy.X[:, :5], toy.y)
    bad_X = toy.X.clone()
    bad_X[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        jumpboard(expanded, 1, bad_X, toy.y)
    with pytest.raises(ValueError, match="loss must be one of"):
        jumpboard(expanded, 1, toy.X, toy.y, loss="hinge")
    with pytest.raises(ValueError, match="cross_entropy"):
        jumpboard(expanded, 1, toy.X, toy.y, loss="cross_entropy")
    with pytest.raises(ValueError, match="beta"):
        jumpboard(expanded, 1, toy.X, toy.y, beta=-1.0)
    with pytest.raises(ValueError, match="direction must have the shape of W2"):
        directional_derivative(expanded, 1, toy.X, toy.y, torch.ones(64, 16))
    with pytest.raises(ValueError, match="no gate"):
        directional_derivative(expanded, 1, toy.X, toy.y, 1.0)
    with pytest.raises(ValueError, match="non-zero"):
        directional_derivative(expanded, 1, toy.X, toy.y, torch.zeros(16, 64), method="finite_difference")


# ----------------------------------------------------------------------------------------------- Rademacher surrogate


def test_capacity_prop_closed_form_agrees_with_monte_carlo(toy, expanded) -> None:
    # Proposition capacity-prop-closed-form: E||sum eps_i J_i||_F^2 = sum ||J_i||^2 exactly, so the MC second moment
    # must agree with the closed form within its standard error; the first moment lies in [bound / sqrt 2, bound]
    s = linearized_rademacher(expanded, 1, toy.X, radius=1.0, n_draws=400, seed=0)
    assert abs(s.second_moment_mc - s.bound**2) <= 4 * s.second_moment_se
    assert s.monte_carlo <= s.bound + 3 * s.monte_carlo_se
    assert s.monte_carlo >= s.bound / math.sqrt(2) - 3 * s.monte_carlo_se
    assert 1 / math.sqrt(2) - 0.05 < s.ratio <= 1.0 + 0.05


def test_surrogate_against_exact_enumeration_of_signs() -> None:
    # exact E over all 2^n sign vectors for n = 10: Jensen bound >= exact >= bound / sqrt 2; MC within its SE
    gen = torch.Generator().manual_seed(0)
    rt = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    phi = torch.rand(10, 6, generator=gen, dtype=torch.float64)
    signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=10)), dtype=torch.float64)
    exact = float(torch.linalg.matrix_norm(torch.einsum("bi,id,im->bdm", signs, rt, phi)).mean()) * 2.0 / 10
    bound = linearized_rademacher(rho_tilde=rt, phi=phi, radius=2.0, n_draws=0).bound
    assert bound / math.sqrt(2) <= exact <= bound
    mc = linearized_rademacher(rho_tilde=rt, phi=phi, radius=2.0, n_draws=4000, seed=1)
    mean, se, m2, m2se = mc.monte_carlo, mc.monte_carlo_se, mc.second_moment_mc, mc.second_moment_se
    assert abs(mean - exact) <= 4 * se
    assert abs(m2 - bound**2) <= 4 * m2se
    # the closed form is linear in the radius M
    assert linearized_rademacher(rho_tilde=rt, phi=phi, radius=6.0, n_draws=0).bound == pytest.approx(3 * bound,
                                                                                                      rel=1e-14)
    assert mc.bound == bound


def test_capacity_cor_rate_surrogate_scales_as_one_over_root_n(toy, expanded) -> None:
    small = linearized_rademacher(expanded, 1, toy.X[:250], radius=1.0, n_draws=50)
    large = linearized_rademacher(expanded, 1, toy.X, radius=1.0, n_draws=50)
    assert small.bound * math.sqrt(250) == pytest.approx(large.bound * math.sqrt(1000), rel=0.15)


def test_surrogate_rejects_bad_input(expanded, toy) -> None:
    with pytest.raises(ValueError, match="radius"):
        linearized_rademacher(expanded, 1, toy.X, radius=0.0)
    with pytest.raises(ValueError, match="n_draws"):
        linearized_rademacher(expanded, 1, toy.X, radius=1.0, n_draws=1)
    multi = insert_block(PostLNResNet(10, 8, hidden=8, depth=2, out_dim=3), 1, 4)
    with pytest.raises(ValueError, match="scalar-output"):
        linearized_rademacher(multi, 1, toy.X, radius=1.0)


# ----------------------------------------------------------------------------------------------- test-risk bounds


def test_testrisk_thm_route_i_terms() -> None:
    # Theorem testrisk-thm-route-i: -Delta + eps_opt + 4 R + 2B sqrt(ln(1/delta)/2n) + 2B sqrt(ln(1/delta)/2n_te)
    b = route_i_bound(0.01, 0.002, 1000, 500, loss_bound=2.0, delta=0.05, eps_opt=0.001)
    conf = 2 * 2.0 * math.sqrt(math.log(20) / 2000) + 2 * 2.0 * math.sqrt(math.log(20) / 1000)
    assert b.margin == 0.01 and b.optimization == 0.001
    assert b.complexity == pytest.approx(0.008)
    assert b.confidence == pytest.approx(conf, rel=1e-14)
    assert b.total == pytest.approx(-0.01 + 0.001 + 0.008 + conf, rel=1e-14)
    assert b.probability == pytest.approx(0.8)
    assert not b.certifies_improvement
    # a separate sample for f_old: 4 R -> 2 R (Exercise testrisk-ex-dependence), confidence terms unchanged
    s = route_i_bound(0.01, 0.002, 1000, 500, loss_bound=2.0, delta=0.05, eps_opt=0.001, separate_sample=True)
    assert s.complexity == pytest.approx(0.004) and s.confidence == b.confidence


def test_bounds_vectorise_over_n_and_become_non_vacuous() -> None:
    n = np.array([100, 300, 1000, 3000, 10**5, 10**7])
    comp = 0.3 / np.sqrt(n)  # an n^{-1/2} complexity, as the surrogate scales
    b = route_i_bound(0.01, comp, n, n, loss_bound=1.0)
    assert isinstance(b.total, np.ndarray) and b.total.shape == n.shape
    assert np.all(np.diff(b.total) < 0)
    np.testing.assert_allclose(b.confidence * np.sqrt(n), b.confidence[0] * 10, rtol=1e-12)
    cert = b.certifies_improvement
    assert not cert[0] and cert[-1]
    b2 = route_ii_bound(0.01, comp, comp, n, n, loss_bound=1.0)
    assert b2.total.shape == n.shape and np.all(np.diff(b2.total) < 0)


def test_testrisk_thm_route_ii_terms_both_forms() -> None:
    # Theorem testrisk-thm-route-ii: -Delta_S + eps_opt + 2 Phi
    a = route_ii_bound(0.02, 0.001, 0.003, 1000, 400, loss_bound=1.5, delta=0.1)
    phi = 2 * 0.001 + 2 * 0.003 + 1.5 * math.sqrt(0.5 * (1 / 1000 + 1 / 400) * math.log(20))
    assert a.total == pytest.approx(-0.02 + 2 * phi, rel=1e-14)
    assert a.complexity == pytest.approx(2 * (2 * 0.001 + 2 * 0.003), rel=1e-14)
    assert a.probability == pytest.approx(0.9)
    o = route_ii_bound(0.02, 0.001, 0.003, 1000, 400, loss_bound=1.5, delta=0.1, form="one_sided")
    phi1 = 2 * 0.001 + 2 * 0.003 + 1.5 * math.sqrt(math.log(40) / 2000) + 1.5 * math.sqrt(math.log(40) / 800)
    assert o.total == pytest.approx(-0.02 + 2 * phi1, rel=1e-14)
    # a vanishing population margin breaks route (i) but route (ii) still reports an observable bound
    assert route_i_bound(0.0, 0.0, 10**9, 10**9, loss_bound=1.0).total > 0
    assert route_ii_bound(0.02, 0.0, 0.0, 10**9, 10**9, loss_bound=1.0).certifies_improvement


def test_bounds_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="delta"):
        route_i_bound(0.1, 0.0, 10, 10, loss_bound=1.0, delta=0.25)
    with pytest.raises(ValueError, match="delta"):
        route_ii_bound(0.1, 0.0, 0.0, 10, 10, loss_bound=1.0, delta=1.0)
    with pytest.raises(ValueError, match="complexity"):
        route_i_bound(0.1, -0.1, 10, 10, loss_bound=1.0)
    with pytest.raises(ValueError, match="n must be > 0"):
        route_i_bound(0.1, 0.0, 0, 10, loss_bound=1.0)
    with pytest.raises(ValueError, match="loss_bound"):
        route_ii_bound(0.1, 0.0, 0.0, 10, 10, loss_bound=0.0)
    with pytest.raises(ValueError, match="margin"):
        route_i_bound(float("nan"), 0.0, 10, 10, loss_bound=1.0)
    with pytest.raises(ValueError, match="form"):
        route_ii_bound(0.1, 0.0, 0.0, 10, 10, loss_bound=1.0, form="two_sided")


@pytest.mark.parametrize("device", DEVICES)
def test_pipeline_runs_on_device(device: str) -> None:
    toy_d = make_expansion_toy(n=200, n_test=50, seed=1, device=device)
    exp = insert_block(toy_d.model, 1, 16)
    jb = jumpboard(exp, 1, toy_d.X, toy_d.y)
    assert jb.model.blocks[1].linear2.weight.device.type == device
    assert jb.realized_decrease > 0


# ----------------------------------------------------------------------------------------------- the array rule


def test_numpy_data_gives_numpy_arrays_and_the_same_numbers(toy, expanded) -> None:
    X, y = toy.X.numpy(), toy.y.numpy()
    for fn in (backprop_residual, descent_matrix):
        out = fn(expanded, 1, X, y)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, fn(expanded, 1, toy.X, toy.y).numpy(), rtol=1e-12, atol=1e-15)
    for fn in (output_gradient, block_features):
        assert isinstance(fn(expanded, 1, X), np.ndarray)
    r = risk_along_ray(expanded, 1, toy.X, toy.y, torch.ones(16, 64, dtype=torch.float64) / 32,
                       torch.tensor([0.0, 0.01]))
    assert isinstance(r, torch.Tensor) and r.shape == (2,)
    with pytest.raises(ValueError, match="Complex data not supported"):
        backprop_residual(expanded, 1, X + 1j, y)


def test_merged_variants_take_either_a_model_or_factors(toy, expanded) -> None:
    rho = backprop_residual(expanded, 1, toy.X, toy.y)
    phi = block_features(expanded, 1, toy.X)
    torch.testing.assert_close(descent_matrix(rho=rho, phi=phi), descent_matrix(expanded, 1, toy.X, toy.y))
    with pytest.raises(ValueError, match="not both"):
        descent_matrix(expanded, 1, toy.X, toy.y, rho=rho, phi=phi)
    with pytest.raises(ValueError, match="both rho and phi"):
        descent_matrix(rho=rho)
    rt = output_gradient(expanded, 1, toy.X)
    closed = linearized_rademacher(rho_tilde=rt, phi=phi, radius=1.0, n_draws=0)
    full = linearized_rademacher(expanded, 1, toy.X, radius=1.0, n_draws=20)
    assert closed.bound == pytest.approx(full.bound, rel=1e-12)
    assert closed.monte_carlo is None and np.isnan(closed.ratio) and full.monte_carlo is not None
    with pytest.raises(ValueError, match="n_draws"):
        linearized_rademacher(rho_tilde=rt, phi=phi, radius=1.0, n_draws=1)
    with pytest.raises(ValueError, match="not both"):
        linearized_rademacher(expanded, 1, toy.X, radius=1.0, rho_tilde=rt, phi=phi)
    with pytest.raises(ValueError, match="method"):
        directional_derivative(expanded, 1, toy.X, toy.y, rt[:1].T @ phi[:1], method="symbolic")
