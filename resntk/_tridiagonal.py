"""Eigendecomposition of a symmetric tridiagonal matrix with the eigenvector matrix kept factored.

Used by :class:`resntk.regression.GradientFlowRegressor` (chapter 2, "Kernel regression and early stopping"), whose
predictions only ever need products :math:`S^\\top W` and :math:`S M` with thin matrices, never the eigenvector
matrix :math:`S` of :math:`T = S\\Lambda S^\\top` itself.

Cuppen's divide and conquer, as in LAPACK's ``dstedc``. Cut :math:`T` after row :math:`n_1 = \\lfloor n/2\\rfloor`,
where its off-diagonal entry is :math:`\\beta`:

.. math::

    T = \\begin{pmatrix} T_1' & \\\\ & T_2' \\end{pmatrix} + |\\beta|\\, v v^\\top, \\qquad
    v = e_{n_1} + \\operatorname{sign}(\\beta)\\, e_{n_1+1},

with :math:`T_1', T_2'` the two diagonal blocks, each with :math:`|\\beta|` subtracted from the corner next to the
cut. With :math:`T_i' = S_i\\Lambda_i S_i^\\top` (recursively), :math:`T = B\\,(D + \\rho zz^\\top)\\,B^\\top` with
:math:`B = \\operatorname{diag}(S_1, S_2)`, :math:`D = \\operatorname{diag}(\\Lambda_1, \\Lambda_2)` and
:math:`z = B^\\top v/\\sqrt2` (the last row of :math:`S_1` and the first row of :math:`S_2`). Deflation (a port of
``dlaed2``: tiny :math:`z_i` give eigenpairs :math:`(d_i, e_i)` at once, and two poles closer than the tolerance
are rotated together by a Givens rotation :math:`C`) leaves a secular equation of order :math:`k`, which LAPACK's
``dlaed9`` solves, building its eigenvectors :math:`G` stably (Gu and Eisenstat 1995). Hence

.. math::

    S = B\\, C \\begin{pmatrix} G & \\\\ & I_{n-k} \\end{pmatrix} \\Pi ,

with :math:`\\Pi` the permutation that sorts the eigenvalues. ``dstedc`` multiplies :math:`B` by :math:`G` at every
merge, :math:`\\tfrac43 n^3` flops in all, and for the clustered spectra of kernel matrices MRRR (``dstemr``) is no
faster. Here the factors are kept: a product with :math:`S` walks down the tree (one :math:`k\\times k` product per
node), and building the tree costs the secular equations, :math:`O(n^2)`, plus explicit MRRR on leaves of at most
:data:`LEAF_SIZE` rows. On the kernel matrices of ``benchmarks/regression.py`` (:math:`n = 2000`) this is about
three times faster than forming :math:`S` with ``dstemr``, with the same accuracy (``tests/test_tridiagonal.py``:
residual and orthogonality at :math:`10^{-14}`). ``dlaed9`` is reached through :mod:`scipy.linalg.cython_lapack`;
where it is unavailable, or for :math:`n <` :data:`SPLIT_MIN_SIZE`, the eigenvectors are formed explicitly by MRRR
(``scipy.linalg.eigh_tridiagonal``).
"""

from __future__ import annotations

import ctypes
import math
from typing import Callable

import numpy as np
from scipy.linalg import eigh_tridiagonal

__all__ = ["TridiagonalEigen", "tridiagonal_eigen"]

#: Below this size the split saves nothing measurable: the eigenvectors are formed explicitly.
SPLIT_MIN_SIZE = 256
#: Deflation tolerance of :func:`_deflate`, relative to max(|D|, |z|): reference LAPACK's current 64 times the unit
#: roundoff (raised from 8 in 2026, LAPACK issue #255, so that close poles that escape deflation cannot make the
#: secular eigenvectors lose orthogonality). The OpenBLAS inside SciPy still uses 8 unit roundoffs.
DEFLATION_TOL = 64.0 * 2.0 ** -53
#: Largest diagonal block whose eigenvectors are formed explicitly inside the divide-and-conquer tree.
LEAF_SIZE = 128


class TridiagonalEigen:
    """:math:`T = S\\Lambda S^\\top` with products by :math:`S` and :math:`S^\\top` (eigenvalues ascending).

    Attributes
    ----------
    lam
        Eigenvalues, ascending, shape ``(n,)``.
    """

    lam: np.ndarray

    def left(self, W: np.ndarray) -> np.ndarray:
        """:math:`S^\\top W` for ``W`` of shape ``(n, k)``."""
        raise NotImplementedError

    def right(self, M: np.ndarray) -> np.ndarray:
        """:math:`S M` for ``M`` of shape ``(n, k)``."""
        raise NotImplementedError


def _leaf(d: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and explicit eigenvectors by MRRR (``dstemr``), including the 1 x 1 case."""
    if d.size == 1:
        return d.astype(np.float64, copy=True), np.ones((1, 1))
    return eigh_tridiagonal(d, e, check_finite=False)


class _Explicit(TridiagonalEigen):
    """The eigenvector matrix formed by MRRR (``dstemr``)."""

    def __init__(self, d: np.ndarray, e: np.ndarray) -> None:
        self.lam, self._S = _leaf(d, e)

    def left(self, W: np.ndarray) -> np.ndarray:
        return self._S.T @ W

    def right(self, M: np.ndarray) -> np.ndarray:
        return self._S @ M


class _Node:
    """A node of the divide-and-conquer tree on a scaled tridiagonal matrix: ascending ``lam``, products, rows."""

    lam: np.ndarray
    n: int

    def left(self, W: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def right(self, M: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def row(self, i: int) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class _LeafNode(_Node):
    """Explicit eigenvectors (MRRR)."""

    def __init__(self, d: np.ndarray, e: np.ndarray) -> None:
        self.n = d.size
        self.lam, self._S = _leaf(d, e)

    def left(self, W: np.ndarray) -> np.ndarray:
        return self._S.T @ W

    def right(self, M: np.ndarray) -> np.ndarray:
        return self._S @ M

    def row(self, i: int) -> np.ndarray:
        return self._S[i].copy()


def _deflate(D: np.ndarray, z: np.ndarray, n1: int, rho: float, tol_factor: float = DEFLATION_TOL):
    """Deflation of :math:`D + \\rho zz^\\top` as LAPACK's ``dlaed2`` does it (tolerance :data:`DEFLATION_TOL`).

    Returns the secular problem's poles ``dlamda`` and weights ``w`` (ascending, distinct), the modified
    :math:`\\rho`, the indices ``kept`` whose (rotated) columns carry the secular eigenvectors, the indices
    ``deflated`` with their eigenvalues ``lam_deflated``, and the Givens rotations ``(p, q, c, s)`` applied, in order,
    to the columns of the identity (``drot``: :math:`x' = cx + sy`, :math:`y' = cy - sx` for columns ``p``, ``q``).
    The column grouping of ``dlaed2`` (which only serves ``dlaed3``'s matrix product) is left out.
    """
    D = D.copy()
    z = z.copy()
    if rho < 0:
        z[n1:] = -z[n1:]
    z *= 1.0 / math.sqrt(2.0)
    rho = abs(2.0 * rho)
    order = np.argsort(D, kind="stable")          # dlamrg: merge of the two ascending halves
    tol = tol_factor * max(float(np.abs(D).max()), float(np.abs(z).max()))
    rotations: list[tuple[int, int, float, float]] = []
    kept: list[int] = []
    deflated: list[int] = []
    if rho * float(np.abs(z).max()) <= tol:
        return np.empty(0), np.empty(0), rho, kept, [int(j) for j in order], D[order], rotations
    small = (rho * np.abs(z) <= tol)
    candidates = order[~small[order]]
    if candidates.size >= 2:
        # fast path: if no two consecutive surviving poles are close enough to rotate, nothing is rotated
        p, q = candidates[:-1], candidates[1:]
        tau = np.hypot(z[p], z[q])
        if not (np.abs((D[q] - D[p]) * (z[q] / tau) * (z[p] / tau)) <= tol).any():
            deflated_fast = order[small[order]]
            return D[candidates], z[candidates], rho, candidates.tolist(), deflated_fast.tolist(), \
                D[deflated_fast], rotations
    pj = -1
    for j in order.tolist():
        if small[j]:
            deflated.append(j)
            continue
        if pj < 0:
            pj = j
            continue
        s = float(z[pj])
        c = float(z[j])
        tau = math.hypot(c, s)
        t = float(D[j] - D[pj])
        c /= tau
        s = -s / tau
        if abs(t * c * s) <= tol:               # two close poles: rotate one weight onto the other
            z[j] = tau
            z[pj] = 0.0
            rotations.append((pj, j, c, s))
            dp, dj = float(D[pj]), float(D[j])
            D[pj] = dp * c * c + dj * s * s
            D[j] = dp * s * s + dj * c * c
            deflated.append(pj)
        else:
            kept.append(pj)
        pj = j
    kept.append(pj)
    return D[kept], z[kept], rho, kept, deflated, D[deflated], rotations


class _Columns:
    """The identity's columns after the deflation's Givens rotations, taken in the order ``perm``.

    :math:`C = R_1 R_2\\cdots R_m P` with :math:`P e_u = e_{\\mathrm{perm}[u]}` and :math:`R_r` the rotation of
    columns :math:`(p, q)`: :math:`x' = cx + sy`, :math:`y' = cy - sx` (``drot``). Rotations are rare (they need two
    poles closer than the deflation tolerance), so they are applied one by one.
    """

    def __init__(self, perm: list[int], rotations: list[tuple[int, int, float, float]]) -> None:
        self._perm = np.asarray(perm, dtype=np.intp)
        self._rotations = rotations

    def __matmul__(self, Z: np.ndarray) -> np.ndarray:
        """:math:`CZ`."""
        Y = np.empty_like(Z)
        Y[self._perm] = Z
        for p, q, c, s in reversed(self._rotations):
            yp, yq = Y[p].copy(), Y[q].copy()
            Y[p] = c * yp - s * yq
            Y[q] = s * yp + c * yq
        return Y

    def rmatmul_transpose(self, W: np.ndarray) -> np.ndarray:
        """:math:`C^\\top W`."""
        if self._rotations:
            W = W.copy()
            for p, q, c, s in self._rotations:
                wp, wq = W[p].copy(), W[q].copy()
                W[p] = c * wp + s * wq
                W[q] = c * wq - s * wp
        return W[self._perm]


class _MergeNode(_Node):
    """:math:`S = \\operatorname{diag}(S_1, S_2)\\, C\\, \\operatorname{diag}(G, I)\\, \\Pi` with the children kept
    factored, :math:`C` the deflation's permutation and rotations and :math:`G` the secular eigenvectors
    (``dlaed9``)."""

    def __init__(self, d: np.ndarray, e: np.ndarray, leaf_size: int, dlaed9: Callable) -> None:
        n = d.size
        n1 = n // 2
        self.n, self._n1 = n, n1
        beta = float(e[n1 - 1])
        d1, d2 = d[:n1].copy(), d[n1:].copy()
        d1[-1] -= abs(beta)
        d2[0] -= abs(beta)
        self._first = _node(d1, e[: n1 - 1], leaf_size, dlaed9)
        self._second = _node(d2, e[n1:], leaf_size, dlaed9)
        D = np.concatenate([self._first.lam, self._second.lam])
        z = np.concatenate([self._first.row(n1 - 1), self._second.row(0)])
        dlamda, w, rho, kept, deflated, lam_deflated, rotations = _deflate(D, z, n1, beta)
        k = len(kept)
        self._k = k
        self._C = _Columns(kept + deflated, rotations)
        if k > 0:
            lam_kept = np.empty(k)
            G = np.empty((k, k), order="F")
            work = np.empty((k, k), order="F")
            info = ctypes.c_int(0)
            dlamda = np.ascontiguousarray(dlamda)
            w = np.ascontiguousarray(w)
            dlaed9(_int(k), _int(1), _int(k), _int(k), _ptr(lam_kept), _ptr(work), _int(k),
                   ctypes.byref(ctypes.c_double(rho)), _ptr(dlamda), _ptr(w), _ptr(G), _int(k), ctypes.byref(info))
            if info.value != 0:
                raise RuntimeError(f"LAPACK dlaed9 failed to converge (info={info.value})")
            self._G = G
        else:
            lam_kept = np.empty(0)
            self._G = np.empty((0, 0))
        lam = np.concatenate([lam_kept, lam_deflated])
        self._order = np.argsort(lam, kind="stable")
        self.lam = lam[self._order]

    def _children_right(self, Y: np.ndarray) -> np.ndarray:
        n1 = self._n1
        return np.concatenate([self._first.right(Y[:n1]), self._second.right(Y[n1:])])

    def right(self, M: np.ndarray) -> np.ndarray:
        k = self._k
        Z = np.empty_like(M)
        Z[self._order] = M
        if k > 0:
            Z[:k] = self._G @ Z[:k]
        return self._children_right(self._C @ Z)

    def _finish_left(self, X: np.ndarray) -> np.ndarray:
        k = self._k
        if k > 0:
            X[:k] = self._G.T @ X[:k]
        return X[self._order]

    def left(self, W: np.ndarray) -> np.ndarray:
        n1 = self._n1
        Y = np.concatenate([self._first.left(W[:n1]), self._second.left(W[n1:])])
        return self._finish_left(self._C.rmatmul_transpose(Y))

    def row(self, i: int) -> np.ndarray:
        n1 = self._n1
        y = np.zeros(self.n)
        if i < n1:
            y[:n1] = self._first.row(i)
        else:
            y[n1:] = self._second.row(i - n1)
        return self._finish_left(self._C.rmatmul_transpose(y))


def _node(d: np.ndarray, e: np.ndarray, leaf_size: int, dlaed9: Callable) -> _Node:
    if d.size <= leaf_size or d.size < 2:
        return _LeafNode(d, e)
    return _MergeNode(d, e, leaf_size, dlaed9)


class _Split(TridiagonalEigen):
    """Divide and conquer with every merge kept factored (module docstring); leaves of at most ``leaf_size``."""

    def __init__(self, d: np.ndarray, e: np.ndarray, dlaed9: Callable, leaf_size: int = LEAF_SIZE) -> None:
        # scale to unit size, as dstedc does, so that the secular equations neither overflow nor underflow
        scale = float(max(np.abs(d).max(), np.abs(e).max()))
        self._root = _MergeNode(d / scale, e / scale, max(int(leaf_size), 1), dlaed9)
        self.lam = self._root.lam * scale

    def left(self, W: np.ndarray) -> np.ndarray:
        return self._root.left(W)

    def right(self, M: np.ndarray) -> np.ndarray:
        return self._root.right(M)


def _int(value: int) -> ctypes.c_void_p:
    return ctypes.byref(ctypes.c_int(value))


def _ptr(array: np.ndarray) -> int:
    return array.ctypes.data


def lapack_routine(name: str, n_args: int) -> Callable | None:
    """A LAPACK routine from :mod:`scipy.linalg.cython_lapack` as a ctypes function (``None`` if unavailable)."""
    try:
        from scipy.linalg import cython_lapack

        capsule = cython_lapack.__pyx_capi__[name]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        address = get_pointer(capsule, get_name(capsule))
    except (ImportError, AttributeError, KeyError, ValueError):  # pragma: no cover - depends on the SciPy build
        return None
    if not address:  # pragma: no cover
        return None
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_args))(address)


_ROUTINES: dict[str, Callable | None] = {}


def _dlaed9() -> Callable | None:
    if "dlaed9" not in _ROUTINES:
        _ROUTINES["dlaed9"] = lapack_routine("dlaed9", 13)
    return _ROUTINES["dlaed9"]


def tridiagonal_eigen(d: np.ndarray, e: np.ndarray, *, split: bool | None = None,
                      leaf_size: int = LEAF_SIZE) -> TridiagonalEigen:
    """Eigendecomposition of the symmetric tridiagonal matrix with diagonal ``d`` and off-diagonal ``e``.

    Parameters
    ----------
    d, e
        Diagonal, shape ``(n,)``, and off-diagonal, shape ``(n - 1,)``, float64 and finite.
    split
        ``None`` (default): keep the eigenvectors factored by one divide-and-conquer merge when
        ``n >= SPLIT_MIN_SIZE`` and LAPACK's ``dlaed2``/``dlaed9`` are reachable; ``True``/``False`` force the
        choice (``True`` still falls back to the explicit path for ``n < 2`` or a zero matrix).

    Returns
    -------
    TridiagonalEigen
        Ascending eigenvalues ``lam`` and the products ``left(W)`` :math:`= S^\\top W`, ``right(M)`` :math:`= SM`.
    """
    d = np.ascontiguousarray(d, dtype=np.float64)
    e = np.ascontiguousarray(e, dtype=np.float64)
    n = d.size
    if e.size != max(n - 1, 0):
        raise ValueError(f"e must have n - 1 = {n - 1} entries, got {e.size}")
    dlaed9 = _dlaed9()
    use_split = (n >= SPLIT_MIN_SIZE) if split is None else split
    if use_split and n >= 2 and dlaed9 is not None and (np.abs(d).max() > 0 or np.abs(e).max() > 0):
        return _Split(d, e, dlaed9, leaf_size)
    return _Explicit(d, e)
