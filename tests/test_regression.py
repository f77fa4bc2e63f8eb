"""Tests of resntk.regression against independent references: scipy.linalg.expm, direct solves and least squares,
an explicit gradient-descent loop, scikit-learn's KernelRidge, finite differences and scipy.stats.linregress."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from resntk.regression import (
    GradientFlowRegressor,
    early_stopping_by_validation,
    excess_risk,
    lr_from_ntk,
    select_stopping_time,
    theoretical_stopping_time,
)


def ntk2(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Two-layer ReLU NTK on the sphere, 1/2 (kappa1(rho) + rho kappa0(rho)), inline (an independent reference)."""
    rho = np.clip(np.asarray(X1) @ np.asarray(X2).T, -1.0, 1.0)
    k0 = (np.pi - np.arccos(rho)) / np.pi
    k1 = (rho * (np.pi - np.arccos(rho)) + np.sqrt(1.0 - rho * rho)) / np.pi
    return 0.5 * (k1 + rho * k0)


def sphere(n: int, d: int, seed: int) -> np.ndarray:
    Z = np.random.default_rng(seed).standard_normal((n, d))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def problem():
    X = sphere(40, 3, 0)
    Xt = sphere(15, 3, 1)
    y = np.sin(3 * X[:, 0]) + X[:, 1] + 0.1 * np.random.default_rng(2).standard_normal(40)
    return X, Xt, y, ntk2(X, X), ntk2(Xt, X)


def reference_flow(K, Kt, y, t, s):
    """f_t = K(x,X) K^{-1} (I - expm(-t K / s)) y, with scipy's expm applied to the matrix directly."""
    n = K.shape[0]
    return Kt @ np.linalg.solve(K, (np.eye(n) - sla.expm(-(t / s) * K)) @ y)


# ---------------------------------------------------------------------------------------------------------------
# the prediction formula
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("time_scale,s", [("n", 40.0), ("none", 1.0), (7.5, 7.5)])
def test_kreg_prop_closed_form_equals_expm(problem, time_scale, s):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor(time_scale=time_scale).fit(K, y)
    for t in (0.3, 5.0, 80.0, 2000.0):
        ref = reference_flow(K, Kt, y, t, s)
        np.testing.assert_allclose(model.predict(Kt, t=t), ref, rtol=0, atol=1e-10 * np.abs(ref).max() + 1e-12)


def test_t_to_zero_gives_zero_with_the_right_slope(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor().fit(K, y)
    assert np.array_equal(model.predict(Kt, t=0.0), np.zeros(len(Xt)))
    # first order: f_t = (t/n) K(x, X) y + O(t^2), a finite-difference check of the derivative at 0
    for t in (1e-3, 1e-5):
        np.testing.assert_allclose(model.predict(Kt, t=t) / t, Kt @ y / len(y), rtol=2 * t * np.linalg.eigvalsh(K)[-1])


def test_t_infinity_is_the_interpolant(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor().fit(K, y)
    ref = Kt @ sla.solve(K, y, assume_a="pos")
    np.testing.assert_allclose(model.predict(Kt, t=np.inf), ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.predict(K, t=np.inf), y, rtol=0, atol=1e-8)   # interpolates
    # and the flow reaches it: large finite t approaches t = inf
    lam_min = np.linalg.eigvalsh(K)[0]
    t_big = 40 * 60 / lam_min
    np.testing.assert_allclose(model.predict(Kt, t=t_big), ref, atol=1e-8 * max(1, np.abs(ref).max()))


def test_t_infinity_on_a_singular_gram_is_the_minimum_norm_solution():
    # linear kernel with n > d: rank d Gram; the minimum-norm interpolant is least-squares linear regression
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4))
    Xt = rng.standard_normal((10, 4))
    y = rng.standard_normal(30)
    model = GradientFlowRegressor(kernel=lambda A, B: A @ B.T).fit(X, y)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(model.predict(Xt, t=np.inf), Xt @ beta, atol=1e-10)
    assert (model.eigenvalues_ >= 0).all()        # rounding negatives clipped
    # and gradient flow converges to the same function (the null space never moves)
    np.testing.assert_allclose(model.predict(Xt, t=1e9), Xt @ beta, atol=1e-6)


def test_discrete_gd_matches_an_explicit_loop_and_converges_to_the_flow(problem):
    X, Xt, y, K, Kt = problem
    n = len(y)
    model = GradientFlowRegressor(lr=0.5 * n / np.linalg.eigvalsh(K)[-1]).fit(K, y)
    # explicit kernel GD in coefficient space: c <- c - (eta/n) (K c - y), f = K(x, X) c
    c = np.zeros(n)
    for _ in range(37):
        c = c - (model.lr_ / n) * (K @ c - y)
    np.testing.assert_allclose(model.predict(Kt, steps=37), Kt @ c, atol=1e-12)
    np.testing.assert_allclose(model.dual_coef(steps=37), c, atol=1e-12)
    # shrinking the step at fixed t = k eta: the error to the flow falls like eta
    t = 50.0
    flow = model.predict(Kt, t=t)
    errors = []
    for k in (10, 100, 1000):
        gd = GradientFlowRegressor(lr=t / k).fit(K, y)
        errors.append(np.abs(gd.predict(Kt, steps=k) - flow).max())
    assert errors[0] > errors[1] > errors[2]
    assert 5 < errors[0] / errors[1] < 20 and 5 < errors[1] / errors[2] < 20
    assert errors[2] < 1e-3


def test_gd_default_step_and_stability_bound(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor().fit(K, y)
    assert model.lr_ == pytest.approx(len(y) / np.linalg.eigvalsh(K)[-1], rel=1e-12)
    # with eta = n / lambda_max many steps converge to the interpolant
    np.testing.assert_allclose(model.predict(K, steps=10**7), y, atol=1e-6)
    unstable = GradientFlowRegressor(lr=2.01 * model.lr_).fit(K, y)
    with pytest.raises(ValueError, match="lr"):
        unstable.predict(Kt, steps=5)
    # the flow needs no step size, so it still works
    unstable.predict(Kt, t=1.0)


def test_kreg_prop_ridge_agreement_where_the_filters_coincide():
    # Gram = c * I: a single eigenvalue lambda = c, where the flow filter (1 - e^{-lambda t/n})/lambda equals the
    # ridge filter 1/(lambda + a) for a = lambda / (e^{lambda t/n} - 1).
    rng = np.random.default_rng(4)
    n, d, c = 12, 20, 3.0
    Q = np.linalg.qr(rng.standard_normal((d, n)))[0].T          # orthonormal rows
    X = np.sqrt(c) * Q
    Xt = rng.standard_normal((9, d))
    K, Kt = X @ X.T, Xt @ X.T
    y = rng.standard_normal((n, 2))
    model = GradientFlowRegressor().fit(K, y)
    for t in (0.5, 4.0, 30.0):
        a = c / np.expm1(c * t / n)
        krr = KernelRidge(kernel="precomputed", alpha=a).fit(K, y)
        np.testing.assert_allclose(model.predict(Kt, t=t), krr.predict(Kt), rtol=1e-12, atol=1e-13)
    # and the common limit: t = inf against a vanishing ridge, on a generic kernel
    X2 = sphere(25, 3, 5)
    K2 = ntk2(X2, X2)
    y2 = X2[:, 0] ** 2
    krr = KernelRidge(kernel="precomputed", alpha=1e-12).fit(K2, y2)
    flow = GradientFlowRegressor().fit(K2, y2)
    np.testing.assert_allclose(flow.predict(ntk2(X2[:5] * 0.9, X2), t=np.inf),
                               krr.predict(ntk2(X2[:5] * 0.9, X2)), atol=1e-6)


def test_multi_output_equals_columnwise(problem):
    X, Xt, y, K, Kt = problem
    Y = np.stack([y, np.cos(X[:, 2]), -2 * y], axis=1)
    times = np.array([0.0, 1.0, 30.0, np.inf])
    multi = GradientFlowRegressor().fit(K, Y).predict(Kt, t=times)
    assert multi.shape == (4, len(Xt), 3)
    for j in range(3):
        single = GradientFlowRegressor().fit(K, Y[:, j]).predict(Kt, t=times)
        np.testing.assert_allclose(multi[..., j], single, rtol=1e-12, atol=1e-13)


def test_time_array_has_the_leading_axis_and_both_contraction_orders_agree(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor().fit(K, y)
    times = np.geomspace(0.1, 1e4, 30)                 # T k = 30 > m = 15: the projected-Gram branch
    many = model.predict(Kt, t=times)
    few = model.predict(Kt[:15], t=times[:3])          # T k = 3 <= m: the coefficient branch
    assert many.shape == (30, 15)
    for i, t in enumerate(times):
        np.testing.assert_allclose(many[i], model.predict(Kt, t=t), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(few, many[:3], rtol=1e-11, atol=1e-13)
    assert model.predict(Kt, t=np.float64(2.0)).shape == (15,)
    assert model.predict(Kt, t=[2.0]).shape == (1, 15)


def test_time_scale_conventions_rescale_time(problem):
    X, Xt, y, K, Kt = problem
    n = len(y)
    by_n = GradientFlowRegressor(time_scale="n").fit(K, y).predict(Kt, t=[3.0, 40.0])
    plain = GradientFlowRegressor(time_scale="none").fit(K, y).predict(Kt, t=[3.0 / n, 40.0 / n])
    one = GradientFlowRegressor(time_scale=1).fit(K, y).predict(Kt, t=[3.0 / n, 40.0 / n])
    np.testing.assert_allclose(by_n, plain, rtol=1e-12)
    np.testing.assert_allclose(plain, one, rtol=1e-15)


def test_callable_kernel_numpy_and_torch_inputs(problem):
    X, Xt, y, K, Kt = problem
    pre = GradientFlowRegressor().fit(K, y).predict(Kt, t=[1.0, np.inf])
    seen = []

    def kernel(A, B):
        seen.append((type(A), A.dtype))
        if isinstance(A, torch.Tensor):
            return torch.as_tensor(ntk2(A.numpy(), B.numpy()))
        return ntk2(A, B)

    from_numpy = GradientFlowRegressor(kernel=kernel).fit(X, y).predict(Xt, t=[1.0, np.inf])
    np.testing.assert_allclose(from_numpy, pre, atol=1e-10)
    # float32 inputs reach the kernel as float64 (the interpolant is ill-conditioned, so compare at t = 1 only)
    single = GradientFlowRegressor(kernel=kernel).fit(X.astype(np.float32), y).predict(Xt, t=1.0)
    assert all(dtype in (np.float64, torch.float64) for _, dtype in seen)
    np.testing.assert_allclose(single, pre[0], atol=1e-6)
    from_torch = GradientFlowRegressor(kernel=kernel, device="cpu").fit(torch.tensor(X), torch.tensor(y))
    out = from_torch.predict(torch.tensor(Xt), t=[1.0, np.inf])
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64  # the array rule: torch in, torch out
    np.testing.assert_allclose(out, pre, atol=1e-10)
    # a precomputed torch Gram gives the same numbers
    np.testing.assert_allclose(GradientFlowRegressor().fit(torch.tensor(K), y).predict(torch.tensor(Kt), t=1.0),
                               pre[0], atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_training_sets(n):
    X = sphere(n, 3, 7)
    Xt = sphere(4, 3, 8)
    y = np.arange(1.0, n + 1)
    model = GradientFlowRegressor(kernel=ntk2).fit(X, y)
    for t in (0.7, 50.0):
        np.testing.assert_allclose(model.predict(Xt, t=t), reference_flow(ntk2(X, X), ntk2(Xt, X), y, t, n),
                                   atol=1e-12)
    np.testing.assert_allclose(model.predict(X, t=np.inf), y, atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(problem):
    X, Xt, y, K, Kt = problem
    cpu = GradientFlowRegressor().fit(K, y).predict(Kt, t=[1.0, 50.0, np.inf])
    gpu = GradientFlowRegressor(device="cuda").fit(K, y).predict(Kt, t=[1.0, 50.0, np.inf])
    np.testing.assert_allclose(gpu, cpu, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# discrete gradient descent (what a GD-trained wide network tracks) and its step
# ---------------------------------------------------------------------------------------------------------------

def psd(n: int, rank: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(n, rank or n, generator=g, dtype=torch.float64)
    Bt = torch.randn(4, rank or n, generator=g, dtype=torch.float64)
    return B @ B.T, Bt @ B.T


def iterate_kernel_gd(K, Kx, y, lr, steps):
    """Kernel gradient descent, literally: f <- f - (eta/n) Theta(., X)(f(X) - y) from f = 0 (Definition
    `kreg-def-flow`, discretised)."""
    n = K.shape[0]
    f, fx = torch.zeros_like(y), torch.zeros(Kx.shape[0], *y.shape[1:], dtype=y.dtype)
    for _ in range(steps):
        r = f - y
        f, fx = f - lr / n * K @ r, fx - lr / n * Kx @ r
    return fx


@pytest.mark.parametrize("rank", [None, 3])
def test_kernel_gd_closed_form_matches_the_iteration(rank):
    K, Kx = psd(9, rank)
    y = torch.randn(9, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    lr = 1.7 * lr_from_ntk(K)
    steps = [0, 1, 7, 60]
    got = GradientFlowRegressor(lr=lr).fit(K, y).predict(Kx, steps=steps)
    assert got.shape == (4, 4, 2) and isinstance(got, torch.Tensor)
    for s, g in zip(steps, got):
        torch.testing.assert_close(g, iterate_kernel_gd(K, Kx, y, lr, s), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(GradientFlowRegressor(lr=lr).fit(K, y[:, 0]).predict(Kx, steps=7), got[2][:, 0])


def test_kernel_gd_tends_to_interpolation_and_to_gradient_flow():
    K, Kx = psd(6, seed=2)
    y = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lr = lr_from_ntk(K)
    interp = Kx @ torch.linalg.solve(K, y)
    far = GradientFlowRegressor(lr=lr).fit(K, y).predict(Kx, steps=200_000)
    torch.testing.assert_close(far, interp, rtol=1e-6, atol=1e-6)
    # small steps: discrete GD -> gradient flow f_t = Kx K^-1 (I - exp(-t K / n)) y with t = k * eta
    small, k = lr / 1000, 3000
    t = small * k
    flow = Kx @ torch.linalg.solve(K, (torch.eye(6, dtype=torch.float64)
                                       - torch.from_numpy(sla.expm(-t * K.numpy() / 6))) @ y)
    torch.testing.assert_close(GradientFlowRegressor(lr=small).fit(K, y).predict(Kx, steps=k), flow, rtol=2e-3,
                               atol=2e-3)


def test_lr_from_ntk_is_n_over_lambda_max_and_kills_the_top_mode_in_one_step():
    K, _ = psd(7, seed=4)
    lam, U = np.linalg.eigh(K.numpy())
    lr = lr_from_ntk(K)
    assert lr == pytest.approx(7 / lam[-1], rel=1e-12)
    assert lr_from_ntk(K, n=3) == pytest.approx(3 / lam[-1], rel=1e-12)
    y = torch.from_numpy(U[:, -1].copy())  # target along the top eigenvector is fitted after one step
    torch.testing.assert_close(GradientFlowRegressor(lr=lr).fit(K, y).predict(K, steps=1), y, rtol=1e-12,
                               atol=1e-12)


def test_kernel_gd_and_lr_errors():
    K, Kx = psd(5)
    y = torch.ones(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="ntk_train"):
        lr_from_ntk(torch.ones(3, 4))
    with pytest.raises(ValueError, match="symmetric"):
        lr_from_ntk(torch.triu(K))
    with pytest.raises(ValueError, match="ntk_train"):
        lr_from_ntk(-K)
    with pytest.raises(ValueError, match="finite"):
        lr_from_ntk(torch.full((2, 2), float("nan")))
    with pytest.raises(ValueError, match="n must"):
        lr_from_ntk(K, n=0)
    model = GradientFlowRegressor(lr=0.1).fit(K, y)
    with pytest.raises(ValueError, match="n_train=5"):
        model.predict(Kx[:, :3], steps=3)
    with pytest.raises(ValueError, match="y must"):
        GradientFlowRegressor(lr=0.1).fit(K, torch.ones(4))
    with pytest.raises(ValueError, match="steps"):
        model.predict(Kx, steps=-1)
    with pytest.raises(ValueError, match="stability bound"):
        GradientFlowRegressor(lr=2.5 * lr_from_ntk(K)).fit(K, y).predict(Kx, steps=3)
    with pytest.raises(ValueError, match="lr"):
        GradientFlowRegressor(lr=float("nan")).fit(K, y)


# ---------------------------------------------------------------------------------------------------------------
# singular and indefinite Gram matrices, complex data, and the array rule
# ---------------------------------------------------------------------------------------------------------------

def test_rank_one_gram_gives_finite_predictions_equal_to_the_pseudo_inverse_for_every_large_t():
    """Eigenvalues at rounding level are zero: their filter is 0, not t/n, so no time amplifies rounding (t = 1e300
    used to give 1e284) and t = inf is the minimum-norm interpolant K K^+ y (Chapter 7, Theorem
    `minimax-thm-interpolation`)."""
    v = np.array([1.0, 2.0, 3.0, 4.0])
    K = np.outer(v, v)
    y = np.array([1.0, -1.0, 0.5, 2.0])
    model = GradientFlowRegressor().fit(K, y)
    pinv = K @ np.linalg.pinv(K) @ y
    pred = model.predict(K, t=[1e12, 1e300, np.inf])
    assert np.isfinite(pred).all() and model.rank_ == 1
    np.testing.assert_allclose(pred, np.broadcast_to(pinv, pred.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.dual_coef(t=np.inf), np.linalg.pinv(K) @ y, rtol=1e-10, atol=1e-12)
    # test points outside the span: the prediction is that of the projected coefficients, at every time
    Kt = np.outer(np.array([0.5, -2.0]), v)
    np.testing.assert_allclose(model.predict(Kt, t=np.inf), Kt @ np.linalg.pinv(K) @ y, rtol=1e-12)
    # gradient descent converges to the same function, in the range of K
    np.testing.assert_allclose(model.predict(K, steps=10**9), pinv, rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=3, max_value=15), st.integers(min_value=1, max_value=3),
       st.integers(min_value=0, max_value=10**6))
def test_low_rank_gram_t_infinity_is_the_pseudo_inverse_solution(n, rank, seed):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, rank)) * np.exp(rng.uniform(-3, 3))
    K = B @ B.T
    y = rng.standard_normal(n)
    model = GradientFlowRegressor().fit(K, y)
    ref = K @ np.linalg.lstsq(K, y, rcond=None)[0]
    scale = np.abs(ref).max() + np.abs(y).max()
    for t in (np.inf, 1e200):
        np.testing.assert_allclose(model.predict(K, t=t), ref, atol=1e-8 * scale)
    assert model.rank_ == rank


@pytest.mark.parametrize("make", [
    lambda K, y: GradientFlowRegressor().fit(K, y),
    lambda K, y: GradientFlowRegressor(lr=1.0).fit(K, y).predict(K, steps=2000),
    lambda K, y: lr_from_ntk(K),
])
def test_indefinite_matrices_are_refused_by_the_estimator_and_by_lr_from_ntk(make):
    """diag(1, 1, 1, 1, -0.5) used to give -6e82 after 2000 steps of kernel GD, and lr_from_ntk accepted it."""
    K = np.diag([1.0, 1.0, 1.0, 1.0, -0.5])
    with pytest.raises(ValueError, match="positive semi-definite"):
        make(K, np.ones(5))
    with pytest.raises(ValueError, match="positive semi-definite"):
        make(torch.tensor(K), torch.ones(5, dtype=torch.float64))


@pytest.mark.parametrize("call", [
    lambda K, y: GradientFlowRegressor().fit(K + 0j, y),
    lambda K, y: GradientFlowRegressor().fit(K, y + 0j),
    lambda K, y: GradientFlowRegressor().fit(K, y).predict(K + 0j, t=1.0),
    lambda K, y: lr_from_ntk(K + 0j),
    lambda K, y: excess_risk(y + 0j, y),
])
def test_complex_data_is_refused_not_silently_truncated(call, problem):
    X, Xt, y, K, Kt = problem
    with pytest.raises(ValueError, match="Complex data not supported"):
        call(K, y)


def test_array_rule_predictions_follow_the_test_inputs(problem):
    X, Xt, y, K, Kt = problem
    numpy_fit = GradientFlowRegressor().fit(K, y)
    torch_fit = GradientFlowRegressor().fit(torch.tensor(K), torch.tensor(y))
    assert isinstance(numpy_fit.eigenvalues_, np.ndarray) and isinstance(torch_fit.eigenvalues_, torch.Tensor)
    a, b = numpy_fit.predict(Kt, t=[1.0, 5.0]), numpy_fit.predict(torch.tensor(Kt), t=[1.0, 5.0])
    assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor) and b.dtype == torch.float64
    np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_allclose(torch_fit.predict(Kt, t=[1.0, 5.0]), a, rtol=1e-12, atol=1e-14)
    assert isinstance(excess_risk(b, torch.tensor(y[:15])), torch.Tensor)
    assert isinstance(excess_risk(a, y[:15]), np.ndarray)


def test_constructor_steps_is_the_default_of_predict(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor(steps=17).fit(K, y)
    np.testing.assert_array_equal(model.predict(Kt), model.predict(Kt, steps=17))
    with pytest.raises(ValueError, match="at most one"):
        GradientFlowRegressor(t=1.0, steps=3).fit(K, y)


def test_larger_problem_matches_expm_with_many_times_and_outputs():
    X, Xt = sphere(320, 3, 11), sphere(60, 3, 12)
    Y = np.stack([np.sin(3 * X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    K, Kt = ntk2(X, X), ntk2(Xt, X)
    model = GradientFlowRegressor().fit(K, Y)
    times = np.r_[np.geomspace(1e-2, 1e4, 7), np.inf]
    many = model.predict(Kt, t=times)
    for i, t in enumerate(times[:-1]):
        ref = reference_flow(K, Kt, Y, t, 320.0)
        np.testing.assert_allclose(many[i], ref, atol=1e-9 * np.abs(ref).max())
    interpolant = Kt @ np.linalg.pinv(K, rcond=320 * np.finfo(float).eps, hermitian=True) @ Y
    np.testing.assert_allclose(many[-1], interpolant, atol=1e-6 * np.abs(interpolant).max())


# ---------------------------------------------------------------------------------------------------------------
# scikit-learn conventions
# ---------------------------------------------------------------------------------------------------------------

def test_get_set_params_and_clone(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor(t=3.0, time_scale="none", lr=0.1)
    params = model.get_params()
    assert params == {"kernel": "precomputed", "t": 3.0, "steps": None, "time_scale": "none", "lr": 0.1,
                      "rcond": None, "device": None}
    assert model.set_params(t=5.0) is model and model.t == 5.0
    fitted = model.fit(K, y)
    assert fitted is model and hasattr(model, "eigenvalues_")
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "eigenvalues_")
    np.testing.assert_allclose(twin.fit(K, y).predict(Kt), model.predict(Kt, t=5.0))


def test_score_and_cross_validation_with_a_precomputed_kernel(problem):
    X, Xt, y, K, Kt = problem
    pre = cross_val_score(GradientFlowRegressor(t=20.0), K, y, cv=4)
    direct = cross_val_score(GradientFlowRegressor(kernel=ntk2, t=20.0), X, y, cv=4)
    np.testing.assert_allclose(pre, direct, rtol=1e-10)   # the pairwise tag makes CV slice K correctly


def test_eigenvalues_and_fitted_attributes(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor().fit(K, y)
    np.testing.assert_allclose(model.eigenvalues_, np.linalg.eigvalsh(K), atol=1e-12)
    assert model.n_train_ == 40 and model.n_outputs_ == 1 and model.time_scale_ == 40.0
    assert model.lambda_max_ == pytest.approx(np.linalg.eigvalsh(K)[-1])


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=2, max_value=12), st.integers(min_value=0, max_value=10**6))
def test_training_residual_decreases_monotonically(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n + 1))
    K = A @ A.T
    y = rng.standard_normal(n)
    model = GradientFlowRegressor().fit(K, y)
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e6, 25)])
    resid = np.linalg.norm(model.predict(K, t=times) - y, axis=1)
    # the training residual is e^{-tK/n} y: its norm can only shrink
    assert np.all(np.diff(resid) <= 1e-9 * (1 + resid[:-1]))
    assert resid[0] == pytest.approx(np.linalg.norm(y))


# ---------------------------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------------------------

def test_input_validation_names_the_argument(problem):
    X, Xt, y, K, Kt = problem
    with pytest.raises(ValueError, match="square"):
        GradientFlowRegressor().fit(K[:, :10], y)
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        GradientFlowRegressor().fit(K, y[:10])
    bad = K.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="X must contain only finite"):
        GradientFlowRegressor().fit(bad, y)
    with pytest.raises(ValueError, match="y must contain only finite"):
        GradientFlowRegressor().fit(K, np.where(np.arange(40) == 3, np.inf, y))
    asym = K.copy()
    asym[0, 1] += 1e-3
    with pytest.raises(ValueError, match="symmetric"):
        GradientFlowRegressor().fit(asym, y)
    with pytest.raises(ValueError, match="positive semi-definite"):
        GradientFlowRegressor().fit(K - 2 * np.eye(40) * np.linalg.eigvalsh(K)[0] - np.eye(40), y)
    with pytest.raises(ValueError, match="time_scale"):
        GradientFlowRegressor(time_scale="seconds").fit(K, y)
    with pytest.raises(ValueError, match="kernel"):
        GradientFlowRegressor(kernel="rbf").fit(K, y)
    with pytest.raises(TypeError, match="kernel"):
        GradientFlowRegressor(kernel=3).fit(K, y)
    with pytest.raises(ValueError, match="lr"):
        GradientFlowRegressor(lr=-1.0).fit(K, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        GradientFlowRegressor().predict(Kt, t=1.0)
    model = GradientFlowRegressor().fit(K, y)
    with pytest.raises(ValueError, match="n_train=40"):
        model.predict(Kt[:, :30], t=1.0)
    with pytest.raises(ValueError, match="t must be non-negative"):
        model.predict(Kt, t=-1.0)
    with pytest.raises(ValueError, match="t must not contain NaN"):
        model.predict(Kt, t=[1.0, np.nan])
    with pytest.raises(ValueError, match="t must be a scalar or a 1-D"):
        model.predict(Kt, t=np.ones((2, 2)))
    with pytest.raises(ValueError, match="needs a stopping time"):
        model.predict(Kt)
    with pytest.raises(ValueError, match="not both"):
        model.predict(Kt, t=1.0, steps=3)
    with pytest.raises(ValueError, match="steps"):
        model.predict(Kt, steps=2.5)
    with pytest.raises(ValueError, match="steps"):
        model.predict(Kt, steps=np.inf)
    with pytest.raises(ValueError, match=r"kernel\(X1, X2\) must return"):
        GradientFlowRegressor(kernel=lambda A, B: np.ones((len(A), 2))).fit(X, y)


# ---------------------------------------------------------------------------------------------------------------
# early stopping, risk and rates
# ---------------------------------------------------------------------------------------------------------------

def test_select_stopping_time_is_the_argmin_of_an_independent_loop(problem):
    X, Xt, y, K, Kt = problem
    f_star = np.sin(3 * Xt[:, 0]) + Xt[:, 1]
    model = GradientFlowRegressor().fit(K, y)
    times = np.geomspace(0.1, 1e5, 25)
    result = select_stopping_time(model, Kt, f_star, times)
    loop = [np.mean((model.predict(Kt, t=t) - f_star) ** 2) for t in times]
    np.testing.assert_allclose(result.errors, loop, rtol=1e-12)
    assert result.index == int(np.argmin(loop)) and result.best == times[result.index]
    assert result.best_error == pytest.approx(min(loop))
    gd = select_stopping_time(model, Kt, f_star, steps=[1, 10, 100, 1000])
    assert gd.times.tolist() == [1, 10, 100, 1000] and gd.errors.shape == (4,)
    with pytest.raises(ValueError, match="y_val"):
        select_stopping_time(model, Kt, f_star[:3], times)
    with pytest.raises(ValueError, match="exactly one"):
        select_stopping_time(model, Kt, f_star)


def test_early_stopping_by_validation_precomputed_equals_callable(problem):
    X, Xt, y, K, Kt = problem
    times = np.geomspace(0.1, 1e5, 20)
    m1, r1 = early_stopping_by_validation(GradientFlowRegressor(), K, y, times, val_fraction=0.25, seed=1)
    m2, r2 = early_stopping_by_validation(GradientFlowRegressor(kernel=ntk2), X, y, times, val_fraction=0.25, seed=1)
    np.testing.assert_allclose(r1.errors, r2.errors, rtol=1e-10)
    assert m1.t == r1.best == m2.t and m1.n_train_ == 30
    # the returned model predicts at the selected time by default; the cross Gram is against its 30 points
    np.testing.assert_allclose(m2.predict(Xt), m2.predict(Xt, t=r2.best))
    with pytest.raises(ValueError, match="val_fraction"):
        early_stopping_by_validation(GradientFlowRegressor(), K, y, times, val_fraction=1.5)


def test_theoretical_stopping_time():
    assert theoretical_stopping_time(1000, 2) == pytest.approx(100.0)          # n^{2/3}
    assert theoretical_stopping_time(32, 3) == pytest.approx(32 ** 0.6)        # n^{3/5}
    assert theoretical_stopping_time(10**6, 10, scale=2.0) == pytest.approx(2 * 10 ** (6 * 10 / 19))
    with pytest.raises(ValueError, match="dim"):
        theoretical_stopping_time(100, 1)
    with pytest.raises(ValueError, match="n must"):
        theoretical_stopping_time(0, 3)
    with pytest.raises(ValueError, match="scale"):
        theoretical_stopping_time(10, 3, scale=-1.0)


def test_excess_risk():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((6, 3))
    p = rng.standard_normal((4, 6, 3))
    assert excess_risk(p[0], f) == pytest.approx(((p[0] - f) ** 2).sum() / 18)
    np.testing.assert_allclose(excess_risk(p, f), [((q - f) ** 2).sum() / 18 for q in p])
    with pytest.raises(ValueError, match="pred must have shape"):
        excess_risk(p[:, :5], f)
    with pytest.raises(ValueError, match="pred must contain only finite"):
        excess_risk(np.full((6, 3), np.nan), f)


# ---------------------------------------------------------------------------------------------------------------
# scikit-learn's estimator checks
# ---------------------------------------------------------------------------------------------------------------

class _LinearPlusOne:
    """A PSD callable kernel on (n, d) inputs, in NumPy (the container scikit-learn's checks pass).

    A class with a fixed repr, so that the checks' test ids are the same in every process (pytest-xdist).
    """

    def __call__(self, A, B):
        return np.asarray(A) @ np.asarray(B).T + 1.0

    def __repr__(self) -> str:
        return "linear_plus_one"


#: Checks that do not apply to a precomputed kernel, with the reason; everything else must pass.
PRECOMPUTED_SKIPS = {
    "check_positive_only_tag_during_fit": "subtracts the mean from the Gram matrix, which makes it indefinite; a "
                                          "precomputed kernel must be positive semi-definite and is refused",
    "check_estimators_dtypes": "truncates the Gram matrix to integers, which makes it indefinite (lambda_min = -2); "
                               "refused for the same reason",
}


def _expected_failures(estimator):
    return PRECOMPUTED_SKIPS if estimator.kernel == "precomputed" else {}


@parametrize_with_checks([GradientFlowRegressor(t=5.0), GradientFlowRegressor(kernel=_LinearPlusOne(), t=5.0)],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
