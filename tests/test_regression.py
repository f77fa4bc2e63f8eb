"""Tests of resntk.regression against independent references: scipy.linalg.expm, direct solves and least squares,
an explicit gradient-descent loop, scikit-learn's KernelRidge, finite differences and scipy.stats.linregress."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import cross_val_score

from resntk.regression import (
    GradientFlowRegressor,
    early_stopping_by_validation,
    excess_risk,
    fit_rate,
    select_stopping_time,
    theoretical_stopping_time,
)


def ntk2(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Two-layer ReLU NTK on the sphere, 1/2 (kappa1(rho) + rho kappa0(rho)) (note §3.7), inline."""
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
def test_eigen_path_equals_expm(problem, time_scale, s):
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


def test_kernel_ridge_agreement_where_the_filters_coincide():
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
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, pre, atol=1e-10)
    # a precomputed torch Gram gives the same numbers
    np.testing.assert_allclose(GradientFlowRegressor().fit(torch.tensor(K), y).predict(torch.tensor(Kt), t=1.0),
                               pre[0], atol=1e-12)


def test_factored_and_explicit_eigenbases_agree(problem, monkeypatch):
    # the CPU path keeps U = Q S factored (dsytrd + MRRR + dormqr); off the CPU U comes from torch.linalg.eigh.
    # Run the explicit path on the CPU to check the two against each other, and the factored one against eigh.
    import resntk.regression as reg

    X, Xt, y, K, Kt = problem
    Y = np.stack([y, X[:, 0]], axis=1)
    times = np.array([0.5, 20.0, np.inf])
    factored = GradientFlowRegressor().fit(K, Y)
    assert isinstance(factored._basis, reg._TridiagonalBasis)
    np.testing.assert_allclose(factored.eigenvalues_, np.linalg.eigvalsh(K), rtol=0, atol=1e-12)
    U = np.linalg.eigh(K)[1]
    M = np.random.default_rng(0).standard_normal((40, 3))
    np.testing.assert_allclose(np.abs(factored._basis.to_eig(torch.tensor(M)).numpy()), np.abs(U.T @ M),
                               atol=1e-8)   # eigenvectors agree up to sign (eigenvalues here are simple)
    np.testing.assert_allclose(factored._basis.from_eig(factored._basis.to_eig(torch.tensor(M))).numpy(), M,
                               atol=1e-12)  # orthogonal
    monkeypatch.setattr(reg, "_eigen_basis", reg._ExplicitBasis)
    explicit = GradientFlowRegressor().fit(K, Y)
    for many in (Kt, Kt[:1]):                       # both contraction orders
        np.testing.assert_allclose(explicit.predict(many, t=times), factored.predict(many, t=times), atol=1e-10)
        np.testing.assert_allclose(explicit.predict(many, steps=[3, 300]), factored.predict(many, steps=[3, 300]),
                                   atol=1e-10)


@pytest.fixture(scope="module")
def larger_problem():
    # n >= SPLIT_MIN_SIZE: the CPU path keeps the tridiagonal eigenvectors as a divide-and-conquer tree
    X, Xt = sphere(320, 3, 11), sphere(60, 3, 12)
    noise = 0.1 * np.random.default_rng(13).standard_normal((320, 2))
    Y = np.stack([np.sin(3 * X[:, 0]), X[:, 1] * X[:, 2]], axis=1) + noise
    return X, Xt, Y, ntk2(X, X), ntk2(Xt, X)


def test_divide_and_conquer_basis_matches_explicit_eigh(larger_problem, monkeypatch):
    import resntk._tridiagonal as tri
    import resntk.regression as reg

    X, Xt, Y, K, Kt = larger_problem
    times = np.r_[np.geomspace(1e-2, 1e5, 7), np.inf]
    factored = GradientFlowRegressor().fit(K, Y)
    assert isinstance(factored._basis._eig, tri._Split)
    np.testing.assert_allclose(factored.eigenvalues_, np.clip(np.linalg.eigvalsh(K), 0, None), rtol=0, atol=1e-12)
    monkeypatch.setattr(reg, "_eigen_basis", reg._ExplicitBasis)
    explicit = GradientFlowRegressor().fit(K, Y)
    np.testing.assert_allclose(factored.predict(Kt, t=times), explicit.predict(Kt, t=times), rtol=0, atol=1e-10)
    np.testing.assert_allclose(factored.predict(Kt, steps=[1, 40, 4000]), explicit.predict(Kt, steps=[1, 40, 4000]),
                               rtol=0, atol=1e-10)


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
# scikit-learn conventions
# ---------------------------------------------------------------------------------------------------------------

def test_get_set_params_and_clone(problem):
    X, Xt, y, K, Kt = problem
    model = GradientFlowRegressor(t=3.0, time_scale="none", lr=0.1)
    params = model.get_params()
    assert params == {"kernel": "precomputed", "t": 3.0, "time_scale": "none", "lr": 0.1, "rcond": 1e-12,
                      "device": None}
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
    with pytest.raises(ValueError, match="y must have n = 40"):
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
    with pytest.raises(RuntimeError, match="not fitted"):
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


def test_fit_rate_matches_linregress_and_its_interval_covers():
    rng = np.random.default_rng(0)
    n = np.repeat([100, 200, 400, 800, 1600], 3)
    err = 2.0 * n ** -0.7 * np.exp(0.1 * rng.standard_normal(n.size))
    fit = fit_rate(n, err)
    ref = stats.linregress(np.log(n), np.log(err))
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)
    half = stats.t.ppf(0.975, n.size - 2) * ref.stderr
    assert (fit.ci_low, fit.ci_high) == pytest.approx((ref.slope - half, ref.slope + half), rel=1e-10)
    np.testing.assert_allclose(fit.predict(n), np.exp(ref.intercept) * n ** ref.slope)
    # an exact power law is recovered exactly, with a zero-width interval
    exact = fit_rate([10, 20, 40, 80], [5 * k ** -0.5 for k in (10, 20, 40, 80)])
    assert exact.slope == pytest.approx(-0.5, abs=1e-12) and exact.ci_high - exact.ci_low < 1e-10
    # the 90 % interval covers the true slope in about 90 % of simulated experiments
    u = np.log(np.array([100, 200, 400, 800, 1600]))
    hits = 0
    for _ in range(2000):
        e = np.exp(1.0 - 0.6 * u + 0.2 * rng.standard_normal(u.size))
        r = fit_rate(np.exp(u), e, confidence=0.9)
        hits += r.ci_low <= -0.6 <= r.ci_high
    assert 0.87 < hits / 2000 < 0.93


def test_fit_rate_validation():
    with pytest.raises(ValueError, match="at least 3"):
        fit_rate([1, 2], [1, 2])
    with pytest.raises(ValueError, match="err must be positive"):
        fit_rate([1, 2, 3], [1, 0, 2])
    with pytest.raises(ValueError, match="distinct"):
        fit_rate([5, 5, 5], [1, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        fit_rate([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="confidence"):
        fit_rate([1, 2, 3], [1, 2, 3], confidence=1.0)
