"""Tests of resntk.data: sampling on the sphere (statistical checks), targets against closed forms, the offline data
sets against their sources, and the verified loaders on small IDX / CIFAR-style files written here (valid,
corrupted, truncated), with the network and the unpickler booby-trapped so that any forbidden use fails the test."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import random
import struct
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from scipy import stats

import resntk.data as data_mod
import resntk.data._download as download_mod
import resntk.data._loaders as loaders_mod
from resntk.data import (
    ChecksumError,
    circle_angles,
    circle_points,
    harmonic_target_circle,
    load_cifar100,
    load_digits_sphere,
    load_mnist,
    load_mnist1d,
    one_hot,
    parse_idx,
    project_to_sphere,
    random_rkhs_target,
    rkhs_target,
    sphere_uniform,
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test unless a test installs its own fake."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the network was touched")
    monkeypatch.setattr(urllib.request, "urlopen", forbidden)


# ---------------------------------------------------------------------------------------------------------------
# the sphere
# ---------------------------------------------------------------------------------------------------------------

def test_sphere_uniform_is_on_the_sphere_and_deterministic():
    X = sphere_uniform(500, 4, seed=3)
    assert isinstance(X, torch.Tensor) and X.shape == (500, 4) and X.dtype == torch.float64
    np.testing.assert_allclose(np.linalg.norm(X.numpy(), axis=1), 1.0, atol=1e-15)
    np.testing.assert_array_equal(X, sphere_uniform(500, 4, seed=3))
    assert not np.allclose(X, sphere_uniform(500, 4, seed=4))
    # the same points as resntk 0.1 (NumPy's default_rng stream, normalised Gaussians)
    Z = np.random.default_rng(3).standard_normal((500, 4))
    np.testing.assert_array_equal(X.numpy(), Z / np.linalg.norm(Z, axis=1, keepdims=True))


def test_sphere_uniform_is_uniform():
    # on S^1 the angle is uniform on (-pi, pi]
    theta = circle_angles(sphere_uniform(4000, 2, seed=0))
    assert stats.kstest(theta, stats.uniform(loc=-np.pi, scale=2 * np.pi).cdf).pvalue > 1e-3
    # on S^2 each coordinate is uniform on [-1, 1] (Archimedes)
    X = sphere_uniform(4000, 3, seed=1)
    for j in range(3):
        assert stats.kstest(X[:, j], stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-3
    # on S^9 the second moment is I/d (tolerance: about 6 standard errors)
    Y = sphere_uniform(20000, 10, seed=2)
    M = Y.T @ Y / len(Y)
    np.testing.assert_allclose(M, np.eye(10) / 10, atol=6 * np.sqrt(2 / (10 * 12 * 20000)) + 6 / np.sqrt(20000) / 10)
    np.testing.assert_allclose(Y.mean(0), 0, atol=6 / np.sqrt(10 * 20000))


def test_circle_helpers_round_trip():
    theta = np.linspace(-3.1, 3.1, 17)
    np.testing.assert_allclose(circle_angles(circle_points(theta)), theta, atol=1e-15)
    with pytest.raises(ValueError, match="X must have shape"):
        circle_angles(np.ones((3, 3)))


def test_sphere_validation():
    with pytest.raises(ValueError, match="dim"):
        sphere_uniform(10, 1)
    with pytest.raises(TypeError, match="n must be an int"):
        sphere_uniform(2.5, 3)


def test_project_to_sphere_uses_the_training_mean():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 5)) + 3.0
    B = rng.standard_normal((8, 5)) + 3.0
    PA, PB = project_to_sphere(A, B)
    np.testing.assert_allclose(np.linalg.norm(PA, axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(PB, axis=1), 1.0, atol=1e-15)
    # invariant to a common shift and a common positive scale (centering, then normalising)
    QA, QB = project_to_sphere(2.5 * A - 7.0, 2.5 * B - 7.0)
    np.testing.assert_allclose(QA, PA, atol=1e-13)
    np.testing.assert_allclose(QB, PB, atol=1e-13)
    # the test set does not influence the training projection; a test point mean + v maps to v / |v|
    v = np.array([1.0, -2.0, 0.0, 0.0, 2.0])
    RA, RB = project_to_sphere(A, A.mean(0)[None, :] + v)
    np.testing.assert_allclose(RA, PA)
    np.testing.assert_allclose(RB[0], v / 3.0, atol=1e-14)
    with pytest.raises(ValueError, match="row 0 is zero"):
        project_to_sphere(A, A.mean(0)[None, :])


def test_one_hot():
    y = np.array([2, 0, 1, 2])
    Y = one_hot(y)
    np.testing.assert_array_equal(Y.argmax(1), y)
    np.testing.assert_array_equal(Y.sum(1), 1.0)
    Yc = one_hot(y, 4, centered=True)
    assert Yc.shape == (4, 4)
    np.testing.assert_allclose(Yc.sum(1), 0.0, atol=1e-15)
    with pytest.raises(ValueError, match="labels must be < n_classes"):
        one_hot(y, 2)
    with pytest.raises(ValueError, match="labels must be integers"):
        one_hot(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="labels must be 1-D"):
        one_hot(np.zeros((2, 2), dtype=int))


# ---------------------------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------------------------

def test_rkhs_target_with_the_linear_kernel_has_closed_forms():
    linear = lambda A, B: A @ B.T  # noqa: E731
    Z = sphere_uniform(4, 3, seed=1).numpy()
    c = np.array([0.5, -1.0, 2.0, 0.25])
    f = rkhs_target(linear, Z, c)
    w = Z.T @ c                              # f(x) = <w, x> with w = sum_j c_j z_j, and ||f||_H = ||w||
    X = sphere_uniform(10, 3, seed=2).numpy()
    np.testing.assert_allclose(f(X), X @ w, atol=1e-14)
    assert f.rkhs_norm() == pytest.approx(np.linalg.norm(w), rel=1e-12)
    with pytest.raises(ValueError, match="coefs must have shape"):
        rkhs_target(linear, Z, c[:3])
    with pytest.raises(ValueError, match="X must have 3 features"):
        f(np.ones((2, 4)))


def test_random_rkhs_target_is_the_demo_recipe():
    gauss = lambda A, B: np.exp(np.asarray(A) @ np.asarray(B).T)  # noqa: E731  (called with tensors or arrays)
    f = random_rkhs_target(gauss, dim=3, n_centers=5, seed=7)
    g = random_rkhs_target(gauss, dim=3, n_centers=5, seed=7)
    assert f.centers.shape == (5, 3) and f.coefs.shape == (5,)
    np.testing.assert_allclose(np.linalg.norm(f.centers, axis=1), 1.0, atol=1e-15)
    np.testing.assert_array_equal(f.coefs, g.coefs)
    X = sphere_uniform(6, 3, seed=0).numpy()
    centers, coefs = f.centers.numpy(), f.coefs.numpy()
    np.testing.assert_allclose(f(X), sum(cj * np.exp(X @ zj) for cj, zj in zip(coefs, centers)), atol=1e-12)
    assert isinstance(f(X), np.ndarray) and isinstance(f(torch.from_numpy(X)), torch.Tensor)


def test_harmonic_target_has_the_prescribed_decay_and_parity():
    f = harmonic_target_circle()
    np.testing.assert_array_equal(f.degrees, np.arange(2, 399, 2))
    np.testing.assert_allclose(f.coefficients, np.arange(2, 399, 2) ** -1.6)
    theta = np.array([0.0, 0.3, 2.0, -1.1])
    direct = [sum(k ** -1.6 * np.cos(k * th) for k in range(2, 399, 2)) for th in theta]
    np.testing.assert_allclose(f(theta), direct, atol=1e-12)
    np.testing.assert_allclose(f(circle_points(theta)), direct, atol=1e-12)
    # the L^2 norm for the uniform measure, by the exact equispaced quadrature of a trigonometric polynomial
    grid = np.arange(1024) * 2 * np.pi / 1024
    assert f.l2_norm_sq == pytest.approx(np.mean(f(grid) ** 2), rel=1e-12)
    odd = harmonic_target_circle(decay=2.0, max_degree=7, parity="odd")
    np.testing.assert_array_equal(odd.degrees, [1, 3, 5, 7])
    allk = harmonic_target_circle(decay=1.0, max_degree=4, parity="all", amplitude=3.0)
    np.testing.assert_allclose(allk.coefficients, 3.0 / np.arange(1, 5))
    with pytest.raises(ValueError, match="parity"):
        harmonic_target_circle(parity="prime")
    with pytest.raises(ValueError, match="decay"):
        harmonic_target_circle(decay=-1.0)


def test_harmonic_rkhs_norm_matches_a_kernel_section_representation():
    # kernel kappa(cos d) = mu_0 + sum_k 2 mu_k cos(k d), with mu = (1, 0.5, 0.2, 0.1, 0.05)
    mu = np.array([1.0, 0.5, 0.2, 0.1, 0.05])

    def kernel(A, B):
        d = circle_angles(A)[:, None] - circle_angles(B)[None, :]
        return mu[0] + sum(2 * mu[k] * np.cos(k * d) for k in range(1, 5))

    f = harmonic_target_circle(decay=1.0, max_degree=4, parity="even", amplitude=0.7)    # 0.35 cos 2t + 0.175 cos 4t
    # the same function as a sum of kernel sections at N equispaced centers: c_j = sum_k a_k cos(k z_j) / (N mu_k)
    N = 16
    z = np.arange(N) * 2 * np.pi / N
    c = sum(a * np.cos(k * z) / (N * mu[k]) for k, a in zip(f.degrees.tolist(), f.coefficients.tolist()))
    g = rkhs_target(kernel, circle_points(z), c)
    theta = np.linspace(-3, 3, 11)
    np.testing.assert_allclose(g(circle_points(theta)), f(theta), atol=1e-12)
    assert f.rkhs_norm_sq(mu) == pytest.approx(g.rkhs_norm() ** 2, rel=1e-10)
    # a harmonic whose eigenvalue vanishes is outside the RKHS
    assert harmonic_target_circle(decay=1.0, max_degree=3, parity="odd").rkhs_norm_sq([1, 1, 1, 0]) == np.inf


# ---------------------------------------------------------------------------------------------------------------
# offline data sets
# ---------------------------------------------------------------------------------------------------------------

def test_load_digits_sphere():
    d = load_digits_sphere(seed=0)
    assert d.X_train.shape == (1347, 64) and d.X_test.shape == (450, 64) and d.n_classes == 10
    np.testing.assert_allclose(np.linalg.norm(d.X_train, axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(d.X_test, axis=1), 1.0, atol=1e-14)
    counts = np.bincount(d.y_test, minlength=10)                # stratified: every class about 45 times
    assert counts.min() >= 43 and counts.max() <= 47
    again = load_digits_sphere(seed=0)
    np.testing.assert_array_equal(again.X_train, d.X_train)
    assert not np.array_equal(load_digits_sphere(seed=1).y_train, d.y_train)
    Ytr, Yte = d.one_hot()
    np.testing.assert_array_equal(Ytr.argmax(1), d.y_train)
    binary = load_digits_sphere(classes=(8, 3))
    assert binary.n_classes == 2 and set(np.unique(binary.y_train)) == {0, 1}
    from sklearn.datasets import load_digits
    raw = load_digits()
    assert len(binary.y_train) + len(binary.y_test) == int(np.isin(raw.target, [3, 8]).sum())
    assert (binary.y_train == 0).sum() + (binary.y_test == 0).sum() == int((raw.target == 8).sum())
    with pytest.raises(ValueError, match="classes"):
        load_digits_sphere(classes=(3,))
    with pytest.raises(ValueError, match="test_size"):
        load_digits_sphere(test_size=1.5)


def test_load_mnist1d_matches_the_package_and_restores_the_global_rng():
    from mnist1d.data import get_dataset_args, make_dataset

    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state(), random.getstate()
    d = load_mnist1d(200)
    np_after = np.random.get_state()
    assert all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b for a, b in zip(np_before, np_after))
    assert random.getstate() == py_before
    assert d.X_train.shape == (160, 40) and d.X_test.shape == (40, 40) and d.n_classes == 10
    np.testing.assert_allclose(np.linalg.norm(d.X_train, axis=1), 1.0, atol=1e-14)
    args = get_dataset_args()
    args.num_samples = 200
    ref = make_dataset(args)
    np.testing.assert_array_equal(d.y_train, ref["y"])
    np.testing.assert_array_equal(d.y_test, ref["y_test"])
    np.testing.assert_allclose(d.X_train, project_to_sphere(ref["x"]), atol=1e-14)


# ---------------------------------------------------------------------------------------------------------------
# verified loaders: MNIST (IDX)
# ---------------------------------------------------------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written from the format's definition: magic 0 0 0x08 ndim, big-endian sizes, then the bytes."""
    assert array.dtype == np.uint8
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([7, 8, 5], dtype=np.uint8),
    }
    blobs = {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}
    for name, blob in blobs.items():
        (tmp_path / name).write_bytes(blob)
    return tmp_path, arrays, blobs, {name: sha(blob) for name, blob in blobs.items()}


def test_parse_idx_reads_the_format_and_refuses_damage():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(a)), a)
    be = struct.pack(">HBB", 0, 0x0C, 1) + struct.pack(">I", 3) + np.array([1, -2, 300], ">i4").tobytes()
    np.testing.assert_array_equal(parse_idx(be), [1, -2, 300])
    with pytest.raises(ValueError, match="truncated"):
        parse_idx(idx_bytes(a)[:-1])
    with pytest.raises(ValueError, match="not an IDX file"):
        parse_idx(b"\x12\x34" + idx_bytes(a)[2:])
    with pytest.raises(ValueError, match="too short"):
        parse_idx(b"\x00\x00")


def test_load_mnist_reads_verified_files(mnist_dir):
    root, arrays, blobs, digests = mnist_dir
    d = load_mnist(root, checksums=digests)
    assert d.X_train.shape == (6, 784) and d.X_test.shape == (3, 784) and d.n_classes == 10
    np.testing.assert_array_equal(d.y_train, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    np.testing.assert_allclose(np.linalg.norm(d.X_train, axis=1), 1.0, atol=1e-14)
    raw = load_mnist(root, checksums=digests, sphere=False, n_train=4, n_test=2)
    np.testing.assert_allclose(raw.X_train, arrays["train-images-idx3-ubyte.gz"][:4].reshape(4, -1) / 255.0)
    assert raw.X_test.shape == (2, 784)


def test_load_mnist_missing_file_says_where_to_put_it(mnist_dir):
    root, arrays, blobs, digests = mnist_dir
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz") as info:
        load_mnist(root, checksums=digests)
    assert str(root) in str(info.value) and "download=True" in str(info.value)


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_load_mnist_refuses_damaged_files_before_parsing(mnist_dir, monkeypatch, damage):
    root, arrays, blobs, digests = mnist_dir
    name = "train-images-idx3-ubyte.gz"
    blob = bytearray(blobs[name])
    if damage == "corrupted":
        blob[len(blob) // 2] ^= 0xFF
    else:
        blob = blob[: len(blob) // 2]
    (root / name).write_bytes(bytes(blob))

    def never(*args, **kwargs):
        raise AssertionError("unverified bytes were parsed")
    monkeypatch.setattr(loaders_mod.gzip, "decompress", never)
    monkeypatch.setattr(loaders_mod, "parse_idx", never)
    with pytest.raises(ChecksumError, match="corrupted, truncated"):
        load_mnist(root, checksums=digests)


def test_load_mnist_verified_but_truncated_payload_is_a_clear_error(mnist_dir):
    root, arrays, blobs, digests = mnist_dir
    name = "t10k-images-idx3-ubyte.gz"
    short = gzip.compress(idx_bytes(arrays[name])[:-100], mtime=0)
    (root / name).write_bytes(short)
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(root, checksums={**digests, name: sha(short)})


def test_load_mnist_refuses_unknown_digests(mnist_dir, monkeypatch):
    root, arrays, blobs, digests = mnist_dir
    monkeypatch.setitem(data_mod.MNIST_FILES, "train-labels-idx1-ubyte.gz", None)
    others = {k: v for k, v in digests.items() if k != "train-labels-idx1-ubyte.gz"}
    with pytest.raises(ValueError, match="no SHA-256 digest is known"):
        load_mnist(root, checksums=others)
    with pytest.raises(ValueError, match="unknown file names"):
        load_mnist(root, checksums={"mnist.npz": "0" * 64})


def test_the_official_digests_are_well_formed():
    for table in (data_mod.MNIST_FILES, data_mod.CIFAR100_FILES):
        for digest in table.values():
            assert len(digest) == 64 and int(digest, 16) >= 0


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_writes_verified_files_atomically(tmp_path, mnist_dir, monkeypatch):
    _, arrays, blobs, digests = mnist_dir
    root = tmp_path / "fresh"
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return FakeResponse(blobs[url.rsplit("/", 1)[1]])
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    d = load_mnist(root, download=True, checksums=digests)
    assert len(calls) == 4 and d.X_train.shape == (6, 784)
    assert sorted(p.name for p in root.iterdir()) == sorted(blobs)          # no temporary file left behind
    for name, blob in blobs.items():
        assert (root / name).read_bytes() == blob
    # a second call reads the verified files and never downloads again
    calls.clear()
    load_mnist(root, download=True, checksums=digests)
    assert calls == []


def test_download_of_wrong_bytes_leaves_nothing_and_tries_the_next_mirror(tmp_path, mnist_dir, monkeypatch):
    _, arrays, blobs, digests = mnist_dir
    root = tmp_path / "fresh"
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        if url.startswith(download_mod.MNIST_MIRRORS[0]):
            return FakeResponse(blobs[name][:-10])                          # a truncated transfer
        return FakeResponse(blobs[name])
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    load_mnist(root, download=True, checksums=digests)
    assert len(calls) == 8                                                  # every file: first mirror, then second
    assert sorted(p.name for p in root.iterdir()) == sorted(blobs)

    root2 = tmp_path / "bad"
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"not mnist"))
    with pytest.raises(ConnectionError, match="does not match"):
        load_mnist(root2, download=True, checksums=digests)
    assert list(root2.iterdir()) == []


def test_download_interrupted_midway_leaves_the_old_file_untouched(tmp_path, mnist_dir, monkeypatch):
    root, arrays, blobs, digests = mnist_dir
    name = "train-labels-idx1-ubyte.gz"
    (root / name).write_bytes(b"old damaged contents")

    class Broken(FakeResponse):
        def read(self, size=-1):
            if self.tell() > 0:
                raise OSError("connection reset")
            return super().read(8)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Broken(blobs[name]))
    with pytest.raises(ConnectionError, match="connection reset"):
        load_mnist(root, download=True, checksums=digests)
    assert (root / name).read_bytes() == b"old damaged contents"
    assert sorted(p.name for p in root.iterdir()) == sorted(blobs)


def test_offline_download_fails_with_a_clear_message(tmp_path, mnist_dir, monkeypatch):
    _, arrays, blobs, digests = mnist_dir

    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError) as info:
        load_mnist(tmp_path / "m", download=True, checksums=digests)
    message = str(info.value)
    assert "offline" in message and str(tmp_path / "m") in message and "name resolution" in message


# ---------------------------------------------------------------------------------------------------------------
# verified loaders: CIFAR-100 (python pickles in a tar.gz)
# ---------------------------------------------------------------------------------------------------------------

BOOM = []


def _boom():
    BOOM.append(True)


class Evil:
    def __reduce__(self):
        return (_boom, ())


def cifar_pickle(obj) -> bytes:
    """A Python-2-style pickle (protocol 2) naming numpy.core.multiarray, as the official files do."""
    return pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def cifar_archive(train, test) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, payload in (("train", train), ("test", test), ("meta", {b"fine_label_names": [b"apple"]})):
            blob = cifar_pickle(payload)
            info = tarfile.TarInfo(f"cifar-100-python/{member}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
            b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
            b"filenames": [b"x.png"] * n, b"batch_label": b"training batch 1 of 1"}


@pytest.fixture
def cifar_dir(tmp_path):
    train, test = cifar_batch(5, 0), cifar_batch(2, 1)
    blob = cifar_archive(train, test)
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(blob)
    return tmp_path, train, test, blob


def test_load_cifar100_reads_a_verified_archive(cifar_dir):
    root, train, test, blob = cifar_dir
    assert b"numpy.core.multiarray" in cifar_pickle(train)                  # the legacy module name is exercised
    digest = {"cifar-100-python.tar.gz": sha(blob)}
    d = load_cifar100(root, checksums=digest, sphere=False)
    np.testing.assert_allclose(d.X_train, train[b"data"] / 255.0)
    np.testing.assert_array_equal(d.y_train, train[b"fine_labels"])
    np.testing.assert_array_equal(d.y_test, test[b"fine_labels"])
    assert d.n_classes == 100
    c = load_cifar100(root, checksums=digest, label_mode="coarse", n_train=3)
    assert c.n_classes == 20 and c.X_train.shape == (3, 3072)
    np.testing.assert_array_equal(c.y_train, train[b"coarse_labels"][:3])
    np.testing.assert_allclose(np.linalg.norm(c.X_train, axis=1), 1.0, atol=1e-14)


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_load_cifar100_never_unpickles_unverified_bytes(cifar_dir, monkeypatch, damage):
    root, train, test, blob = cifar_dir
    bad = bytearray(blob)
    if damage == "corrupted":
        bad[100] ^= 0x01
    else:
        bad = bad[:-50]
    (root / "cifar-100-python.tar.gz").write_bytes(bytes(bad))

    def never(*args, **kwargs):
        raise AssertionError("unverified bytes were opened or unpickled")
    for target, attr in ((pickle, "load"), (pickle, "loads"), (tarfile, "open"), (loaders_mod, "_unpickle_arrays")):
        monkeypatch.setattr(target, attr, never)
    with pytest.raises(ChecksumError, match="SHA-256"):
        load_cifar100(root, checksums={"cifar-100-python.tar.gz": sha(blob)})


def test_load_cifar100_restricted_unpickler_refuses_code_even_when_verified(tmp_path):
    train = cifar_batch(2, 0)
    train[b"extra"] = Evil()
    blob = cifar_archive(train, cifar_batch(1, 1))
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(blob)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_cifar100(tmp_path, checksums={"cifar-100-python.tar.gz": sha(blob)})
    assert BOOM == []


def test_load_cifar100_offline_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-100-python.tar.gz"):
        load_cifar100(tmp_path)
    with pytest.raises(ValueError, match="label_mode"):
        load_cifar100(tmp_path, label_mode="medium")


# ---------------------------------------------------------------------------------------------------------------
# the array rule
# ---------------------------------------------------------------------------------------------------------------

def test_loaders_return_tensors_and_functions_follow_their_input():
    d = load_digits_sphere(seed=0)
    assert all(isinstance(t, torch.Tensor) for t in (d.X_train, d.y_train, d.X_test, d.y_test))
    assert d.X_train.dtype == torch.float64 and d.y_train.dtype == torch.int64
    Ytr, _ = d.one_hot(centered=True)
    assert isinstance(Ytr, torch.Tensor) and Ytr.shape == (len(d.y_train), 10)
    theta = np.linspace(0, 1, 5)
    assert isinstance(circle_points(theta), np.ndarray) and isinstance(circle_points(torch.from_numpy(theta)),
                                                                       torch.Tensor)
    A = np.random.default_rng(0).standard_normal((6, 3)) + 1
    assert isinstance(project_to_sphere(A), np.ndarray) and isinstance(project_to_sphere(torch.from_numpy(A)),
                                                                       torch.Tensor)
    assert isinstance(one_hot(torch.tensor([0, 1])), torch.Tensor) and isinstance(one_hot([0, 1]), np.ndarray)
    f = harmonic_target_circle(max_degree=10)
    assert isinstance(f(torch.from_numpy(theta)), torch.Tensor) and isinstance(f(theta), np.ndarray)
    with pytest.raises(ValueError, match="Complex data not supported"):
        project_to_sphere(A + 1j)


def test_a_row_equal_to_the_training_mean_up_to_rounding_has_no_direction():
    A = np.random.default_rng(1).standard_normal((7, 4)) + 3.0
    with pytest.raises(ValueError, match="row 0 is zero"):
        project_to_sphere(A, A.mean(0)[None, :] * (1 + 1e-16))
