"""Tests of resntk.nets.ScaledResNet (book, Chapter 1, Definition `def-scaled-resnet`; Chapter 3, Proposition
`ntk-prop-mirror`; Chapter 15, Proposition `synth-prop-insertion`): architecture, initialisation, mirroring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from resntk.nets import TRAINED_GROUPS, ScaledResNet


def sphere(n: int, d: int, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def numpy_forward(A, W, V, v, x, alpha):
    """Independent NumPy transcription of the formula of Definition `def-scaled-resnet` for one copy."""
    m = A.shape[0]
    h = x @ A.T / np.sqrt(m)
    for Wl, Vl in zip(W, V):
        h = h + alpha / np.sqrt(m) * np.maximum(np.sqrt(2 / m) * h @ Wl.T, 0) @ Vl.T
    return h @ v


def perturb(net: torch.nn.Module, scale: float = 0.1, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype))


# ------------------------------------------------------------------------------------------- architecture
@pytest.mark.parametrize("mirrored", [False, True])
def test_forward_matches_numpy_transcription_of_the_formula(mirrored):
    x = sphere(9, 3)
    net = ScaledResNet(3, 17, depth=3, alpha=0.6, mirrored=mirrored, seed=4)
    perturb(net)  # make the two copies differ, so the mirrored combination is really exercised
    outs = [numpy_forward(*(getattr(c, k).detach().numpy() for k in "AWVv"), x.numpy(), 0.6) for c in net.copies]
    expected = outs[0] if not mirrored else (outs[0] - outs[1]) / np.sqrt(2)
    got = net(x)
    assert got.shape == (9,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_parameter_shapes_names_and_standard_normal_entries():
    net = ScaledResNet(5, 256, depth=2, alpha=1.0, mirrored=False, seed=0)
    shapes = {name: tuple(p.shape) for name, p in net.named_parameters()}
    assert shapes == {"copies.0.A": (256, 5), "copies.0.W": (2, 256, 256), "copies.0.V": (2, 256, 256),
                      "copies.0.v": (256,)}
    entries = torch.cat([p.detach().flatten() for p in net.parameters()])
    # N(0,1) with no variance factor folded in (NTK parameterisation): ~263k samples, SE of mean ~0.002
    assert abs(entries.mean().item()) < 0.01
    assert abs(entries.var().item() - 1) < 0.02
    kurtosis = ((entries - entries.mean()) ** 4).mean() / entries.var() ** 2
    assert abs(kurtosis.item() - 3) < 0.05


def test_alpha_zero_is_the_linear_map_through_input_and_readout():
    x = sphere(6, 4)
    net = ScaledResNet(4, 32, depth=5, alpha=0.0, mirrored=False)
    c = net.copies[0]
    expected = (x @ c.A.detach().T / math.sqrt(32)) @ c.v.detach()
    torch.testing.assert_close(net(x), expected, rtol=1e-13, atol=1e-13)


def test_positive_homogeneity_of_the_bias_free_relu_network():
    """f(cx) = c f(x) for c > 0 (homogeneity, Chapter 4, Proposition `rntk-prop-scalar`)."""
    x = torch.randn(7, 3, dtype=torch.float64)
    net = ScaledResNet(3, 40, depth=3, alpha=0.8, mirrored=False, seed=2)
    torch.testing.assert_close(net(2.5 * x), 2.5 * net(x), rtol=1e-12, atol=1e-12)


def test_prop_norm_growth_one_plus_alpha_squared_to_the_depth():
    """||x_l||^2 -> (1 + alpha^2)^l as m -> infinity (Chapter 1, Proposition `prop-norm-growth`)."""
    x = sphere(8, 3, seed=5)
    alpha, L = 1.0, 3
    net = ScaledResNet(3, 2048, depth=L, alpha=alpha, mirrored=False, seed=3)
    (tr,) = net.trace(x)
    for ell, state in enumerate(tr.states):
        sq = (state ** 2).sum(1).mean().item()
        assert sq == pytest.approx((1 + alpha ** 2) ** ell, rel=0.12)
    torch.testing.assert_close(tr.output, net(x))
    assert len(tr.preacts) == L


# ------------------------------------------------------------------------------------------- mirroring
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("width,depth", [(1, 1), (7, 3), (33, 4), (129, 2)])
def test_ntk_prop_mirror_output_is_exactly_zero_at_initialisation(dtype, width, depth):
    x = torch.randn(37, 3, dtype=torch.float64)
    net = ScaledResNet(3, width, depth=depth, alpha=0.7, dtype=dtype, seed=width)
    out = net(x)
    assert out.dtype == dtype
    assert torch.equal(out, torch.zeros_like(out))


def test_mirrored_copies_share_initial_values_and_match_the_plain_network():
    net = ScaledResNet(3, 24, depth=2, alpha=0.5, mirrored=True, seed=7)
    plain = ScaledResNet(3, 24, depth=2, alpha=0.5, mirrored=False, seed=7)
    for key in "AWVv":
        a, b, c = (getattr(m, key) for m in (net.copies[0], net.copies[1], plain.copies[0]))
        assert torch.equal(a, b) and torch.equal(a, c)
        assert a.data_ptr() != b.data_ptr()  # separate storage: trained independently
    assert net.copy_signs == pytest.approx((1 / math.sqrt(2), -1 / math.sqrt(2)))


def test_mirrored_gradients_are_antisymmetric_and_the_copies_train_independently():
    x = sphere(5, 3)
    net = ScaledResNet(3, 16, depth=2, alpha=1.0, trained="all", seed=1)
    net(x).sum().backward()
    for key in "AWVv":
        g1, g2 = getattr(net.copies[0], key).grad, getattr(net.copies[1], key).grad
        assert g1.abs().max() > 0
        torch.testing.assert_close(g1, -g2, rtol=0, atol=0)
    with torch.no_grad():
        for p in net.parameters():
            p.sub_(0.1 * p.grad)
    assert not torch.equal(net.copies[0].W, net.copies[1].W)
    assert net(x).abs().max() > 0


# ------------------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("trained", sorted(TRAINED_GROUPS))
def test_trained_selects_which_groups_require_gradients(trained):
    net = ScaledResNet(2, 8, depth=2, alpha=1.0, trained=trained)
    for name, p in net.named_parameters():
        assert p.requires_grad == (name.rsplit(".", 1)[1] in TRAINED_GROUPS[trained])
    other = "all" if trained != "all" else "readout"
    net.trained = other
    assert net.trained == other
    assert {n.rsplit(".", 1)[1] for n, p in net.named_parameters() if p.requires_grad} == set(TRAINED_GROUPS[other])


def test_seed_generator_dtype_and_device_conventions():
    a = ScaledResNet(3, 10, depth=2, alpha=1.0, seed=11)
    b = ScaledResNet(3, 10, depth=2, alpha=1.0, seed=11)
    c = ScaledResNet(3, 10, depth=2, alpha=1.0, seed=12)
    d = ScaledResNet(3, 10, depth=2, alpha=1.0, generator=torch.Generator().manual_seed(11))
    f32 = ScaledResNet(3, 10, depth=2, alpha=1.0, seed=11, dtype=torch.float32, device="cpu")
    for key in "AWVv":
        pa = getattr(a.copies[0], key)
        assert torch.equal(pa, getattr(b.copies[0], key)) and torch.equal(pa, getattr(d.copies[0], key))
        assert not torch.equal(pa, getattr(c.copies[0], key))
        assert getattr(f32.copies[0], key).dtype == torch.float32
        torch.testing.assert_close(getattr(f32.copies[0], key).double(), pa, rtol=1e-7, atol=1e-7)
    assert f32.device == torch.device("cpu") and a.dtype == torch.float64
    assert "alpha=1" in repr(a) and "mirrored=True" in repr(a)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():  # pragma: no cover - exercised on GPU machines only
    x = sphere(4, 3).cuda()
    net = ScaledResNet(3, 16, depth=2, alpha=1.0, device="cuda", seed=0)
    cpu = ScaledResNet(3, 16, depth=2, alpha=1.0, seed=0, mirrored=False)
    gpu = ScaledResNet(3, 16, depth=2, alpha=1.0, seed=0, mirrored=False, device="cuda")
    assert torch.equal(net(x), torch.zeros(4, device="cuda", dtype=torch.float64))
    torch.testing.assert_close(gpu(x).cpu(), cpu(x.cpu()))


# ------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(width=0), ValueError, "width"),
    (dict(depth=0), ValueError, "depth"),
    (dict(in_dim=0), ValueError, "in_dim"),
    (dict(alpha=-0.1), ValueError, "alpha"),
    (dict(alpha=float("nan")), ValueError, "alpha"),
    (dict(alpha=float("inf")), ValueError, "alpha"),
    (dict(trained="input"), ValueError, "trained"),
    (dict(width=2.0), TypeError, "width"),
    (dict(depth=True), TypeError, "depth"),
    (dict(mirrored="yes"), TypeError, "mirrored"),
    (dict(dtype=torch.int64), TypeError, "dtype"),
])
def test_constructor_rejects_bad_arguments(kwargs, exc, match):
    args = dict(in_dim=3, width=4, depth=2, alpha=1.0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ScaledResNet(**args)


def test_trained_setter_rejects_unknown_convention():
    net = ScaledResNet(3, 4, depth=1, alpha=1.0)
    with pytest.raises(ValueError, match="trained"):
        net.trained = "everything"
    assert net.trained == "hidden"


@pytest.mark.parametrize("x,exc,match", [
    (torch.ones(4, 2, dtype=torch.float64), ValueError, "in_dim"),
    (torch.ones(3, dtype=torch.float64), ValueError, "shape"),
    (torch.tensor([[1.0, float("nan"), 0.0]]), ValueError, "finite"),
    (torch.tensor([[1.0, float("inf"), 0.0]]), ValueError, "finite"),
    (np.ones((2, 3)), TypeError, "torch.Tensor"),
])
def test_forward_rejects_bad_inputs(x, exc, match):
    net = ScaledResNet(3, 4, depth=1, alpha=1.0)
    with pytest.raises(exc, match=match):
        net(x)


# ------------------------------------------------------------------ insert_zero_block (chapter 15)
def _trained_net(mirrored: bool, seed: int = 0) -> ScaledResNet:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    net = ScaledResNet(3, 16, depth=3, alpha=0.7, mirrored=mirrored, seed=seed)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.05)
    for _ in range(5):  # move away from the initialisation, so that the copies differ
        opt.zero_grad()
        ((net(X).reshape(-1) - X[:, 0]) ** 2).mean().backward()
        opt.step()
    return net


@pytest.mark.parametrize("mirrored", [True, False])
@pytest.mark.parametrize("position", [0, 2, 3])
def test_synth_prop_insertion_preserves_the_function_and_old_gradients(mirrored, position):
    from resntk.nets import insert_zero_block

    net = _trained_net(mirrored)
    grown = insert_zero_block(net, position, seed=5)
    assert grown.depth == net.depth + 1 and grown.alpha == net.alpha and grown.mirrored == mirrored
    assert grown.trained == net.trained
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(grown(x), net(x))                          # exactly the same function
    out_old, out_new = net(x).sum(), grown(x).sum()
    for c_old, c_new in zip(net.copies, grown.copies):
        g_old = torch.autograd.grad(out_old, [c_old.W, c_old.V], retain_graph=True)
        g_new = torch.autograd.grad(out_new, [c_new.W, c_new.V], retain_graph=True)
        keep = [i for i in range(grown.depth) if i != position]
        for old, new in zip(g_old, g_new):                          # old blocks: same gradients
            torch.testing.assert_close(new[keep], old, rtol=1e-12, atol=1e-12)
        assert torch.equal(g_new[0][position], torch.zeros_like(g_new[0][position]))   # W_star: none
        assert g_new[1][position].abs().max() > 0                  # V_star: can learn


def test_synth_prop_insertion_kernel_increment_is_the_output_map_term():
    from resntk.nets import empirical_ntk, insert_zero_block

    net = _trained_net(True, seed=1)
    grown = insert_zero_block(net, 1, seed=2)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    increment = empirical_ntk(grown, x) - empirical_ntk(net, x)
    # the V_star part of the tangent kernel, from the Jacobian of the output with respect to V_star alone
    rows = []
    for xi in x:
        grads = torch.autograd.grad(grown(xi[None]).sum(), [c.V for c in grown.copies])
        rows.append(torch.cat([g[1].reshape(-1) for g in grads]))
    J = torch.stack(rows)
    torch.testing.assert_close(increment, J @ J.T, rtol=1e-9, atol=1e-12)
    assert torch.linalg.eigvalsh(increment).min() > -1e-12        # positive semi-definite


def test_insert_zero_block_validates_and_leaves_the_input_alone():
    from resntk.nets import insert_zero_block

    net = _trained_net(True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    insert_zero_block(net, 1)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    for bad in (-1, 4, 1.5, True):
        with pytest.raises(ValueError, match="position"):
            insert_zero_block(net, bad)
    with pytest.raises(TypeError, match="ScaledResNet"):
        insert_zero_block(torch.nn.Linear(2, 2), 0)
    a, b = insert_zero_block(net, 1, seed=3), insert_zero_block(net, 1, seed=3)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
