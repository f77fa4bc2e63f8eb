"""Tests of the post-normalised ResNet of resntk.nets: LayerNorm facts, the network and function-preserving insertion.

Book: Chapter 10, "Normalised residual networks and function-preserving insertion".
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch

from resntk.nets import (
    INSERT_INITS,
    PostLNResNet,
    PostNorm,
    fit_readout,
    insert_block,
    layer_norm,
    layer_norm_jacobian,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _perturb_affine(model: PostLNResNet, seed: int = 0) -> None:
    """gamma = 1 + 0.3 N(0,1), beta = 0.2 N(0,1) in every LayerNorm."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, PostNorm) and mod.affine:
                mod.weight.copy_(1 + 0.3 * torch.randn(mod.width, generator=g, dtype=torch.float64))
                mod.bias.copy_(0.2 * torch.randn(mod.width, generator=g, dtype=torch.float64))


def _state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------------------------- LayerNorm


@pytest.mark.parametrize("eps", [0.0, 1e-8, 1e-5, 1e-3])
def test_layer_norm_matches_numpy_and_norm_identity(eps: float) -> None:
    # Proposition postln-prop-ln-facts: ||N(z)||^2 = d v / (v + eps) <= d, for every z
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 16)) * rng.uniform(0.1, 5.0, size=(50, 1)) + rng.normal(size=(50, 1))
    c = z - z.mean(axis=1, keepdims=True)
    v = (c**2).mean(axis=1)
    ref = c / np.sqrt(v + eps)[:, None]
    out = layer_norm(torch.from_numpy(z), eps).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose((out**2).sum(1), 16 * v / (v + eps), rtol=1e-12)
    assert np.all((out**2).sum(1) <= 16 * (1 + 1e-12))


def test_postln_prop_ln_facts_reference_value() -> None:
    # for d = 16, eps = 1e-5 and v = 1, ||N(z)||^2 = 15.99984
    z = torch.tensor([1.0, -1.0] * 8, dtype=torch.float64)  # mean 0, variance exactly 1
    assert float((layer_norm(z, 1e-5) ** 2).sum()) == pytest.approx(15.99984, abs=1e-5)


@pytest.mark.parametrize("eps", [0.0, 1e-5, 1e-2])
def test_capacity_lem_jacobian_matches_autodiff_and_spectrum(eps: float) -> None:
    torch.manual_seed(1)
    z = torch.randn(16, dtype=torch.float64) * 2 + 0.7
    J = layer_norm_jacobian(z, eps)
    J_auto = torch.autograd.functional.jacobian(lambda t: layer_norm(t, eps), z)
    torch.testing.assert_close(J, J_auto, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(J, J.T, rtol=0, atol=1e-14)
    # eigen-structure (Lemma capacity-lem-jacobian): 0 along 1, eps/(v+eps)/s along N(z), 1/s on {1, N}^perp
    c = z - z.mean()
    v = float((c * c).mean())
    s = math.sqrt(v + eps)
    ones = torch.ones(16, dtype=torch.float64)
    assert float((J @ ones).abs().max()) < 1e-13
    nz = layer_norm(z, eps)
    torch.testing.assert_close(J @ nz, nz * (eps / (v + eps)) / s, rtol=1e-9, atol=1e-13)
    eig = torch.linalg.eigvalsh(J)
    assert float(eig.max()) == pytest.approx(1 / s, rel=1e-10)
    assert int((torch.abs(eig - 1 / s) < 1e-9).sum()) == 14


@pytest.mark.parametrize(
    ("eps", "expected"), [(1e-3, 1.3e-3), (1e-5, 1.3e-5), (1e-8, 1.3e-8)]
)
def test_renormalising_a_post_ln_output(eps: float, expected: float) -> None:
    # Proposition postln-prop-preserve: N(h_p) = s h_p with s = (v0/(v0+eps) + eps)^(-1/2); d = 16, v0 ~ 4
    torch.manual_seed(0)
    c = torch.randn(2000, 16, dtype=torch.float64)
    c = c - c.mean(1, keepdim=True)
    c = 2 * c / c.pow(2).mean(1, keepdim=True).sqrt()  # variance exactly 4
    hp = layer_norm(c, eps)
    v0 = 4.0
    s = 1 / math.sqrt(v0 / (v0 + eps) + eps)
    dev = (layer_norm(hp, eps) - hp).abs().max(1).values
    torch.testing.assert_close(dev, abs(s - 1) * hp.abs().max(1).values, rtol=1e-5, atol=1e-15)
    # the magnitudes (max |h_p| ~ 3.5 for d = 16): 1.3e-3, 1.3e-5, 1.3e-8
    assert 0.5 * expected < float(dev.median()) < 2 * expected


def test_renormalising_is_exact_at_eps_zero() -> None:
    torch.manual_seed(0)
    hp = layer_norm(torch.randn(500, 16, dtype=torch.float64) * 2, 0.0)
    assert float((layer_norm(hp, 0.0) - hp).abs().max()) < 4e-15


def test_layer_norm_follows_the_array_rule_and_rejects_bad_input() -> None:
    z = np.random.default_rng(0).normal(size=(3, 5))
    out = layer_norm(z)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, layer_norm(torch.from_numpy(z)).numpy(), rtol=0, atol=0)
    assert isinstance(layer_norm_jacobian(z[0]), np.ndarray) and layer_norm_jacobian(z[0]).shape == (5, 5)
    assert layer_norm(torch.ones(2, 3, dtype=torch.float32) * torch.arange(3)).dtype == torch.float32
    with pytest.raises(ValueError, match="d >= 2"):
        layer_norm(torch.ones(4, 1))
    with pytest.raises(ValueError, match="eps"):
        layer_norm(torch.ones(4, 3), -1.0)
    with pytest.raises(ValueError, match="Complex data not supported"):
        layer_norm(z + 1j)


# ----------------------------------------------------------------------------------------------- the network


@pytest.mark.parametrize("device", DEVICES)
def test_forward_pieces_compose(device: str) -> None:
    model = PostLNResNet(5, 8, hidden=[7, 9, 11], depth=3, out_dim=2, bias_std=0.3, seed=3, device=device)
    x = torch.randn(20, 5, dtype=torch.float64, device=device)
    f = model(x)
    assert f.shape == (20, 2) and f.dtype == torch.float64 and f.device.type == device
    for k in range(model.depth + 1):
        torch.testing.assert_close(model.head(model.hidden_state(x, k), k), f, rtol=0, atol=0)
    hs = model.hidden_states(x)
    assert len(hs) == 4
    torch.testing.assert_close(model.readout(hs[-1]), f, rtol=0, atol=0)
    # manual forward from the formulas of Definition postln-def-network
    h = layer_norm(x @ model.embed.weight.T, model.eps)
    for blk in model.blocks:
        h = layer_norm(h + torch.relu(h @ blk.linear1.weight.T + blk.linear1.bias) @ blk.linear2.weight.T, model.eps)
    torch.testing.assert_close(h @ model.readout.weight.T, f, rtol=1e-12, atol=1e-12)


def test_postln_cor_bounded_every_stream_whatever_the_weights() -> None:
    # Corollary postln-cor-bounded: ||h_k|| <= sqrt(d) at every layer, whatever the weights
    model = PostLNResNet(6, 12, hidden=16, depth=5, seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100.0)
    x = torch.randn(64, 6, dtype=torch.float64) * 10
    with torch.no_grad():
        hs = model.hidden_states(x)
    for h in hs:
        assert float(h.pow(2).sum(1).max()) <= 12 * (1 + 1e-12)


def test_initialisation_is_seeded_and_scaled() -> None:
    a = PostLNResNet(10, 16, hidden=32, depth=2, seed=7)
    b = PostLNResNet(10, 16, hidden=32, depth=2, seed=7)
    c = PostLNResNet(10, 16, hidden=32, depth=2, seed=8)
    assert _state_equal(a, b) and not _state_equal(a, c)
    # N(0, 1/fan-in) weights: a big block's empirical variance is close to 1/fan-in
    big = PostLNResNet(10, 64, hidden=512, depth=1, seed=0)
    assert float(big.blocks[0].linear1.weight.detach().var()) == pytest.approx(1 / 64, rel=0.05)
    assert float(big.blocks[0].linear2.weight.detach().var()) == pytest.approx(1 / 512, rel=0.05)
    assert float(big.blocks[0].linear1.bias.detach().abs().max()) == 0.0  # bias_std = 0 by default


def test_network_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="width must be"):
        PostLNResNet(3, 1, hidden=4, depth=2)
    with pytest.raises(ValueError, match="depth"):
        PostLNResNet(3, 4, hidden=4, depth=-1)
    with pytest.raises(ValueError, match="length depth"):
        PostLNResNet(3, 4, hidden=[4, 4], depth=3)
    with pytest.raises(TypeError, match="hidden"):
        PostLNResNet(3, 4, hidden="4", depth=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eps"):
        PostLNResNet(3, 4, hidden=4, depth=2, eps=float("nan"))
    with pytest.raises(TypeError, match="in_dim"):
        PostLNResNet(3.0, 4, hidden=4, depth=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PostLNResNet(3, 4, 4, 2)  # hidden and depth are keyword-only  # type: ignore[misc]
    model = PostLNResNet(3, 4, hidden=4, depth=2)
    with pytest.raises(ValueError, match="start"):
        model.head(torch.ones(2, 4), 3)


@pytest.mark.parametrize(("x", "exc", "match"), [
    (torch.tensor([[0.0, float("nan"), 1.0]], dtype=torch.float64), ValueError, "finite"),
    (torch.tensor([[0.0, float("inf"), 1.0]], dtype=torch.float64), ValueError, "finite"),
    (torch.ones(5, 4, dtype=torch.float64), ValueError, r"shape \(n, in_dim\) = \(n, 3\)"),
    (torch.ones(5, dtype=torch.float64), ValueError, "shape"),
    (torch.ones(2, 3, dtype=torch.complex128), ValueError, "Complex data not supported"),
    (torch.ones(2, 3, dtype=torch.bool), TypeError, "real numbers"),
    (np.ones((2, 3)), TypeError, "torch.Tensor"),
])
def test_forward_validates_its_input(x, exc, match) -> None:
    """NaN in used to give NaN out, and a wrong width failed deep inside torch; now the input is checked first."""
    model = PostLNResNet(3, 4, hidden=4, depth=2)
    with pytest.raises(exc, match=match):
        model(x)
    with pytest.raises(exc, match=match):
        model.hidden_state(x, 1)


def test_forward_casts_real_inputs_to_the_model_dtype() -> None:
    model = PostLNResNet(3, 4, hidden=4, depth=2, seed=1)
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(model(x.float()), model(x.float().double()))
    assert model(torch.ones(2, 3, dtype=torch.int64)).dtype == torch.float64


def test_construction_and_insertion_leave_the_global_generator_alone() -> None:
    """Initial values come from private generators: building or growing a network never advances torch's global
    generator (nn.Linear's own initialisation used to draw from it before the seeded values were copied in)."""
    state = torch.random.get_rng_state()
    model = PostLNResNet(10, 16, hidden=32, depth=2, seed=3)
    insert_block(model, 1, 8, seed=4)
    insert_block(model, 1, 8, "gate", seed=4)
    fit_readout(model, torch.randn(5, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0)),
                torch.zeros(5, dtype=torch.float64))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_fit_readout_is_the_ridge_solution() -> None:
    model = PostLNResNet(4, 6, hidden=8, depth=2, seed=1)
    X = torch.randn(100, 4, dtype=torch.float64)
    y = torch.randn(100, dtype=torch.float64)
    fitted = fit_readout(model, X, y, ridge=0.1)
    with torch.no_grad():
        H = model.hidden_state(X, 2).numpy()
    # independent reference: augmented least squares for min ||H u - y||^2/n + lambda ||u||^2
    A = np.vstack([H / np.sqrt(100), np.sqrt(0.1) * np.eye(6)])
    b = np.concatenate([y.numpy() / np.sqrt(100), np.zeros(6)])
    u = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(fitted.readout.weight.detach().numpy()[0], u, rtol=1e-9, atol=1e-12)
    assert not torch.equal(fitted.readout.weight, model.readout.weight)  # the argument is untouched
    with pytest.raises(ValueError, match="ridge"):
        fit_readout(model, X, y, ridge=0.0)
    with pytest.raises(ValueError, match="y must have shape"):
        fit_readout(model, X, y[:50])


# ----------------------------------------------------------------------------------------------- insertion


@pytest.mark.parametrize("init", INSERT_INITS)
@pytest.mark.parametrize("position", [0, 1, 2, 3])
def test_postln_prop_preserve_insertion_is_exact_at_eps_zero(init: str, position: int) -> None:
    # Proposition postln-prop-preserve: exact (to float rounding) when eps = 0, at every position, with biases
    model = PostLNResNet(10, 16, hidden=32, depth=3, eps=0.0, bias_std=0.5, seed=2)
    x = torch.randn(256, 10, dtype=torch.float64)
    new = insert_block(model, position, 64, init, probe=x, seed=position)
    with torch.no_grad():
        diff = float((new(x) - model(x)).abs().max())
    assert diff < 1e-12
    assert new.insertion_.function_change == pytest.approx(diff, abs=1e-15)
    assert new.insertion_.preserving and new.insertion_.position == position


@pytest.mark.parametrize("eps", [1e-8, 1e-5, 1e-3])
def test_postln_prop_preserve_insertion_to_order_eps(eps: float) -> None:
    # tolerance 10 eps with biased old blocks (5.6e-7 at eps = 1e-5) ...
    x = torch.randn(256, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    biased = PostLNResNet(10, 16, hidden=32, depth=3, eps=eps, bias_std=0.5, seed=3)
    d_biased = insert_block(biased, 1, 64, probe=x).insertion_.function_change
    assert 0 < d_biased <= 10 * eps
    # ... and O(eps^2) for bias-free blocks, which commute with positive scaling
    free = PostLNResNet(10, 16, hidden=32, depth=3, eps=eps, bias=False, seed=3)
    d_free = insert_block(free, 1, 64, probe=x).insertion_.function_change
    assert d_free <= max(10 * eps**2, 1e-13)
    assert d_free < d_biased


def test_postln_prop_affine_insertion_reports_the_measured_change() -> None:
    # Proposition postln-prop-affine: affine LayerNorm breaks preservation; it is measured, not claimed
    model = PostLNResNet(10, 16, hidden=32, depth=3, affine=True, seed=0)
    _perturb_affine(model)
    x = torch.randn(256, 10, dtype=torch.float64)
    with pytest.warns(UserWarning, match="affine LayerNorm"):
        new = insert_block(model, 1, 64, probe=x)
    with torch.no_grad():
        measured = float((new(x) - model(x)).abs().max())
    assert new.insertion_.function_change == measured
    assert measured > 1e-2
    assert not new.insertion_.preserving
    # the mechanism: N(h) != h for h = gamma * n + beta (0.88 for this configuration)
    with torch.no_grad():
        hp = model.hidden_state(x, 1)
    assert float((layer_norm(hp, model.eps) - hp).abs().max()) > 0.1


def test_affine_insertion_without_probe_uses_a_default_probe() -> None:
    model = PostLNResNet(10, 16, hidden=32, depth=2, affine=True, seed=1)
    _perturb_affine(model, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new = insert_block(model, 1, 8)
    assert new.insertion_.function_change > 1e-2
    assert "default" in new.insertion_.probe
    assert any("affine" in str(w.message) for w in caught)


def test_affine_with_identity_gamma_and_zero_beta_is_preserving() -> None:
    # the exception of Proposition postln-prop-affine: gamma constant and beta = 0 -> no warning, change O(eps)
    model = PostLNResNet(10, 16, hidden=32, depth=2, affine=True, eps=0.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = insert_block(model, 1, 8)
    assert new.insertion_.function_change < 1e-12


def test_insert_block_returns_a_new_model_and_records_the_block() -> None:
    model = PostLNResNet(10, 16, hidden=32, depth=3, bias_std=0.2, seed=4)
    before = copy.deepcopy(model.state_dict())
    new = insert_block(model, 2, 24, "zero_out", seed=5)
    assert model.depth == 3 and new.depth == 4
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.insertion_ is None
    blk = new.blocks[2]
    assert blk.hidden == 24 and blk.gate is None
    assert float(blk.linear2.weight.detach().abs().max()) == 0.0
    assert float(blk.linear1.weight.detach().abs().min()) > 0.0
    assert blk.feature_scale == pytest.approx(1 / math.sqrt(24))
    assert float(blk.linear1.weight.detach().var()) == pytest.approx(1 / 16, rel=0.3)
    names = dict(new.named_parameters())
    assert set(new.insertion_.parameter_names) == {"blocks.2.linear1.weight", "blocks.2.linear1.bias",
                                                   "blocks.2.linear2.weight"}
    assert all(n in names for n in new.insertion_.parameter_names)
    # inherited blocks are copies with equal values
    assert torch.equal(new.blocks[3].linear1.weight, model.blocks[2].linear1.weight)
    assert new.blocks[3].linear1.weight is not model.blocks[2].linear1.weight
    gated = insert_block(model, 1, 8, "gate", normalize_features=False)
    g = gated.blocks[1]
    assert float(g.gate.detach()) == 0.0 and float(g.linear2.weight.detach().abs().min()) > 0 and g.feature_scale == 1.0
    assert "blocks.1.gate" in gated.insertion_.parameter_names
    # seeded
    assert torch.equal(insert_block(model, 2, 24, seed=5).blocks[2].linear1.weight, blk.linear1.weight)


def test_postln_prop_trap_insert_block_refuses_the_zero_initialisation() -> None:
    model = PostLNResNet(4, 6, hidden=8, depth=2)
    for bad in ("zero_both", "zero_all", "ZERO"):
        with pytest.raises(ValueError, match="zero-initialisation trap"):
            insert_block(model, 1, 8, bad)
    with pytest.raises(ValueError, match="init must be one of"):
        insert_block(model, 1, 8, "xavier")


@pytest.mark.parametrize("position", [-1, 3, 10])
def test_insert_block_rejects_bad_positions(position: int) -> None:
    model = PostLNResNet(4, 6, hidden=8, depth=2)
    with pytest.raises(ValueError, match=r"position must be an integer in \[0, depth=2\]"):
        insert_block(model, position, 8)


def test_insert_block_rejects_bad_arguments() -> None:
    model = PostLNResNet(4, 6, hidden=8, depth=2)
    with pytest.raises(TypeError, match="position"):
        insert_block(model, True, 8)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="position"):
        insert_block(model, 1.0, 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden"):
        insert_block(model, 1, 0)
    with pytest.raises(ValueError, match="probe"):
        insert_block(model, 1, 4, probe=torch.ones(3, 5))
    with pytest.raises(TypeError, match="PostLNResNet"):
        insert_block(torch.nn.Linear(3, 3), 1, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bias_std"):
        insert_block(model, 1, 4, bias_std=-1.0)


@pytest.mark.parametrize("device", DEVICES)
def test_insertion_on_device(device: str) -> None:
    model = PostLNResNet(4, 6, hidden=8, depth=2, eps=0.0, bias_std=0.3, device=device)
    x = torch.randn(32, 4, dtype=torch.float64, device=device)
    new = insert_block(model, 1, 8, probe=x)
    assert new.blocks[1].linear1.weight.device.type == device
    assert new.insertion_.function_change < 1e-12


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    given = None

if given is not None:

    @settings(max_examples=25, deadline=None)
    @given(
        d=st.integers(2, 12),
        hidden=st.integers(1, 10),
        depth=st.integers(0, 4),
        data=st.data(),
        init=st.sampled_from(INSERT_INITS),
        bias_std=st.floats(0.0, 1.0),
        seed=st.integers(0, 2**31 - 1),
    )
    def test_insertion_is_exact_at_eps_zero_for_random_architectures(
        d: int, hidden: int, depth: int, data, init: str, bias_std: float, seed: int
    ) -> None:
        position = data.draw(st.integers(0, depth))
        model = PostLNResNet(3, d, hidden=hidden, depth=depth, eps=0.0, bias_std=bias_std, seed=seed % 1000)
        x = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        new = insert_block(model, position, hidden + 1, init, probe=x, seed=seed)
        assert new.depth == depth + 1
        with torch.no_grad():
            scale = float(model(x).abs().max()) + 1.0
        assert new.insertion_.function_change <= 1e-12 * scale
