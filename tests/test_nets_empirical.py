"""Tests of resntk.nets.empirical_ntk: the two methods against each other and against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from resntk.nets import TRAINED_GROUPS, ScaledResNet, empirical_ntk


def sphere(n: int, d: int, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def perturb(net: nn.Module, scale: float = 0.2, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype))


def autograd_loop_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Independent reference: one torch.autograd.grad call per (sample, output), inner products summed."""
    params = [p for p in model.parameters() if p.requires_grad]

    def grads(x):
        rows = []
        for xi in x:
            out = model(xi[None]).reshape(-1)
            rows.append(torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(o, params,
                                                                                           retain_graph=True)])
                                     for o in out]))
            # rows[i]: (k, P)
        return torch.stack(rows)

    G1, G2 = grads(x1), grads(x2)
    return torch.einsum("ikp,jkp->ij", G1.double(), G2.double())


# ------------------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("trained", sorted(TRAINED_GROUPS))
@pytest.mark.parametrize("mirrored", [True, False])
def test_model_method_agrees_with_jacobian_to_1e_10(trained, mirrored):
    x1, x2 = sphere(7, 3, 0), sphere(5, 3, 1)
    net = ScaledResNet(3, 24, depth=3, alpha=0.7, trained=trained, mirrored=mirrored, seed=3)
    perturb(net)  # away from the mirrored initialisation: the two copies differ
    for a, b in [(x1, x2), (x1, None)]:
        fast = empirical_ntk(net, a, b, method="model")
        ref = empirical_ntk(net, a, b, method="jacobian")
        assert fast.dtype == torch.float64 and fast.shape == (a.shape[0], (a if b is None else b).shape[0])
        assert (fast - ref).abs().max() <= 1e-10 * ref.abs().max()
    assert empirical_ntk(net, x1, x2).equal(empirical_ntk(net, x1, x2, method="model"))  # auto


def test_jacobian_path_matches_per_sample_autograd_loop_for_scaled_resnet():
    x1, x2 = sphere(4, 3, 2), sphere(3, 3, 3)
    net = ScaledResNet(3, 10, depth=2, alpha=1.0, trained="all", seed=0)
    perturb(net)
    torch.testing.assert_close(empirical_ntk(net, x1, x2, method="jacobian"), autograd_loop_ntk(net, x1, x2),
                               rtol=1e-12, atol=1e-12)


def test_general_model_multi_output_takes_the_trace_over_outputs():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    mlp[0].bias.requires_grad_(False)  # frozen parameters must not contribute
    x1, x2 = torch.randn(5, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    got = empirical_ntk(mlp, x1, x2)  # auto -> jacobian
    torch.testing.assert_close(got, autograd_loop_ntk(mlp, x1, x2), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(empirical_ntk(mlp, x1, x2, chunk_size=2), got, rtol=1e-13, atol=1e-13)


def test_linear_model_closed_form_k_times_inner_product():
    """f(x) = M x with k outputs: d f_k / d M_ij = delta_ki x_j, so the trace over outputs is k <x, x'>."""
    lin = nn.Linear(5, 3, bias=False).double()
    x1, x2 = torch.randn(4, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    torch.testing.assert_close(empirical_ntk(lin, x1, x2), 3 * x1 @ x2.T, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------------------------------- properties
def test_ntk_prop_mirror_kernel_at_initialisation_equals_the_single_copy_kernel():
    """Theta of (f1 - f2)/sqrt2 is (Theta1 + Theta2)/2 = Theta1 at theta_0 (Chapter 3, Proposition `ntk-prop-mirror`)."""
    x = sphere(6, 4)
    mirrored = ScaledResNet(4, 64, depth=3, alpha=0.5, mirrored=True, seed=9)
    plain = ScaledResNet(4, 64, depth=3, alpha=0.5, mirrored=False, seed=9)
    torch.testing.assert_close(empirical_ntk(mirrored, x), empirical_ntk(plain, x), rtol=1e-13, atol=1e-13)


def test_symmetric_positive_semidefinite_and_x2_none_is_x1():
    x = sphere(12, 3, 4)
    net = ScaledResNet(3, 32, depth=4, alpha=0.7, trained="all", seed=5)
    K = empirical_ntk(net, x)
    torch.testing.assert_close(K, K.T, rtol=0, atol=1e-12 * K.abs().max().item())
    assert torch.linalg.eigvalsh(K).min() >= -1e-10 * K.abs().max()
    torch.testing.assert_close(empirical_ntk(net, x, x.clone()), K, rtol=1e-14, atol=1e-12)


def test_homogeneity_theta_cx_equals_c_theta():
    """f(cx) = c f(x) for the bias-free ReLU network, hence Theta(cx, x') = c Theta(x, x') (Proposition `rntk-prop-scalar`)."""
    x1, x2 = sphere(5, 3, 6), sphere(4, 3, 7)
    net = ScaledResNet(3, 32, depth=3, alpha=1.0, trained="all", seed=1)
    torch.testing.assert_close(empirical_ntk(net, 3.0 * x1, x2), 3.0 * empirical_ntk(net, x1, x2),
                               rtol=1e-12, atol=1e-12)


def test_readout_only_is_the_gram_of_the_last_state():
    """Training only v: Theta(x, x') = sum_c s_c^2 <x_L^(c)(x), x_L^(c)(x')> (the NNGP regime)."""
    x1, x2 = sphere(5, 3, 8), sphere(3, 3, 9)
    net = ScaledResNet(3, 20, depth=2, alpha=1.0, trained="readout", seed=2)
    perturb(net)
    expected = sum(s ** 2 * (t1.states[-1] @ t2.states[-1].T)
                   for s, t1, t2 in zip(net.copy_signs, net.trace(x1), net.trace(x2)))
    torch.testing.assert_close(empirical_ntk(net, x1, x2), expected.detach(), rtol=1e-13, atol=1e-13)


def test_hidden_diagonal_is_close_to_the_closed_form_at_large_width():
    """Theta_hid(x, x) = 2 L alpha^2 (1 + alpha^2)^(L-1) on the sphere (Proposition `rntk-prop-diag`), at m = 2048
    within 10 %."""
    x = sphere(4, 3, 10)
    L, alpha = 3, 1.0
    net = ScaledResNet(3, 2048, depth=L, alpha=alpha, seed=0)
    diag = torch.diagonal(empirical_ntk(net, x))
    assert diag.mean().item() == pytest.approx(2 * L * alpha ** 2 * (1 + alpha ** 2) ** (L - 1), rel=0.1)


def test_float32_model_gives_float64_kernel_close_to_float64_model():
    x = sphere(6, 3, 11)
    k64 = empirical_ntk(ScaledResNet(3, 64, depth=2, alpha=1.0, seed=4), x)
    k32 = empirical_ntk(ScaledResNet(3, 64, depth=2, alpha=1.0, seed=4, dtype=torch.float32), x)
    assert k32.dtype == torch.float64
    torch.testing.assert_close(k32, k64, rtol=1e-5, atol=1e-5 * k64.abs().max().item())


def test_ntk_does_not_touch_parameter_gradients():
    x = sphere(3, 3)
    net = ScaledResNet(3, 8, depth=1, alpha=1.0)
    empirical_ntk(net, x, method="model")
    empirical_ntk(net, x, method="jacobian")
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_both_methods_on_cuda():  # pragma: no cover - exercised on GPU machines only
    x = sphere(5, 3).cuda()
    net = ScaledResNet(3, 16, depth=2, alpha=1.0, device="cuda", seed=0)
    fast, ref = empirical_ntk(net, x, method="model"), empirical_ntk(net, x, method="jacobian")
    assert fast.device.type == "cuda"
    assert (fast - ref).abs().max() <= 1e-10 * ref.abs().max()


# ------------------------------------------------------------------------------------------- errors
def test_errors_name_the_argument():
    net = ScaledResNet(3, 4, depth=1, alpha=1.0)
    x = sphere(3, 3)
    with pytest.raises(ValueError, match="x1"):
        empirical_ntk(net, torch.ones(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="x2"):
        empirical_ntk(net, x, torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="x1.*finite"):
        empirical_ntk(net, torch.tensor([[float("inf"), 0.0, 1.0]]))
    with pytest.raises(ValueError, match="x1.*finite"):
        empirical_ntk(net, torch.tensor([[float("inf"), 0.0, 1.0]]), method="jacobian")
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(net, x, method="fast")
    with pytest.raises(ValueError, match="ntk"):
        empirical_ntk(nn.Linear(3, 1).double(), x, method="model")
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_ntk(net, x, chunk_size=0)
    with pytest.raises(TypeError, match="model"):
        empirical_ntk(lambda t: t, x)
    with pytest.raises(ValueError, match="Complex data not supported"):
        empirical_ntk(net, x.numpy() + 1j)
    frozen = nn.Linear(3, 1).double().requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        empirical_ntk(frozen, x)


def test_array_rule_numpy_in_numpy_out():
    x = sphere(5, 3, 12)
    net = ScaledResNet(3, 16, depth=2, alpha=1.0, seed=1)
    for method in ("model", "jacobian"):
        K = empirical_ntk(net, x.numpy(), method=method)
        assert isinstance(K, np.ndarray) and K.dtype == np.float64
        np.testing.assert_allclose(K, empirical_ntk(net, x, method=method).numpy(), rtol=1e-13)


def test_dispatch_to_the_model_ntk_method_for_any_model():
    """empirical_ntk is generic: a model that knows its own kernel provides ``ntk(x1, x2)`` and is dispatched to."""

    class Known(nn.Linear):
        def ntk(self, x1, x2=None):
            x2 = x1 if x2 is None else x2
            return (x1 @ x2.T + 1.0).double()  # f(x) = w.x + b: the NTK of weights and bias

    model = Known(3, 1).double()
    x1, x2 = sphere(4, 3, 13), sphere(2, 3, 14)
    torch.testing.assert_close(empirical_ntk(model, x1, x2), empirical_ntk(model, x1, x2, method="jacobian"),
                               rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("trained", sorted(TRAINED_GROUPS))
def test_the_kernel_is_a_plain_tensor_outside_autograd(trained):
    net = ScaledResNet(3, 8, depth=2, alpha=1.0, trained=trained)
    x = sphere(4, 3, 15)
    assert not empirical_ntk(net, x).requires_grad and not empirical_ntk(net, x, method="jacobian").requires_grad


def test_jacobian_path_runs_through_a_forward_that_validates_its_input():
    """PostLNResNet.forward checks its input; under vmap the finiteness check is skipped, not an error."""
    from resntk.nets import PostLNResNet

    model = PostLNResNet(3, 4, hidden=5, depth=2, seed=1)
    x = sphere(6, 3, 16)
    K = empirical_ntk(model, x)
    torch.testing.assert_close(K, autograd_loop_ntk(model, x, x), rtol=1e-11, atol=1e-12)
