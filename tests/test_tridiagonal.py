"""Tests of resntk._tridiagonal: the factored divide-and-conquer eigensolver against SciPy's MRRR and LAPACK's own
deflation routine (dlaed2), on kernel matrices and on the classical hard cases (clusters, glued Wilkinson
matrices, exact ties that force Givens rotations, tiny and huge scales)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from scipy.linalg import eigh_tridiagonal, lapack

import resntk._tridiagonal as tri


def ntk2(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Two-layer ReLU NTK on the sphere (note §3.7), inline."""
    rho = np.clip(X1 @ X2.T, -1.0, 1.0)
    k0 = (np.pi - np.arccos(rho)) / np.pi
    k1 = (rho * (np.pi - np.arccos(rho)) + np.sqrt(1.0 - rho * rho)) / np.pi
    return 0.5 * (k1 + rho * k0)


def kernel_tridiagonal(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    Z = np.random.default_rng(seed).standard_normal((n, d))
    X = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    _, diag, off, _, info = lapack.dsytrd(ntk2(X, X), lower=1)
    assert info == 0
    return diag, off


def wilkinson(m: int) -> np.ndarray:
    return np.abs(np.arange(m) - m // 2).astype(float)


RNG = np.random.default_rng(0)
CASES = {
    "kernel on S^2": kernel_tridiagonal(600, 3, 1),
    "kernel on S^9": kernel_tridiagonal(400, 10, 2),
    "identity": (np.ones(300), np.zeros(299)),
    "zero diagonal": (np.zeros(301), np.ones(300)),
    "two clusters, tiny coupling": (np.r_[np.ones(120), 2 * np.ones(180)], np.full(299, 1e-18)),
    "random": (RNG.standard_normal(333), RNG.standard_normal(332)),
    "Wilkinson": (wilkinson(301), np.ones(300)),
    "glued Wilkinson": (np.tile(wilkinson(101), 3), np.r_[np.ones(100), 1e-14, np.ones(100), 1e-14, np.ones(100)]),
    "diagonal with repeats": (np.repeat(RNG.standard_normal(12), 25), np.zeros(299)),
    "Toeplitz (2, 1)": (np.full(300, 2.0), np.ones(299)),
    "Toeplitz (0, 1)": (np.zeros(257), np.ones(256)),
    "tiny scale": (1e-200 * RNG.standard_normal(300), 1e-200 * RNG.standard_normal(299)),
    "huge scale": (1e200 * RNG.standard_normal(300), 1e200 * RNG.standard_normal(299)),
    "n = 2": (np.array([1.0, 2.0]), np.array([0.5])),
    "n = 3": (np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.1])),
}


def dense(d: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.diag(d) + np.diag(e, 1) + np.diag(e, -1)


@pytest.mark.parametrize("leaf_size", [1, 16, 128])
@pytest.mark.parametrize("name", list(CASES))
def test_factored_eigendecomposition_is_exact(name, leaf_size):
    d, e = CASES[name]
    n = d.size
    eig = tri.tridiagonal_eigen(d, e, split=True, leaf_size=leaf_size)
    assert isinstance(eig, tri._Split)
    scale = max(np.abs(d).max(), np.abs(e).max())
    S = eig.right(np.eye(n))
    # eigenvalues: ascending and equal to MRRR's to rounding
    assert np.all(np.diff(eig.lam) >= 0)
    ref = eigh_tridiagonal(d, e, eigvals_only=True)
    assert np.abs(eig.lam - ref).max() <= 1e-13 * scale
    # eigenvectors: T S = S Lambda and S orthogonal, to rounding
    assert np.abs(dense(d, e) @ S - S * eig.lam).max() <= 1e-13 * scale
    assert np.abs(S.T @ S - np.eye(n)).max() <= 1e-13
    # left is the transpose of right
    W = np.random.default_rng(3).standard_normal((n, 5))
    np.testing.assert_allclose(eig.left(W), S.T @ W, rtol=0, atol=1e-13 * np.abs(W).max() * n ** 0.5)


def test_ties_across_the_cut_are_rotated():
    # Toeplitz halves have identical spectra: every pole of one half meets its twin, so deflation must rotate
    d, e = CASES["Toeplitz (2, 1)"]
    D, z, n1, beta = merge_inputs(d, e)
    *_, rotations = tri._deflate(D, z, n1, beta)
    assert len(rotations) > 0


def merge_inputs(d: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, float]:
    """D, z, n1 and beta of the top merge, from explicit eigendecompositions of the two halves."""
    n1 = d.size // 2
    beta = float(e[n1 - 1])
    d1, d2 = d[:n1].copy(), d[n1:].copy()
    d1[-1] -= abs(beta)
    d2[0] -= abs(beta)
    l1, s1 = eigh_tridiagonal(d1, e[: n1 - 1])
    l2, s2 = eigh_tridiagonal(d2, e[n1:])
    return np.r_[l1, l2], np.r_[s1[-1], s2[0]], n1, beta


def lapack_dlaed2(D: np.ndarray, z: np.ndarray, n1: int, beta: float):
    """LAPACK's own deflation, called through scipy.linalg.cython_lapack."""
    dlaed2 = tri.lapack_routine("dlaed2", 17)
    if dlaed2 is None:
        pytest.skip("dlaed2 is not reachable through scipy.linalg.cython_lapack")
    n = D.size
    D, z = D.copy(), z.copy()
    Q = np.asfortranarray(np.eye(n))
    indxq = np.r_[np.arange(1, n1 + 1), np.arange(1, n - n1 + 1)].astype(np.intc)
    dlamda, w, q2 = np.empty(n), np.empty(n), np.empty(n * n)
    indx, indxc, indxp, coltyp = (np.empty(n, np.intc) for _ in range(4))
    k, info, rho = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_double(beta)
    ref = ctypes.byref
    dlaed2(ref(k), ref(ctypes.c_int(n)), ref(ctypes.c_int(n1)), D.ctypes.data, Q.ctypes.data, ref(ctypes.c_int(n)),
           indxq.ctypes.data, ref(rho), z.ctypes.data, dlamda.ctypes.data, w.ctypes.data, q2.ctypes.data,
           indx.ctypes.data, indxc.ctypes.data, indxp.ctypes.data, coltyp.ctypes.data, ref(info))
    assert info.value == 0
    return k.value, dlamda[: k.value], w[: k.value], rho.value, np.sort(D[k.value:])


@pytest.mark.parametrize("name", ["kernel on S^2", "kernel on S^9", "random", "Toeplitz (2, 1)", "Toeplitz (0, 1)",
                                  "two clusters, tiny coupling", "diagonal with repeats"])
def test_deflation_matches_lapack_dlaed2(name):
    d, e = CASES[name]
    scale = max(np.abs(d).max(), np.abs(e).max())
    D, z, n1, beta = merge_inputs(d / scale, e / scale)
    # SciPy's OpenBLAS has the tolerance of LAPACK before 2026, 8 unit roundoffs: the port is run with the same
    dlamda, w, rho, kept, deflated, lam_deflated, _ = tri._deflate(D, z, n1, beta, tol_factor=8 * 2.0 ** -53)
    k, ref_dlamda, ref_w, ref_rho, ref_deflated = lapack_dlaed2(D, z, n1, beta)
    assert len(kept) == k and len(deflated) == D.size - k
    # equal up to the last bit or two (Fortran may fuse the rotated poles' multiply-adds)
    np.testing.assert_allclose(dlamda, ref_dlamda, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(np.abs(w), np.abs(ref_w), rtol=1e-15, atol=1e-16)
    assert rho == ref_rho
    np.testing.assert_allclose(np.sort(lam_deflated), ref_deflated, rtol=1e-15, atol=1e-16)
    # the current tolerance (64 unit roundoffs) deflates at least as much
    assert len(tri._deflate(D, z, n1, beta)[3]) <= k


def test_explicit_path_when_small_or_unavailable(monkeypatch):
    d, e = CASES["kernel on S^2"]
    assert isinstance(tri.tridiagonal_eigen(d[:50], e[:49]), tri._Explicit)          # below SPLIT_MIN_SIZE
    assert isinstance(tri.tridiagonal_eigen(d, e), tri._Split)
    split = tri.tridiagonal_eigen(d, e)
    monkeypatch.setattr(tri, "_dlaed9", lambda: None)                                # no LAPACK dlaed9: fall back
    explicit = tri.tridiagonal_eigen(d, e)
    assert isinstance(explicit, tri._Explicit)
    np.testing.assert_allclose(split.lam, explicit.lam, rtol=0, atol=1e-13 * np.abs(d).max())
    W = np.random.default_rng(4).standard_normal((d.size, 3))
    x = split.right(split.left(W))                                                   # S S^T W = W
    np.testing.assert_allclose(x, W, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.abs(split.left(W)), np.abs(explicit.left(W)), rtol=0, atol=1e-8)  # simple spectrum


def test_zero_matrix_and_one_by_one():
    zero = tri.tridiagonal_eigen(np.zeros(300), np.zeros(299), split=True)           # nothing to scale: explicit
    np.testing.assert_array_equal(zero.lam, np.zeros(300))
    one = tri.tridiagonal_eigen(np.array([2.5]), np.empty(0))
    np.testing.assert_array_equal(one.lam, [2.5])
    np.testing.assert_array_equal(one.right(np.ones((1, 2))), np.ones((1, 2)))


def test_off_diagonal_length_is_checked():
    with pytest.raises(ValueError, match="e must have n - 1 = 4 entries"):
        tri.tridiagonal_eigen(np.ones(5), np.ones(5))
