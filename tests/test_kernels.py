"""Tests of resntk.kernels against independent references (book, Chapter 4 "The residual NTK derived", Chapters 5-6
and Appendix A).

References used here, none of them the code under test:
- the raw NumPy recursion of Proposition `rntk-prop-forward`, transcribed directly (``raw_recursion``);
- the backward-sum form of Proposition `rntk-prop-backward` with all layers stored (``backward_form``);
- scipy quadrature of the Gaussian identities of Proposition `rntk-prop-gaussian`;
- 40-digit mpmath evaluation of the recursion (deep kernels);
- reference values computed independently for the book's tables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from resntk.kernels import (
    ResidualKernel,
    ResidualKernelTable,
    infinite_depth_ntk,
    kappa0,
    kappa1,
    ode_kernel,
    residual_ntk,
    residual_ntk_scalar,
    two_layer_ntk,
)

GRID = np.array([-0.9, -0.5, 0.0, 0.5, 0.9, 0.99])


# ------------------------------------------------------------------------------------------------------------------
# Independent references
# ------------------------------------------------------------------------------------------------------------------


def _np_kappa0(u):
    u = np.clip(u, -1.0, 1.0)
    return (np.pi - np.arccos(u)) / np.pi


def _np_kappa1(u):
    u = np.clip(u, -1.0, 1.0)
    return (u * (np.pi - np.arccos(u)) + np.sqrt(1.0 - u * u)) / np.pi


def raw_recursion(X1, X2, L, alpha, trained="hidden"):
    """The raw recursion of Proposition `rntk-prop-forward` in NumPy, with zero-norm guarding."""
    a2 = alpha**2
    K = X1 @ X2.T
    q1 = (X1 * X1).sum(1)
    q2 = (X2 * X2).sum(1)
    T = K.copy() if trained == "all" else np.zeros_like(K)
    for _ in range(L):
        nrm = np.sqrt(np.outer(q1, q2))
        rho = np.clip(np.divide(K, nrm, out=np.zeros_like(K), where=nrm > 0), -1.0, 1.0)
        S = nrm * _np_kappa1(rho)
        D = _np_kappa0(rho)
        T = T * (1 + a2 * D) + a2 * (S + K * D)
        K = K + a2 * S
        q1 = q1 * (1 + a2)
        q2 = q2 * (1 + a2)
    if trained == "all":
        T = T + K
    return K, T


def backward_form(X1, X2, L, alpha, trained="hidden"):
    """Proposition `rntk-prop-backward`: store K_l for every layer, then G_l = prod_{k>l}(1 + a2 kappa0(rho_{k-1}))
    and the per-layer sum."""
    a2 = alpha**2
    Ks = [X1 @ X2.T]
    q1 = [(X1 * X1).sum(1)]
    q2 = [(X2 * X2).sum(1)]
    rhos = []
    for _ in range(L):
        nrm = np.sqrt(np.outer(q1[-1], q2[-1]))
        rho = np.clip(Ks[-1] / nrm, -1.0, 1.0)
        rhos.append(rho)
        Ks.append(Ks[-1] + a2 * nrm * _np_kappa1(rho))
        q1.append(q1[-1] * (1 + a2))
        q2.append(q2[-1] * (1 + a2))
    G = [None] * (L + 1)
    G[L] = np.ones_like(Ks[0])
    for ell in range(L, 0, -1):
        G[ell - 1] = G[ell] * (1 + a2 * _np_kappa0(rhos[ell - 1]))
    theta = np.zeros_like(Ks[0])
    for ell in range(1, L + 1):
        nrm = np.sqrt(np.outer(q1[ell - 1], q2[ell - 1]))
        rho = rhos[ell - 1]
        theta += a2 * G[ell] * (Ks[ell - 1] * _np_kappa0(rho) + nrm * _np_kappa1(rho))
    if trained == "all":
        theta = theta + G[0] * Ks[0] + Ks[L]
    return Ks[L], theta


def random_points(n, d, seed, log_norm_range=(-1.0, 1.0)):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X * np.exp(rng.uniform(*log_norm_range, size=(n, 1)))


def sphere_pair(rho0):
    return np.array([[1.0, 0.0, 0.0], [rho0, math.sqrt(1 - rho0**2), 0.0]])


# ------------------------------------------------------------------------------------------------------------------
# Arc-cosine functions (Appendix A; Chapter 4, Proposition rntk-prop-gaussian)
# ------------------------------------------------------------------------------------------------------------------


def test_arccos_def_kappa_reference_values():
    u = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=torch.float64)
    np.testing.assert_allclose(kappa0(u), [0, 0.333333, 0.5, 0.666667, 1], atol=1e-6)
    np.testing.assert_allclose(kappa1(u), [0, 0.108998, 0.318310, 0.608998, 1], atol=1e-6)
    # exact ends and centre
    assert kappa0(u)[0].item() == 0.0 and kappa0(u)[-1].item() == 1.0
    assert kappa1(u)[0].item() == 0.0 and kappa1(u)[-1].item() == 1.0
    assert kappa1(0.0).item() == pytest.approx(1 / math.pi, abs=1e-16)
    t = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    assert bool((kappa1(t[:-1]) > t[:-1]).all())  # kappa1(u) >= u with equality only at 1


@pytest.mark.parametrize("rho", [-0.95, -0.4, 0.0, 0.3, 0.8, 0.999])
def test_rntk_prop_gaussian_identities_by_quadrature(rho):
    """2 E[relu(z) relu(z')] = kappa1 and 2 E[step(z) step(z')] = kappa0 for unit Gaussians of correlation rho."""
    s = math.sqrt(1 - rho**2)

    def e_relu_given_z(z):  # E[relu(rho z + s w)] = m Phi(m/s) + s phi(m/s), m = rho z
        m = rho * z
        return m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)

    ev1 = integrate.quad(lambda z: stats.norm.pdf(z) * z * e_relu_given_z(z), 0, np.inf, epsabs=1e-13)[0]
    ev0 = integrate.quad(lambda z: stats.norm.pdf(z) * stats.norm.cdf(rho * z / s), 0, np.inf, epsabs=1e-13)[0]
    assert kappa1(rho).item() == pytest.approx(2 * ev1, abs=1e-10)
    assert kappa0(rho).item() == pytest.approx(2 * ev0, abs=1e-10)


def test_arccos_prop_calculus_gradients():
    u = torch.linspace(-0.99, 0.99, 41, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kappa0, (u,))
    assert torch.autograd.gradcheck(kappa1, (u,))
    assert torch.autograd.gradgradcheck(kappa1, (u,))
    # kappa1' = kappa0, finite at the ends (naive autograd through the formula gives inf - inf = nan)
    ends = torch.tensor([-1.0, 1.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(kappa1(ends).sum(), ends)
    assert g.tolist() == [0.0, 1.0]
    # kappa0'(u) = 1 / (pi sqrt(1 - u^2)) by central differences
    x = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    (g0,) = torch.autograd.grad(kappa0(x).sum(), x)
    h = 1e-6
    fd = (_np_kappa0(0.3 + h) - _np_kappa0(0.3 - h)) / (2 * h)
    assert g0.item() == pytest.approx(fd, rel=1e-8)


def test_kappa_rejects_bad_input():
    with pytest.raises(ValueError, match="u"):
        kappa0(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        kappa1(np.array([1.5]))
    # rounding just outside [-1, 1] is clamped, not rejected
    assert kappa1(torch.tensor([1.0 + 1e-15], dtype=torch.float64)).item() == 1.0


# ------------------------------------------------------------------------------------------------------------------
# Raw and normalised kernels at finite depth (Chapter 4)
# ------------------------------------------------------------------------------------------------------------------

FORWARD_VALUES = {
    # (L, alpha): K_L(x,x'), Theta_hid(x,x'), Theta_all(x,x'), K_L(x,x), Theta_hid(x,x), Theta_all(x,x),
    #             Omega_L, Omega_all, rho_L
    (1, 1.0): (1.108998, 0.942331, 2.884662, 2, 2, 6, 0.471166, 0.480777, 0.554499),
    (3, 1.0): (5.111493, 10.614961, 18.123400, 8, 24, 40, 0.442290, 0.453085, 0.638937),
    (10, 0.5): (6.203115, 15.745685, 24.449338, 9.313226, 37.252903, 55.879354, 0.422670, 0.437538, 0.666054),
    (4, 0.7): (3.067563, 5.727765, 10.387877, 4.928844, 12.967160, 22.824848, 0.441713, 0.455113, 0.622370),
}


@pytest.mark.parametrize(("L", "alpha"), list(FORWARD_VALUES))
def test_rntk_prop_forward_reference_values(L, alpha):
    ref = FORWARD_VALUES[(L, alpha)]
    X = sphere_pair(0.5)
    hid = residual_ntk(X, depth=L, alpha=alpha)
    allk = residual_ntk(X, depth=L, alpha=alpha, trained="all")
    hid_n = residual_ntk(X, depth=L, alpha=alpha, normalize=True)
    all_n = residual_ntk(X, depth=L, alpha=alpha, trained="all", normalize=True)
    got = (
        hid.nngp[0, 1], hid.ntk[0, 1], allk.ntk[0, 1], hid.nngp[0, 0], hid.ntk[0, 0], allk.ntk[0, 0],
        hid_n.ntk[0, 1], all_n.ntk[0, 1], hid_n.nngp[0, 1],
    )
    np.testing.assert_allclose([g.item() for g in got], ref, rtol=1e-6, atol=1e-6)
    # homogeneity: x' -> 2 x' doubles the first three columns
    X2 = X.copy()
    X2[1] *= 2
    hid2 = residual_ntk(X2, depth=L, alpha=alpha)
    all2 = residual_ntk(X2, depth=L, alpha=alpha, trained="all")
    np.testing.assert_allclose(
        [hid2.nngp[0, 1].item(), hid2.ntk[0, 1].item(), all2.ntk[0, 1].item()], 2 * np.array(ref[:3]), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("L", "alpha", "trained", "value"),
    [(3, 0.5, "all", 6.25), (8, 8 ** -0.75, "all", 3.7838), (4, 1.0, "all", 96.0), (4, 1.0, "hidden", 64.0),
     (3, 1.0, "hidden", 24.0), (10, 0.5, "hidden", 37.2529)],
)
def test_rntk_prop_diag_closed_form_values(L, alpha, trained, value):
    k = residual_ntk(np.array([[0.0, 0.0, 1.0]]), depth=L, alpha=alpha, trained=trained)
    assert k.ntk.item() == pytest.approx(value, abs=5e-5)


@pytest.mark.parametrize("symmetric", [True, False])
def test_rntk_prop_diag_closed_form_at_random_norms(symmetric):
    X = random_points(7, 4, seed=1, log_norm_range=(-2, 2))
    sq = (X * X).sum(1)
    for L, a in [(3, 1.0), (10, 0.5), (7, 0.0), (25, 1.3)]:
        k = residual_ntk(X, None if symmetric else X, depth=L, alpha=a)
        ka = residual_ntk(X, None if symmetric else X, depth=L, alpha=a, trained="all")
        hid = 2 * L * a**2 * (1 + a**2) ** (L - 1) * sq
        np.testing.assert_allclose(k.ntk.diagonal(), hid, rtol=1e-13, atol=0)
        np.testing.assert_allclose(k.nngp.diagonal(), (1 + a**2) ** L * sq, rtol=1e-13)
        np.testing.assert_allclose(ka.ntk.diagonal(), 2 * (1 + a**2) ** L * sq + hid, rtol=1e-13)


@pytest.mark.parametrize("trained", ["hidden", "all"])
@pytest.mark.parametrize(("L", "alpha"), [(0, 0.7), (1, 1.0), (3, 1.0), (10, 0.5), (6, 0.0), (20, 1.7), (40, 0.15)])
def test_matches_raw_recursion_and_rntk_prop_backward_form(trained, L, alpha):
    X1 = random_points(9, 5, seed=2, log_norm_range=(-1.5, 1.5))
    X2 = random_points(6, 5, seed=3, log_norm_range=(-1.5, 1.5))
    got = residual_ntk(X1, X2, depth=L, alpha=alpha, trained=trained)
    K_ref, T_ref = raw_recursion(X1, X2, L, alpha, trained)
    K_bwd, T_bwd = backward_form(X1, X2, L, alpha, trained)
    np.testing.assert_allclose(K_ref, K_bwd, rtol=1e-12, atol=1e-12 * np.abs(K_ref).max())
    np.testing.assert_allclose(T_ref, T_bwd, rtol=1e-12, atol=1e-12 * max(np.abs(T_ref).max(), 1e-300))
    scale_k = np.abs(K_ref).max()
    scale_t = max(np.abs(T_ref).max(), 1e-300)
    np.testing.assert_allclose(got.nngp, K_ref, rtol=1e-11, atol=1e-12 * scale_k)
    np.testing.assert_allclose(got.ntk, T_ref, rtol=1e-11, atol=1e-12 * scale_t)


def test_rntk_def_normalised_forms():
    X = random_points(8, 3, seed=4, log_norm_range=(-2, 2))
    nrm = np.linalg.norm(X, axis=1)
    for L, a in [(1, 0.3), (5, 1.0), (12, 0.4)]:
        raw = residual_ntk(X, depth=L, alpha=a)
        raw_all = residual_ntk(X, depth=L, alpha=a, trained="all")
        n = residual_ntk(X, depth=L, alpha=a, normalize=True)
        n_all = residual_ntk(X, depth=L, alpha=a, trained="all", normalize=True)
        outer = np.outer(nrm, nrm)
        np.testing.assert_allclose(n.ntk, raw.ntk / (2 * L * a**2 * (1 + a**2) ** (L - 1) * outer),
                                   rtol=1e-12, atol=1e-14)
        d = raw_all.ntk.diagonal()
        np.testing.assert_allclose(n_all.ntk, raw_all.ntk / np.sqrt(np.outer(d, d)), rtol=1e-12,
                                   atol=1e-14)
        dk = raw.nngp.diagonal()
        np.testing.assert_allclose(n.nngp, raw.nngp / np.sqrt(np.outer(dk, dk)), rtol=1e-12,
                                   atol=1e-14)
        for m in (n.ntk, n.nngp, n_all.ntk, n_all.nngp):
            assert np.array_equal(m.diagonal(), np.ones(8))
        # the scalar form on the sphere gives the same normalised kernels
        U = X / nrm[:, None]
        sc = residual_ntk_scalar(np.clip(U @ U.T, -1, 1), depth=L, alpha=a)
        np.testing.assert_allclose(sc.ntk, n.ntk, atol=1e-12)
        np.testing.assert_allclose(sc.nngp, n.nngp, atol=1e-12)


def test_depth_one_and_small_alpha_give_two_layer_ntk():
    X = random_points(10, 4, seed=5)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    ref = two_layer_ntk(np.clip(U @ U.T, -1, 1))
    for a in (0.05, 1.0, 3.0):
        np.testing.assert_allclose(residual_ntk(X, depth=1, alpha=a, normalize=True).ntk, ref, atol=1e-13)
    # alpha -> 0 at fixed depth: the deviation is O(L alpha^2)
    dev = [np.abs(residual_ntk(X, depth=6, alpha=a, normalize=True).ntk - ref).max() for a in (1e-2, 1e-3)]
    assert dev[0] < 6 * 1e-4 and dev[1] < 6 * 1e-6 and 80 < dev[0] / dev[1] < 120


def test_alpha_zero_and_depth_zero():
    X = random_points(6, 3, seed=6, log_norm_range=(-1, 1))
    G = X @ X.T
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    # alpha = 0, hidden: raw 0, normalised = the alpha -> 0 limit (two-layer NTK)
    k = residual_ntk(X, depth=9, alpha=0.0)
    assert np.count_nonzero(k.ntk) == 0
    np.testing.assert_allclose(k.nngp, G, rtol=1e-13, atol=1e-15)
    kn = residual_ntk(X, depth=9, alpha=0.0, normalize=True)
    np.testing.assert_allclose(kn.ntk, two_layer_ntk(np.clip(U @ U.T, -1, 1)), atol=1e-13)
    # alpha = 0, all layers: A and v alone, Theta = 2 <x, x'>
    ka = residual_ntk(X, depth=9, alpha=0.0, trained="all")
    np.testing.assert_allclose(ka.ntk, 2 * G, rtol=1e-13, atol=1e-15)
    # depth 0: the input layer only
    k0 = residual_ntk(X, depth=0, alpha=0.8)
    assert np.count_nonzero(k0.ntk) == 0
    np.testing.assert_allclose(k0.nngp, G, rtol=1e-13, atol=1e-15)
    k0a = residual_ntk(X, depth=0, alpha=0.8, trained="all", normalize=True)
    np.testing.assert_allclose(k0a.ntk, U @ U.T, atol=1e-14)
    with pytest.raises(ValueError, match="depth"):
        residual_ntk(X, depth=0, alpha=0.8, normalize=True)


def test_tiled_equals_untiled_and_symmetric_path():
    X = random_points(23, 4, seed=7, log_norm_range=(-1, 1))
    Y = random_points(17, 4, seed=8, log_norm_range=(-1, 1))
    for trained in ("hidden", "all"):
        big = residual_ntk(X, Y, depth=12, alpha=0.6, trained=trained, block_size=4096)
        small = residual_ntk(X, Y, depth=12, alpha=0.6, trained=trained, block_size=5)
        for a, b in zip(big, small):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13 * np.abs(a).max())
        sym = residual_ntk(X, depth=12, alpha=0.6, trained=trained, block_size=6)
        full = residual_ntk(X, X, depth=12, alpha=0.6, trained=trained, block_size=4096)
        for a, b in zip(sym, full):
            assert np.array_equal(a, a.T)  # exact symmetry when x2 is omitted
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13 * np.abs(a).max())


def test_duplicate_points_across_sets_snap_to_rho_one():
    """A point present in x1 and x2 (rounding puts rho0 a few ulps below 1) gets the exact diagonal value."""
    X = random_points(5, 7, seed=9, log_norm_range=(0, 0))
    k = residual_ntk(X, X.copy(), depth=50, alpha=1.0, normalize=True)
    np.testing.assert_array_equal(k.ntk.diagonal(), np.ones(5))


def test_array_rule_numpy_in_numpy_out_torch_in_float64_torch_out():
    X = random_points(4, 3, seed=10)
    a = residual_ntk(X, depth=3, alpha=0.5, device="cpu")
    b = residual_ntk(torch.tensor(X, dtype=torch.float32), depth=3, alpha=0.5)
    assert isinstance(a, ResidualKernel) and isinstance(a.ntk, np.ndarray) and a.ntk.dtype == np.float64
    assert isinstance(b.ntk, torch.Tensor) and b.ntk.dtype == torch.float64 and b.ntk.shape == (4, 4)
    np.testing.assert_allclose(a.ntk, b.ntk, rtol=1e-6)
    # the mixed case is torch (any tensor input makes the output a tensor); scalar forms follow rho or alpha
    assert isinstance(residual_ntk(X, torch.tensor(X), depth=2, alpha=1.0).nngp, torch.Tensor)
    assert isinstance(residual_ntk_scalar(0.3, depth=2, alpha=1.0).ntk, np.ndarray)
    assert isinstance(residual_ntk_scalar(0.3, depth=2, alpha=torch.tensor([1.0, 2.0])).ntk, torch.Tensor)
    assert isinstance(ode_kernel(torch.tensor([0.3]), T=1.0).ntk, torch.Tensor)
    assert isinstance(kappa1(np.array([0.3])), np.ndarray) and isinstance(kappa1(torch.tensor([0.3])), torch.Tensor)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - exercised on GPU machines only
    X = random_points(300, 5, seed=11)
    cpu = residual_ntk(X, depth=20, alpha=0.5)
    gpu = residual_ntk(X, depth=20, alpha=0.5, device="cuda")
    assert gpu.ntk.device.type == "cuda"
    np.testing.assert_allclose(gpu.ntk.cpu(), cpu.ntk, rtol=1e-12)
    t = ResidualKernelTable(depth=100, alpha=0.1, device="cuda")
    np.testing.assert_allclose(t(X).cpu(), residual_ntk(X, depth=100, alpha=0.1, normalize=True).ntk,
                               atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    alpha=st.floats(0.0, 2.0),
    depth=st.integers(0, 30),
    n=st.integers(1, 7),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    trained=st.sampled_from(["hidden", "all"]),
)
def test_property_symmetric_psd_homogeneous(alpha, depth, n, d, seed, trained):
    X = random_points(n, d, seed, log_norm_range=(-3, 3))
    k = residual_ntk(X, depth=depth, alpha=alpha, trained=trained)
    for m in k:
        M = m
        assert np.array_equal(M, M.T)
        eig = np.linalg.eigvalsh(M)
        assert eig.min() >= -1e-10 * max(np.abs(eig).max(), 1e-300)
    if depth > 0 or trained == "all":
        kn = residual_ntk(X, depth=depth, alpha=alpha, trained=trained, normalize=True)
        eig = np.linalg.eigvalsh(kn.ntk)
        assert eig.min() >= -1e-10 * eig.max()
        assert np.all(np.abs(kn.ntk) <= 1 + 1e-12)
    # positive homogeneity of degree one in each argument: Theta(c x, x') = c Theta(x, x')
    c = math.exp(np.random.default_rng(seed).uniform(-2, 2))
    Xc = X.copy()
    Xc[0] *= c
    kc = residual_ntk(Xc, X, depth=depth, alpha=alpha, trained=trained)
    kx = residual_ntk(X, X, depth=depth, alpha=alpha, trained=trained)
    for a, b in zip(kc, kx):
        np.testing.assert_allclose(a[0], c * b[0], rtol=1e-12, atol=1e-12 * c * np.abs(b).max())


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"depth": -1, "alpha": 1.0}, ValueError, "depth"),
        ({"depth": 2.5, "alpha": 1.0}, TypeError, "depth"),
        ({"depth": True, "alpha": 1.0}, TypeError, "depth"),
        ({"depth": 3, "alpha": -0.1}, ValueError, "alpha"),
        ({"depth": 3, "alpha": float("nan")}, ValueError, "alpha"),
        ({"depth": 3, "alpha": float("inf")}, ValueError, "alpha"),
        ({"depth": 3, "alpha": 1.0, "trained": "input"}, ValueError, "trained"),
        ({"depth": 3, "alpha": 1.0, "method": "fast"}, ValueError, "method"),
        ({"depth": 3, "alpha": 1.0, "block_size": 0}, ValueError, "block_size"),
        ({"depth": 3}, TypeError, "alpha"),
        ({"depth": 2000, "alpha": 1.0}, ValueError, "normalize=True"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        residual_ntk(random_points(3, 2, seed=0), **kwargs)


def test_bad_inputs_raise_naming_them():
    X = random_points(3, 2, seed=0)
    bad = X.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="x1"):
        residual_ntk(bad, depth=2, alpha=1.0)
    with pytest.raises(ValueError, match="x2"):
        residual_ntk(X, np.where(np.isnan(bad), np.inf, bad), depth=2, alpha=1.0)
    with pytest.raises(ValueError, match="x2"):
        residual_ntk(X, random_points(3, 3, seed=1), depth=2, alpha=1.0)
    with pytest.raises(ValueError, match="x1"):
        residual_ntk(X[0], depth=2, alpha=1.0)
    with pytest.raises(TypeError, match="x1"):
        residual_ntk(np.array([["a", "b"]]), depth=2, alpha=1.0)
    zero = X.copy()
    zero[2] = 0
    with pytest.raises(ValueError, match="x1"):
        residual_ntk(zero, depth=2, alpha=1.0, normalize=True)
    raw = residual_ntk(zero, depth=2, alpha=1.0)  # the raw kernel of a zero input is zero
    assert np.count_nonzero(raw.ntk[2]) == 0 and np.count_nonzero(raw.ntk[:, 2]) == 0
    with pytest.raises(ValueError, match="rho"):
        residual_ntk_scalar([0.5, 1.2], depth=3, alpha=1.0)
    with pytest.raises(ValueError, match="depth"):
        residual_ntk_scalar(0.5, depth=0, alpha=1.0)
    with pytest.raises(ValueError, match="alpha"):
        residual_ntk_scalar(0.5, depth=3, alpha=np.array([0.5, -1.0]))


# ------------------------------------------------------------------------------------------------------------------
# Scalar form, deep kernels and the infinite-depth limits (Chapters 4-6)
# ------------------------------------------------------------------------------------------------------------------


def test_scalar_alpha_broadcast_equals_loop():
    alphas = np.array([0.0, 0.3, 1.0, 2.0])
    got = residual_ntk_scalar(GRID, depth=17, alpha=alphas[:, None], trained="all")
    for i, a in enumerate(alphas):
        one = residual_ntk_scalar(GRID, depth=17, alpha=float(a), trained="all")
        np.testing.assert_allclose(got.ntk[i], one.ntk, atol=1e-14)
        np.testing.assert_allclose(got.nngp[i], one.nngp, atol=1e-14)


DEEP_TS = (0.1, 1.0, 4.0, 16.0, 64.0)


@pytest.fixture(scope="module")
def depth_1e5():
    """One batched scalar pass at L = 1e5 over GRID: alpha = 1, L^-1/4, then sqrt(T / L) for T in DEEP_TS."""
    L = 10**5
    alphas = np.array([1.0, L**-0.25, *[math.sqrt(T / L) for T in DEEP_TS]])[:, None]
    return residual_ntk_scalar(GRID, depth=L, alpha=alphas)


def test_recursion_at_depth_1e5_reaches_the_decay_thm_ode_limit(depth_1e5):
    """Deep recursions: alpha = 1 and L^-1/4 approach 1/4 (Theorem `degen-thm-quarter`), alpha = sqrt(T/L) the ODE
    kernel (Theorem `decay-thm-ode`)."""
    Ts = DEEP_TS
    deep = depth_1e5
    np.testing.assert_allclose(  # the NNGP row at T = 1, a recursion at L = 1e5
        deep.nngp[3], [-0.256353, -0.043894, 0.253858, 0.593229, 0.908895, 0.990294], atol=1e-6
    )
    np.testing.assert_allclose(
        deep.ntk[0], [0.250046, 0.250048, 0.250053, 0.250065, 0.250119, 0.250342], atol=1e-4
    )
    np.testing.assert_allclose(
        deep.ntk[1], [0.252426, 0.252852, 0.253751, 0.255856, 0.264990, 0.300831], atol=1e-4
    )
    cols = [0, 2, 4]  # the rho0 = -0.9, 0, 0.9 columns (at 0.99 and T = 64 the O(alpha^2) gap is 1.1e-4)
    for i, T in enumerate(Ts):
        ode = ode_kernel(GRID[cols], T=T)
        np.testing.assert_allclose(deep.ntk[2 + i, cols], ode.ntk, atol=1e-4)
        np.testing.assert_allclose(deep.nngp[2 + i, cols], ode.nngp, atol=1e-4)
        np.testing.assert_allclose(deep.ntk[2 + i, cols], ODE_VALUES[T][:3], atol=1e-4)
        np.testing.assert_allclose(deep.nngp[2 + i, cols], ODE_VALUES[T][3:], atol=1e-4)


def test_reference_values_at_finite_depth():
    np.testing.assert_allclose(
        two_layer_ntk(GRID), [-0.059836, -0.028834, 0.159155, 0.471166, 0.840164, 0.967849], atol=1e-6
    )
    assert two_layer_ntk(0.0).item() == pytest.approx(1 / (2 * math.pi), abs=1e-15)
    np.testing.assert_allclose(
        residual_ntk_scalar(GRID, depth=100, alpha=1.0).ntk,
        [0.267357, 0.269560, 0.274526, 0.286773, 0.341083, 0.512392], atol=1e-6,
    )
    np.testing.assert_allclose(
        residual_ntk_scalar(GRID, depth=1000, alpha=1.0).ntk,
        [0.253250, 0.253462, 0.253941, 0.255129, 0.260583, 0.282883], atol=1e-6,
    )
    np.testing.assert_allclose(
        ode_kernel(GRID, T=1.0).ntk, [-0.01444, 0.04735, 0.19285, 0.43991, 0.78955, 0.94688], atol=1e-5
    )


ODE_VALUES = {  # T: Omega at -0.9, 0, 0.9 ; rho(T) at -0.9, 0, 0.9
    0.1: (-0.0627, 0.1631, 0.8347, -0.8127, 0.0311, 0.9009),
    1.0: (-0.0144, 0.1928, 0.7895, -0.2564, 0.2539, 0.9089),
    4.0: (0.1344, 0.2449, 0.6752, 0.4626, 0.6195, 0.9295),
    16.0: (0.2468, 0.2758, 0.4694, 0.9015, 0.9154, 0.9678),
    64.0: (0.2579, 0.2646, 0.3198, 0.9908, 0.9912, 0.9939),
}


@pytest.mark.parametrize("T", list(ODE_VALUES))
def test_decay_def_ode_reference_values(T):
    k = ode_kernel([-0.9, 0.0, 0.9], T=T)
    np.testing.assert_allclose(np.r_[k.ntk, k.nngp], ODE_VALUES[T], atol=1e-4)


def test_decay_ex_nngp_reference_rows():
    # The reference NNGP row at T = 1 is the recursion at L = 1e5 (it agrees to all six digits); the ODE limit
    # itself differs by up to 3e-6 (the O(1/L) discretisation; see test_ode_kernel_limits_and_rate_in_depth).
    row = [-0.256353, -0.043894, 0.253858, 0.593229, 0.908895, 0.990294]
    np.testing.assert_allclose(ode_kernel(GRID, T=1.0).nngp, row, atol=5e-6)
    np.testing.assert_allclose(
        residual_ntk_scalar(GRID, depth=10, alpha=1.0).nngp,
        [0.620194, 0.650939, 0.707557, 0.799198, 0.935612, 0.991361], atol=1e-6,
    )
    deep = residual_ntk_scalar(GRID, depth=1000, alpha=1.0).nngp
    assert deep.min() >= 0.99982 and deep.max() <= 0.99987


def test_ode_kernel_all_layers_reference_values():
    np.testing.assert_allclose(
        ode_kernel(GRID, T=1.0, trained="all").ntk,
        [-0.18436, -0.05720, 0.15989, 0.45950, 0.81757, 0.95769], atol=1e-5,
    )
    np.testing.assert_allclose(
        residual_ntk_scalar(GRID, depth=10**4, alpha=1e-4, trained="all").ntk,
        [-0.8998, -0.4999, 0.0, 0.5, 0.9, 0.99], atol=1e-4,
    )
    np.testing.assert_allclose(
        residual_ntk_scalar(GRID, depth=10**4, alpha=1.0, trained="all").ntk,
        [0.2505, 0.2505, 0.2505, 0.2507, 0.2512, 0.2534], atol=1e-4,
    )


def test_ode_all_layers_matches_recursion_at_depth_1e4():
    """The all-layer ODE kernel is the depth limit of the all-layer scalar form (discretisation error O(1/L))."""
    L = 10**4
    rec = residual_ntk_scalar(GRID, depth=L, alpha=math.sqrt(1.0 / L), trained="all").ntk
    np.testing.assert_allclose(rec, ode_kernel(GRID, T=1.0, trained="all").ntk, atol=3e-4)


def _mp_omega(L, alpha, theta0, dps=40):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = dps
    a2 = mp.mpf(alpha) ** 2
    rho = mp.cos(mp.mpf(theta0))
    vt = mp.mpf(0)
    for _ in range(L):
        th = mp.acos(rho)
        k0 = 1 - th / mp.pi
        k1 = (rho * (mp.pi - th) + mp.sqrt(1 - rho * rho)) / mp.pi
        vt = (vt * (1 + a2 * k0) + k1 + rho * k0) / (1 + a2)
        rho = (rho + a2 * k1) / (1 + a2)
    return float((1 + a2) * vt / (2 * L))


def test_rounding_near_rho_one_against_mpmath():
    """A deep kernel at a tiny angle. A float64 recursion in rho is off by 2e-7 here; ours is not."""
    theta0 = 1.35e-5
    rho0 = math.cos(theta0)
    exact_theta = math.acos(rho0) if rho0 < 1 else 0.0  # the angle of the float rho0 actually passed
    theta_f = float(np.arctan2(np.sqrt((1 - rho0) * (1 + rho0)), rho0))
    ref = _mp_omega(1000, 1.0, theta_f)
    assert residual_ntk_scalar(rho0, depth=1000, alpha=1.0).ntk.item() == pytest.approx(ref, abs=1e-12)
    assert exact_theta == pytest.approx(theta_f, rel=1e-9)


def test_degen_thm_quarter_convergence_in_depth():
    """L (Omega_L(0) - 1/4) = 2.45, 3.94, 4.88 at L = 1e2, 1e3, 1e4, and 40-digit agreement at 1e4."""
    for L, ref in [(100, 2.45), (1000, 3.94), (10**4, 4.88)]:
        assert L * (residual_ntk_scalar(0.0, depth=L, alpha=1.0).ntk.item() - 0.25) == pytest.approx(ref, abs=0.006)
    assert residual_ntk_scalar(0.0, depth=10**4, alpha=1.0).ntk.item() == pytest.approx(_mp_omega(10**4, 1.0, math.pi / 2),
                                                                             abs=1e-12)


def test_constant_alpha_depth_1e5_value(depth_1e5):
    """At L = 1e5, L(Omega_L(0) - 1/4) = 5.75524 by a 40-digit recursion (``test_mpmath_depth_1e5``, slow), and so by
    this code."""
    omega0 = depth_1e5.ntk[0, 2].item()  # alpha = 1, rho0 = 0
    assert 1e5 * (omega0 - 0.25) == pytest.approx(5.75524, abs=2e-4)


@pytest.mark.slow
def test_mpmath_depth_1e5():
    omega = _mp_omega(10**5, 1.0, math.pi / 2, dps=30)
    assert 1e5 * (omega - 0.25) == pytest.approx(5.75524, abs=1e-5)
    assert residual_ntk_scalar(0.0, depth=10**5, alpha=1.0).ntk.item() == pytest.approx(omega, abs=1e-11)


def test_decay_thm_fast_sup_norm_rate():
    """sup |Omega_L - Omega_inf| on a uniform theta-grid including rho0 = -1, for alpha = L^-gamma (Theorem
    `decay-thm-fast`: the rate sqrt(L alpha^2) for gamma >= 1)."""
    theta = np.linspace(0, np.pi, 2001)
    rho = np.cos(theta)
    ref = two_layer_ntk(rho)
    gammas = np.array([0.75, 1.0, 1.5])
    table = {  # gamma: sup error at L = 10, 1e2, 1e3, 1e4
        0.75: (0.04992, 0.04069, 0.02545, 0.01478),
        1.0: (0.03788, 0.01467, 0.004734, 0.001500),
        1.5: (0.01355, 0.001489, 0.0001499, 0.00001500),
    }
    sups = {}
    for L in (10, 100, 1000, 10**4):
        om = residual_ntk_scalar(rho, depth=L, alpha=(float(L) ** -gammas)[:, None]).ntk
        err = np.abs(om - ref)
        assert np.all(err.argmax(axis=1) == len(theta) - 1)  # the maximum sits at rho0 = -1
        sups[L] = err.max(axis=1)
    for i, g in enumerate(gammas):
        got = [sups[L][i] for L in (10, 100, 1000, 10**4)]
        np.testing.assert_allclose(got, table[g], rtol=0.01)
    # sup / sqrt(L alpha^2) -> sqrt(2) / (3 pi) = 0.1501 for gamma >= 1
    for i, g in enumerate(gammas[1:], start=1):
        assert sups[10**4][i] / math.sqrt(1e4 ** (1 - 2 * g)) == pytest.approx(math.sqrt(2) / (3 * math.pi), rel=0.01)
    # pointwise at rho0 = 0: about 0.04 L alpha^2 (3.98e-6 at gamma = 1, L = 1e4)
    assert abs(residual_ntk_scalar(0.0, depth=10**4, alpha=1e-4).ntk.item() - 1 / (2 * math.pi)) == pytest.approx(3.98e-6,
                                                                                                      rel=0.01)


def test_infinite_depth_limits():
    rho = np.array([-1.0, -0.3, 0.0, 0.6, 0.9, 1.0])
    const = infinite_depth_ntk(rho, "constant")
    np.testing.assert_array_equal(const.ntk, [0.25, 0.25, 0.25, 0.25, 0.25, 1.0])
    np.testing.assert_array_equal(const.nngp, np.ones(6))
    # constant alpha: Omega_L -> 1/4 for rho0 <= 0.9 (within 2e-3 at alpha = 1, L = 1e4)
    deep = residual_ntk_scalar(rho[:-1], depth=10**4, alpha=1.0).ntk
    assert np.abs(deep[rho[:-1] <= 0.9] - 0.25).max() < 2e-3
    fast = infinite_depth_ntk(rho, "fast")
    np.testing.assert_allclose(fast.ntk, two_layer_ntk(rho), atol=0)
    fast_all = infinite_depth_ntk(rho, "fast", trained="all")
    np.testing.assert_array_equal(fast_all.ntk, rho)
    # gamma = 1, L = 1e4, all layers: within 1e-3 of the linear kernel
    assert np.abs(residual_ntk_scalar(rho, depth=10**4, alpha=1e-4, trained="all").ntk - rho).max() < 1e-3
    crit = infinite_depth_ntk(rho, "critical", T=4.0)
    np.testing.assert_allclose(crit.ntk, ode_kernel(rho, T=4.0).ntk, atol=0)
    with pytest.raises(ValueError, match="T"):
        infinite_depth_ntk(rho, "critical")
    with pytest.raises(ValueError, match="T"):
        infinite_depth_ntk(rho, "fast", T=1.0)
    with pytest.raises(ValueError, match="regime"):
        infinite_depth_ntk(rho, "slow")


def test_ode_kernel_limits_and_rate_in_depth():
    rho = np.linspace(-1, 1, 9)
    # T -> 0: the two-layer NTK (O(T)); T = 0 is that limit exactly
    np.testing.assert_allclose(ode_kernel(rho, T=0.0).ntk, two_layer_ntk(rho), atol=1e-15)
    small = ode_kernel(rho, T=1e-6).ntk - two_layer_ntk(rho)
    assert np.abs(small[1:]).max() < 1e-6  # O(T) away from rho0 = -1 ...
    assert small[0] == pytest.approx(-math.sqrt(2) / (3 * math.pi) * 1e-3, rel=0.01)  # ... -sqrt(2T)/(3 pi) at -1
    # T -> infinity: the degenerate 1/4 (the kernel at rho0 = 1 stays 1)
    big = ode_kernel(rho, T=1000.0).ntk
    assert np.abs(big[:-1] - 0.25).max() < 0.01 and big[-1] == pytest.approx(1.0, abs=1e-12)
    # the recursion at alpha = sqrt(T / L) converges to the ODE kernel at rate 1/L
    ode = ode_kernel(GRID, T=1.0)
    rec = {L: residual_ntk_scalar(GRID, depth=L, alpha=math.sqrt(1 / L)) for L in (100, 1000, 10**4)}
    errs = [np.abs(rec[L].ntk - ode.ntk).max() for L in (100, 1000)]
    assert 7 < errs[0] / errs[1] < 13
    # Richardson extrapolation of the recursion (error c/L) lands on the ODE solution
    for field in ("ntk", "nngp"):
        a, b = getattr(rec[1000], field), getattr(rec[10**4], field)
        np.testing.assert_allclose((10 * b - a) / 9, getattr(ode, field), atol=2e-7)
    with pytest.raises(ValueError, match="T"):
        ode_kernel(0.5, T=-1.0)


def test_ode_kernel_table_path_matches_direct():
    """More than 4096 distinct rho: the ODE is tabulated on the theta-grid; it agrees with direct solves."""
    rng = np.random.default_rng(12)
    rho = np.cos(rng.uniform(0, np.pi, 5000))
    many = ode_kernel(rho, T=2.0)
    few = ode_kernel(rho[:300], T=2.0)
    np.testing.assert_allclose(many.ntk[:300], few.ntk, atol=1e-9)
    np.testing.assert_allclose(many.nngp[:300], few.nngp, atol=1e-9)


# ------------------------------------------------------------------------------------------------------------------
# The table fast path (Chapter 4, Proposition rntk-prop-scalar)
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("L", "alpha", "trained"),
    [(1, 1.0, "hidden"), (10, 0.5, "hidden"), (1000, 1.0, "hidden"), (1000, 1000**-0.5, "hidden"),
     (1000, 1e-3, "hidden"), (300, 300**-0.25, "all"), (50, 2.0, "all")],
)
def test_table_agrees_with_direct_recursion(L, alpha, trained):
    table = ResidualKernelTable(depth=L, alpha=alpha, trained=trained)
    assert table.error_estimate <= 1e-10
    rng = np.random.default_rng(13)
    theta = np.r_[rng.uniform(0, np.pi, 3000), 10 ** rng.uniform(-7, 0, 500), np.pi - 10 ** rng.uniform(-7, 0, 500),
                  0.0, np.pi]
    rho = np.cos(theta)
    direct = residual_ntk_scalar(rho, depth=L, alpha=alpha, trained=trained)
    tab = table.scalar(rho)
    assert np.abs(tab.ntk - direct.ntk).max() <= 1e-9
    assert np.abs(tab.nngp - direct.nngp).max() <= 1e-9
    # as a Gram matrix on sphere inputs (normalised and raw) against the tiled direct path
    X = random_points(60, 3, seed=14, log_norm_range=(0, 0))
    Y = random_points(45, 3, seed=15, log_norm_range=(0, 0))
    d = residual_ntk(X, Y, depth=L, alpha=alpha, trained=trained, normalize=True)
    np.testing.assert_allclose(table(X, Y), d.ntk, atol=1e-9)
    t = residual_ntk(X, depth=L, alpha=alpha, trained=trained, method="table")
    r = residual_ntk(X, depth=L, alpha=alpha, trained=trained)
    np.testing.assert_allclose(t.ntk, r.ntk, rtol=1e-9, atol=1e-9 * np.abs(r.ntk).max())
    np.testing.assert_allclose(t.nngp, r.nngp, rtol=1e-9, atol=1e-9 * np.abs(r.nngp).max())
    assert np.array_equal(t.ntk, t.ntk.T)


def test_table_callable_kernel_interface():
    k = ResidualKernelTable(depth=20, alpha=0.3, kernel="nngp", normalize=False)
    X = random_points(12, 4, seed=16, log_norm_range=(-1, 1))
    direct = residual_ntk(X, X[:5], depth=20, alpha=0.3)
    np.testing.assert_allclose(k(X, X[:5]), direct.nngp, rtol=1e-9)
    assert k(X).shape == (12, 12)
    assert "ResidualKernelTable" in repr(k)
    with pytest.raises(ValueError, match="kernel"):
        ResidualKernelTable(depth=20, alpha=0.3, kernel="gp")
    with pytest.raises(ValueError, match="depth"):
        ResidualKernelTable(depth=0, alpha=0.3)
    with pytest.raises(ValueError, match="x2"):
        k(X, X[:, :3])


@pytest.mark.parametrize("trained", ["hidden", "all"])
def test_table_is_exact_to_its_tolerance_at_octave_edges_and_both_ends(trained):
    """The graded grid's octave edges (2^-j pi and (1 - 2^-j) pi), the ends 0 and pi and the middle get the values of
    the direct recursion: every angle falls in the right interval of the table."""
    table = ResidualKernelTable(depth=50, alpha=0.5, trained=trained)
    u = np.array([2.0**-j for j in range(1, 20)] + [1 - 2.0**-j for j in range(1, 20)] + [0.0, 0.5, 1.0])
    u = np.r_[u, np.nextafter(u, 0), np.nextafter(u, 1)].clip(0, 1)
    rho = np.cos(np.pi * u)
    direct = residual_ntk_scalar(rho, depth=50, alpha=0.5, trained=trained)
    tab = table.scalar(rho)
    assert np.abs(tab.ntk - direct.ntk).max() <= 1e-9
    assert np.abs(tab.nngp - direct.nngp).max() <= 1e-9


def test_table_error_is_fourth_order_and_its_estimate_is_tight():
    """Cubic splines in theta: error ~ h^4, so error * n_knots^4 is about constant across tolerances, and the
    midpoint estimate is within a factor 4 of the sup error on a fine grid."""
    rho = np.cos(np.linspace(0, np.pi, 20001))
    exact = residual_ntk_scalar(rho, depth=300, alpha=1.0).ntk
    scaled, knots = [], []
    for tol in (1e-9, 1e-10, 1e-11):  # the table starts at 2049 knots, 3.6e-10 here
        table = ResidualKernelTable(depth=300, alpha=1.0, tol=tol)
        err = np.abs(table.scalar(rho).ntk - exact).max()
        assert err / 4 <= table.error_estimate <= 1.5 * err  # the grid may miss the worst midpoint by a little
        scaled.append(table.error_estimate * table.n_knots**4)
        knots.append(table.n_knots)
    assert knots[-1] > 3.9 * knots[0]
    assert max(scaled) / min(scaled) < 8, scaled


# ------------------------------------------------------------------------------------------------------------------
# Inputs at the edges of float64, and inputs that are not real
# ------------------------------------------------------------------------------------------------------------------

EDGE_PAIR = np.array([[1.0, 0.0], [1.0, 1.0]])  # rho0 = 1/sqrt(2)


@pytest.mark.parametrize("scale", [1e155, 1e300, 1e-170, 1e-300])
def test_normalised_kernel_depends_on_directions_only_for_huge_and_tiny_inputs(scale):
    """Positive homogeneity (Chapter 4, Proposition `rntk-prop-scalar`): the normalised kernel of c x is that of x for
    every c > 0 representable in float64 (the row norms must neither overflow nor underflow)."""
    ref = residual_ntk(EDGE_PAIR, depth=3, alpha=0.5, normalize=True)
    got = residual_ntk(EDGE_PAIR * scale, depth=3, alpha=0.5, normalize=True)
    np.testing.assert_allclose(got.ntk, ref.ntk, rtol=1e-14)
    np.testing.assert_allclose(got.nngp, ref.nngp, rtol=1e-14)
    assert got.ntk[0, 1] == pytest.approx(0.6207232676982751, rel=1e-14)


@pytest.mark.parametrize("scale", [1e154, 1e155, 1e300])
def test_raw_kernel_that_overflows_raises_instead_of_returning_inf(scale):
    with pytest.raises(ValueError, match="overflow float64"):
        residual_ntk(EDGE_PAIR * scale, depth=3, alpha=0.5)
    finite = residual_ntk(EDGE_PAIR * 1e153, depth=3, alpha=0.5)  # just below: finite, and homogeneous of degree 2
    np.testing.assert_allclose(finite.ntk, 1e306 * residual_ntk(EDGE_PAIR, depth=3, alpha=0.5).ntk, rtol=1e-13)


@pytest.mark.parametrize("alpha", [1.4e154, 1e200, 1e300])
def test_huge_alpha_gives_the_alpha_to_infinity_limit_not_nan(alpha):
    """alpha -> infinity: u = 1/(1+alpha^2) -> 0 and w -> 1, a finite limit that alpha = 1e10 already reaches."""
    limit = residual_ntk_scalar(GRID, depth=3, alpha=1e10)
    for trained in ("hidden", "all"):
        got = residual_ntk_scalar(GRID, depth=3, alpha=alpha, trained=trained)
        ref = residual_ntk_scalar(GRID, depth=3, alpha=1e10, trained=trained)
        assert np.isfinite(got.ntk).all() and np.isfinite(got.nngp).all()
        np.testing.assert_allclose(got.ntk, ref.ntk, atol=1e-12)
    np.testing.assert_allclose(residual_ntk(EDGE_PAIR, depth=3, alpha=alpha, normalize=True).ntk[0, 1],
                               residual_ntk_scalar(2**-0.5, depth=3, alpha=1e10).ntk, atol=1e-12)
    assert np.isfinite(limit.ntk).all()
    with pytest.raises(ValueError, match="overflow float64"):
        residual_ntk(EDGE_PAIR, depth=3, alpha=alpha)  # the raw kernel grows like alpha^(2L)


@pytest.mark.parametrize("call", [
    lambda z: residual_ntk(z, depth=2, alpha=1.0),
    lambda z: residual_ntk(EDGE_PAIR, z, depth=2, alpha=1.0),
    lambda z: residual_ntk_scalar(z[:, 0] / 2, depth=2, alpha=1.0),
    lambda z: kappa0(z[:, 0] / 2),
    lambda z: ode_kernel(z[:, 0] / 2, T=1.0),
    lambda z: ResidualKernelTable(depth=2, alpha=1.0)(z),
])
def test_complex_inputs_are_refused_not_silently_truncated(call):
    z = EDGE_PAIR.astype(complex) + 1e-3j
    with pytest.raises(ValueError, match="Complex data not supported"):
        call(z)
    with pytest.raises(ValueError, match="Complex data not supported"):
        call(torch.tensor(z))


def test_block_size_is_capped_at_the_number_of_inputs():
    """block_size = 10**5 with 10 points would ask for 10^10-entry work tensors (80 GB); the tiles are capped."""
    import tracemalloc

    X = random_points(10, 3, seed=17)
    tracemalloc.start()
    big = residual_ntk(X, depth=3, alpha=1.0, block_size=10**5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(big.ntk, residual_ntk(X, depth=3, alpha=1.0, block_size=512).ntk)
    assert peak < 10**7
    table = ResidualKernelTable(depth=3, alpha=1.0, block_size=10**5)
    np.testing.assert_allclose(table(X), residual_ntk(X, depth=3, alpha=1.0, normalize=True).ntk, atol=1e-9)


@pytest.mark.parametrize("T", [1e6, 1e12, 1e100])
def test_ode_kernel_cost_is_bounded_for_large_depth_time(T):
    """The depth-time ODE is integrated in log-time: large T costs a few thousand steps (it used to run for minutes at
    T = 1e6), and the kernel approaches the constant-regime limit 1/4 at rate O(1/T) (Theorem `decay-thm-ode`)."""
    import time

    start = time.perf_counter()
    k = ode_kernel(np.array([-0.9, 0.3, 0.99]), T=T)
    assert time.perf_counter() - start < 30
    np.testing.assert_allclose(k.ntk, 0.25, atol=50 / T + 1e-12)
    assert np.all(k.nngp >= 1 - 100 / T)
    with pytest.raises(ValueError, match="T"):
        ode_kernel(0.3, T=float("inf"))


def test_readout_convention_gives_the_nngp_as_the_tangent_kernel():
    """Chapter 4, Exercise `rntk-ex-readout`: training v alone, the tangent kernel is the NNGP K_L."""
    X = random_points(6, 3, seed=18, log_norm_range=(-1, 1))
    for normalize in (False, True):
        k = residual_ntk(X, depth=4, alpha=0.7, trained="readout", normalize=normalize)
        np.testing.assert_array_equal(k.ntk, k.nngp)
        np.testing.assert_array_equal(k.nngp, residual_ntk(X, depth=4, alpha=0.7, normalize=normalize).nngp)
    s = residual_ntk_scalar(GRID, depth=5, alpha=0.3, trained="readout")
    np.testing.assert_array_equal(s.ntk, s.nngp)
    np.testing.assert_array_equal(ode_kernel(GRID, T=2.0, trained="readout").ntk, ode_kernel(GRID, T=2.0).nngp)
