"""Tests of resntk.spectrum: Mercer eigenvalues of dot-product kernels on spheres (book, Appendix B) and the
power-law fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from resntk.kernels import residual_ntk_scalar, two_layer_ntk
from resntk.spectrum import (
    PowerLawFit,
    fit_power_law,
    fourier_coefficients,
    funk_hecke_eigenvalues,
    gegenbauer,
    multiplicity,
    repeat_by_multiplicity,
)


def test_harm_ex_circle_two_layer_ntk_fourier_coefficients():
    c = np.asarray(fourier_coefficients(two_layer_ntk))  # N = 4096
    ref = [0.30396, 0.25, 0.078805, 0, 0.0085560, 0, 0.0032258, 0, 0.0017104]
    np.testing.assert_allclose(c[:9], ref, atol=5e-6)
    # exact values; the discrete sum aliases c_0 + 2 sum_m c_{mN} ~ 2e-8 at N = 4096 (coefficients ~ k^-2)
    assert c[0] == pytest.approx(3 / math.pi**2, abs=5e-8)
    assert c[1] == pytest.approx(0.25, abs=1e-15)
    assert np.abs(c[3::2]).max() < 1e-12  # odd harmonics >= 3 vanish (aliases of odd degrees are odd)
    even = np.arange(10, 401, 2)
    fit = fit_power_law(even, c[even])
    assert fit.exponent == pytest.approx(-2.0, abs=0.1)
    # quadrupling N cuts the aliasing error by 16
    c4 = np.asarray(fourier_coefficients(two_layer_ntk, 16384))
    assert 14 < (c[0] - 3 / math.pi**2) / (c4[0] - 3 / math.pi**2) < 18


def test_funk_hecke_exact_values_and_circle_agrees_with_fourier():
    mu = np.asarray(funk_hecke_eigenvalues(two_layer_ntk, dim=2, max_degree=400))
    assert mu[0] == pytest.approx(3 / math.pi**2, abs=1e-13)
    assert mu[1] == pytest.approx(0.25, abs=1e-13)
    assert np.abs(mu[3::2]).max() < 1e-12
    c = np.asarray(fourier_coefficients(two_layer_ntk, 16384))
    np.testing.assert_allclose(mu, c[:401], atol=2e-9)  # the FFT's aliasing is 1.2e-9 at N = 16384


def test_residual_kernel_fourier_coefficients_decay_like_k_to_the_minus_2():
    """L = 64, gamma = 1/2 (alpha = 1/8): odd and even coefficients both decay like k^-2 (Chapter 7)."""
    c = np.asarray(fourier_coefficients(lambda r: residual_ntk_scalar(r, depth=64, alpha=1 / 8).ntk))
    ref = [0.315001, 0.225744, 0.067733, 0.016749, 0.008503, 0.004683, 0.003204, 0.002212, 0.001695]
    np.testing.assert_allclose(c[:9], ref, atol=1e-6)
    for start in (10, 11):
        k = np.arange(start, 401, 2)
        assert fit_power_law(k, c[k]).exponent == pytest.approx(-2.0, abs=0.1)


def test_odd_harmonic_vanishes_like_T_log_T():
    """gamma = 1: c_3 = 0.00371, 0.000681, 0.0000977, 0.0000127 at L = 10 ... 1e4, c_3 / (T ln 1/T) -> 0.014."""
    refs = {10: (0.00371, 0.0161), 100: (0.000681, 0.0148), 1000: (0.0000977, 0.0141), 10**4: (0.0000127, 0.0138)}
    for L, (c3, ratio) in refs.items():
        c = np.asarray(fourier_coefficients(lambda r: residual_ntk_scalar(r, depth=L, alpha=1.0 / L).ntk))
        T = 1.0 / L
        assert c[3] == pytest.approx(c3, rel=0.01)
        assert c[3] / (T * math.log(1 / T)) == pytest.approx(ratio, rel=0.01)
        assert 0.0071 <= c[4] <= 0.0086


@pytest.mark.parametrize("dim", [2, 3, 4, 7])
def test_harm_def_gegenbauer_recurrence_matches_scipy(dim):
    t = np.linspace(-1, 1, 101)
    for k in range(0, 30):
        p = gegenbauer(k, dim, t)
        if dim == 2:
            ref = special.eval_chebyt(k, t)
        elif dim == 3:
            ref = special.eval_legendre(k, t)
        else:
            lam = (dim - 2) / 2
            ref = special.eval_gegenbauer(k, lam, t) / special.eval_gegenbauer(k, lam, 1.0)
        np.testing.assert_allclose(p, ref, atol=1e-12)
        assert p[-1] == pytest.approx(1.0, abs=1e-14)


def test_harm_thm_funk_hecke_polynomial_kernels_exact():
    # t^2 on S^2 = (1/3) P_0 + (2/3) P_2: mu_0 = 1/3, mu_2 = (2/3)(2/5)/2 = 2/15
    mu = np.asarray(funk_hecke_eigenvalues(lambda t: t**2, dim=3, max_degree=5))
    np.testing.assert_allclose(mu, [1 / 3, 0, 2 / 15, 0, 0, 0], atol=1e-14)
    # <x, x'> on S^{d-1}: mu_1 = 1/d (the linear kernel's covariance is I/d), everything else 0
    for d in (2, 3, 5, 10):
        mu = np.asarray(funk_hecke_eigenvalues(lambda t: t, dim=d, max_degree=4))
        np.testing.assert_allclose(mu, [0, 1 / d, 0, 0, 0], atol=1e-13)


@pytest.mark.parametrize("dim", [3, 5, 8])
def test_harm_thm_addition_mercer_trace_identity(dim):
    """sum_k N(d, k) mu_k = kappa(1) (the addition theorem at x = x')."""
    mu = np.asarray(funk_hecke_eigenvalues(lambda t: torch.exp(2 * t), dim=dim, max_degree=60))
    total = sum(multiplicity(k, dim) * mu[k] for k in range(61))
    assert total == pytest.approx(math.exp(2), rel=1e-11)


def test_mercer_trace_tail_of_two_layer_ntk():
    # the two-layer NTK on S^2: the tail of sum N mu decays like 1/K (mu_k ~ k^-3, N = 2k + 1)
    mu = np.asarray(funk_hecke_eigenvalues(two_layer_ntk, dim=3, max_degree=2000))
    partial = np.cumsum([multiplicity(k, 3) * mu[k] for k in range(2001)])
    assert 0 < 1 - partial[-1] < 2e-4 and (1 - partial[1000]) / (1 - partial[2000]) == pytest.approx(2, rel=0.05)


def test_funk_hecke_on_s2_matches_gram_eigenvalues():
    """Eigenvalues of the Gram matrix / n approximate the Mercer eigenvalues repeated by multiplicity (loosely)."""
    rng = np.random.default_rng(0)
    n = 1500
    X = rng.standard_normal((n, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    G = two_layer_ntk(np.clip(X @ X.T, -1, 1))
    gram = np.sort(np.linalg.eigvalsh(G))[::-1] / n
    mercer = repeat_by_multiplicity(np.asarray(funk_hecke_eigenvalues(two_layer_ntk, 3, 40)), 3)
    assert mercer[:4].tolist() == pytest.approx([0.25, 1 / 6, 1 / 6, 1 / 6], abs=1e-12)
    # the top groups (degrees 0, 1, 2: 1 + 3 + 5 eigenvalues): each eigenvalue within 15 %, group means within 3 %
    np.testing.assert_allclose(gram[:9], mercer[:9], rtol=0.15)
    for lo, hi in ((0, 1), (1, 4), (4, 9)):
        assert gram[lo:hi].mean() == pytest.approx(mercer[lo], rel=0.03)
    # and the spectrum decays like j^{-3/2} (d / (d - 1) with d = 3)
    j = np.arange(20, 200)
    assert fit_power_law(j, mercer[j]).exponent == pytest.approx(-1.5, abs=0.15)


def test_harm_prop_dimension_multiplicities():
    assert [multiplicity(k, 2) for k in range(5)] == [1, 2, 2, 2, 2]
    assert [multiplicity(k, 3) for k in range(6)] == [2 * k + 1 for k in range(6)]
    for d in (2, 3, 4, 6, 11):
        for k in range(1, 25):
            closed_form = (2 * k + d - 2) * math.comb(k + d - 3, d - 2) // k
            assert multiplicity(k, d) == closed_form
            assert (2 * k + d - 2) * math.comb(k + d - 3, d - 2) % k == 0
        # polynomials of degree <= K restricted to S^{d-1}: C(K+d-1, d-1) + C(K+d-2, d-1)
        K = 12
        assert sum(multiplicity(k, d) for k in range(K + 1)) == math.comb(K + d - 1, d - 1) + math.comb(K + d - 2,
                                                                                                         d - 1)
    np.testing.assert_array_equal(repeat_by_multiplicity(np.array([0.5, 0.1, 0.3]), 3),
                                  [0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.1, 0.1, 0.1])


def test_fit_power_law_recovers_exponent_and_interval():
    k = np.arange(1, 200)
    exact = fit_power_law(k, 3.0 * k**-1.7)
    assert isinstance(exact, PowerLawFit)
    assert exact.exponent == pytest.approx(-1.7, abs=1e-12) and exact.prefactor == pytest.approx(3.0, rel=1e-12)
    assert exact.stderr < 1e-7
    # multiplicative log-normal noise: the 95% interval covers the truth in about 95% of seeds
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(200):
        v = 2.0 * k**-1.2 * np.exp(0.3 * rng.standard_normal(k.size))
        fit = fit_power_law(k, v)
        covered += fit.ci_low <= -1.2 <= fit.ci_high
    assert 180 <= covered <= 198


def test_bad_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="y must be positive"):
        fit_power_law([1, 2, 3], [1.0, 0.0, 0.5])
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law([1, 2], [1.0, 0.5])
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([1, 2, 3], [1.0, 0.5])
    with pytest.raises(ValueError, match="confidence"):
        fit_power_law([1, 2, 3], [1.0, 0.5, 0.2], confidence=1.5)
    with pytest.raises(ValueError, match="dim"):
        funk_hecke_eigenvalues(two_layer_ntk, dim=1, max_degree=3)
    with pytest.raises(ValueError, match="max_degree"):
        np.asarray(funk_hecke_eigenvalues(two_layer_ntk, dim=3, max_degree=-1))
    with pytest.raises(ValueError, match="n_grid"):
        np.asarray(fourier_coefficients(two_layer_ntk, 101))
    with pytest.raises(TypeError, match="kappa"):
        np.asarray(fourier_coefficients(np.ones(8)))
    with pytest.raises(ValueError, match="NaN"):
        np.asarray(fourier_coefficients(lambda t: t * np.nan))
    with pytest.raises(ValueError, match="one value per input"):
        np.asarray(funk_hecke_eigenvalues(lambda t: t[:3], dim=3, max_degree=2))
    with pytest.raises(ValueError, match="k"):
        multiplicity(-1, 3)


def test_fit_power_law_with_repeated_abscissae_matches_linregress_and_its_interval_covers():
    rng = np.random.default_rng(0)
    n = np.repeat([100, 200, 400, 800, 1600], 3)
    err = 2.0 * n ** -0.7 * np.exp(0.1 * rng.standard_normal(n.size))
    fit = fit_power_law(n, err)
    ref = stats.linregress(np.log(n), np.log(err))
    assert fit.exponent == pytest.approx(ref.slope, rel=1e-12)
    assert math.log(fit.prefactor) == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)
    half = stats.t.ppf(0.975, n.size - 2) * ref.stderr
    assert (fit.ci_low, fit.ci_high) == pytest.approx((ref.slope - half, ref.slope + half), rel=1e-10)
    np.testing.assert_allclose(fit.predict(n), np.exp(ref.intercept) * n ** ref.slope)
    # an exact power law is recovered exactly, with a zero-width interval
    exact = fit_power_law([10, 20, 40, 80], [5 * k ** -0.5 for k in (10, 20, 40, 80)])
    assert exact.exponent == pytest.approx(-0.5, abs=1e-12) and exact.ci_high - exact.ci_low < 1e-10
    # the 90 % interval covers the true slope in about 90 % of simulated experiments
    u = np.log(np.array([100, 200, 400, 800, 1600]))
    hits = 0
    for _ in range(2000):
        e = np.exp(1.0 - 0.6 * u + 0.2 * rng.standard_normal(u.size))
        r = fit_power_law(np.exp(u), e, confidence=0.9)
        hits += r.ci_low <= -0.6 <= r.ci_high
    assert 0.87 < hits / 2000 < 0.93


def test_fit_power_law_validation():
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law([1, 2], [1, 2])
    with pytest.raises(ValueError, match="y must be positive"):
        fit_power_law([1, 2, 3], [1, 0, 2])
    with pytest.raises(ValueError, match="distinct"):
        fit_power_law([5, 5, 5], [1, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="confidence"):
        fit_power_law([1, 2, 3], [1, 2, 3], confidence=1.0)


def test_gegenbauer_and_multiplicity_take_the_degree_first_and_follow_the_array_rule():
    """``gegenbauer(k, dim, t)`` and ``multiplicity(k, dim)``: the same order (multiplicity used to be (dim, k))."""
    assert multiplicity(2, 3) == 5 and multiplicity(3, 2) == 2
    t = np.linspace(-1, 1, 5)
    assert isinstance(gegenbauer(3, 3, t), np.ndarray)
    out = gegenbauer(3, 3, torch.from_numpy(t))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert isinstance(fourier_coefficients(two_layer_ntk, 64), torch.Tensor)
    assert isinstance(fourier_coefficients(lambda r: two_layer_ntk(np.asarray(r)), 64), np.ndarray)
    mu = funk_hecke_eigenvalues(lambda r: two_layer_ntk(np.asarray(r)), 3, 4)
    assert isinstance(mu, np.ndarray) and isinstance(repeat_by_multiplicity(torch.from_numpy(mu), 3), torch.Tensor)
    fit = fit_power_law(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 0.25, 0.0625]))
    assert fit.exponent == pytest.approx(-2.0) and fit.ci == (fit.ci_low, fit.ci_high) and fit.dof == 1
    assert isinstance(fit.predict(torch.tensor([8.0])), torch.Tensor)
    with pytest.raises(ValueError, match="Complex data not supported"):
        fit_power_law([1, 2, 3], np.array([1.0, 0.5, 0.2]) + 0j)
