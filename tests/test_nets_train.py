"""Tests of resntk.nets.train: the loop against hand-written gradient descent, callbacks, and a network that is
exactly kernel gradient descent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from resntk.nets import History, LossCallback, NTKCallback, PredictionCallback, ScaledResNet, empirical_ntk, train
from resntk.regression import GradientFlowRegressor, lr_from_ntk


def data(n: int = 12, d: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    return X, torch.randn(n, generator=g, dtype=torch.float64)


def linear_model(d: int = 3, k: int | None = None) -> nn.Linear:
    torch.manual_seed(1)
    lin = nn.Linear(d, k or 1, bias=False).double()
    return lin


class Squeeze(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[:, 0]


# ------------------------------------------------------------------------------------------- the loop
@pytest.mark.parametrize("shape", ["n", "n1"])
def test_full_batch_gd_matches_hand_written_gd_on_least_squares(shape):
    """w_{k+1} = w_k - (eta/n) X^T (X w_k - y), the gradient of (1/2n)||Xw - y||^2; logged losses match too."""
    X, y = data()
    lin = linear_model()
    model = lin if shape == "n1" else Squeeze(lin)
    w = lin.weight.detach().clone().reshape(-1).numpy()
    Xn, yn, n, eta = X.numpy(), y.numpy(), X.shape[0], 0.3
    losses = []
    for _ in range(25):
        r = Xn @ w - yn
        losses.append(0.5 * (r ** 2).sum() / n)
        w = w - eta / n * Xn.T @ r
    losses.append(0.5 * ((Xn @ w - yn) ** 2).sum() / n)
    hist = train(model, X, y, steps=25, lr=eta)
    np.testing.assert_allclose(lin.weight.detach().reshape(-1).numpy(), w, rtol=1e-12, atol=1e-13)
    assert hist.steps == list(range(26))
    np.testing.assert_allclose(hist.train_loss, losses, rtol=1e-12)
    assert hist.test_loss == []


def test_multi_output_mse_sums_over_outputs_and_divides_by_2n():
    X, _ = data()
    Y = torch.randn(X.shape[0], 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    lin = linear_model(k=2)
    expected = 0.5 * ((lin(X) - Y) ** 2).sum().item() / X.shape[0]
    hist = train(lin, X, Y, steps=0, lr=0.1)
    assert hist.steps == [0] and hist.train_loss == pytest.approx([expected], rel=1e-14)


def test_logging_schedule_and_test_loss():
    X, y = data()
    Xt, yt = data(5, seed=9)
    model = Squeeze(linear_model())
    hist = train(model, X, y, steps=10, lr=0.1, log_every=3, X_test=Xt, y_test=yt)
    assert hist.steps == [0, 3, 6, 9, 10]
    assert len(hist.test_loss) == 5
    with torch.no_grad():
        final = 0.5 * ((model(Xt) - yt) ** 2).sum().item() / 5
    assert hist.test_loss[-1] == pytest.approx(final, rel=1e-13)
    d = hist.as_dict()
    assert d["steps"] == hist.steps and d["records"] == {} and isinstance(hist, History)


def test_minibatch_sgd_is_seeded_and_batch_size_n_is_full_batch_gd():
    X, y = data(16)

    def run(**kw):
        model = Squeeze(linear_model())
        train(model, X, y, steps=12, lr=0.2, **kw)
        return model.inner.weight.detach().clone()

    a, b, c = run(batch_size=4, seed=0), run(batch_size=4, seed=0), run(batch_size=4, seed=1)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    torch.testing.assert_close(run(batch_size=16), run(), rtol=1e-12, atol=1e-14)


def test_minibatches_visit_every_sample_once_per_epoch():
    X, y = data(12)
    Xid = torch.cat([X[:, :2], torch.arange(12, dtype=torch.float64)[:, None]], 1)  # last column: sample id
    seen: list[int] = []

    class RowRecorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3, dtype=torch.float64))

        def forward(self, x):
            if self.training:
                seen.extend(int(v) for v in x[:, 2])
            return x @ self.w

    train(RowRecorder(), Xid, y, steps=9, lr=1e-3, batch_size=4, log_every=100)
    assert len(seen) == 36
    for epoch in range(3):
        assert sorted(seen[12 * epoch:12 * (epoch + 1)]) == list(range(12))
    assert seen[:12] != list(range(12))  # shuffled


def test_cross_entropy_loss_value_and_decrease():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(30, 2, generator=g, dtype=torch.float64)
    labels = (X[:, 0] + X[:, 1] > 0).long()
    torch.manual_seed(0)
    model = nn.Linear(2, 2).double()
    with torch.no_grad():
        start = nn.functional.cross_entropy(model(X), labels).item()
    hist = train(model, X, labels, steps=50, lr=0.5, loss="cross_entropy")
    assert hist.train_loss[0] == pytest.approx(start, rel=1e-14)
    assert hist.train_loss[-1] < 0.6 * start


def test_callbacks_record_at_their_schedule():
    X = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    X = X / X.norm(dim=1, keepdim=True)
    y = X[:, 0]
    net = ScaledResNet(3, 16, depth=2, alpha=1.0, seed=0)
    init_ntk = empirical_ntk(net, X)
    cbs = [PredictionCallback(X, every=2), NTKCallback(X, every=5), LossCallback(X, y, every=3, name="val")]
    hist = train(net, X, y, steps=10, lr=0.05, callbacks=cbs)
    rec = hist.records
    assert [r["step"] for r in rec["predictions"]] == [0, 2, 4, 6, 8, 10]
    assert [r["step"] for r in rec["ntk"]] == [0, 5, 10]
    assert [r["step"] for r in rec["val"]] == [0, 3, 6, 9]
    assert torch.equal(rec["predictions"][0]["predictions"], torch.zeros(6, dtype=torch.float64))  # mirrored f0 = 0
    torch.testing.assert_close(rec["ntk"][0]["ntk"], init_ntk)
    with torch.no_grad():
        torch.testing.assert_close(rec["predictions"][-1]["predictions"], net(X))
    assert rec["val"][0]["loss"] == pytest.approx(hist.train_loss[0], rel=1e-14)  # same data, same convention
    assert not torch.equal(rec["ntk"][-1]["ntk"], rec["ntk"][0]["ntk"])  # the kernel moved a little


def test_custom_callback_protocol():
    X, y = data()

    class Norm:
        name = "norm"

        def __call__(self, step, model, history):
            return {"w": model.inner.weight.norm().item()} if step in (0, 4) else None

    hist = train(Squeeze(linear_model()), X, y, steps=4, lr=0.1, callbacks=[Norm()])
    assert [r["step"] for r in hist.records["norm"]] == [0, 4]


def test_progress_bar_is_quiet_under_pytest(capsys):
    X, y = data()
    train(Squeeze(linear_model()), X, y, steps=3, lr=0.1)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_can_be_forced_on(capsys):
    X, y = data()
    train(Squeeze(linear_model()), X, y, steps=3, lr=0.1, progress=True)
    assert "3/3" in capsys.readouterr().err  # tqdm's counter


def test_divergence_raises_instead_of_returning_nan():
    X, y = data()
    with pytest.raises(FloatingPointError, match="lr"):
        train(Squeeze(linear_model()), 10 * X, y, steps=200, lr=50.0)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(steps=-1), ValueError, "steps"),
    (dict(loss="hinge"), ValueError, "loss"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=13), ValueError, "batch_size"),
    (dict(log_every=0), ValueError, "log_every"),
    (dict(X_test=torch.ones(2, 3)), ValueError, "X_test and y_test"),
    (dict(y=torch.ones(5)), ValueError, "y must have 12 rows"),
    (dict(y=torch.ones(12, 2)), ValueError, "y must have the shape"),
    (dict(X=torch.full((12, 3), float("nan"))), ValueError, "X must contain only finite"),
    (dict(loss="cross_entropy"), ValueError, "logits"),
    (dict(callbacks=[lambda s, m, h: None]), TypeError, "callback"),
])
def test_train_rejects_bad_arguments(kwargs, exc, match):
    X, y = data()
    args = dict(X=X, y=y, steps=2, lr=0.1)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        train(Squeeze(linear_model()), args.pop("X"), args.pop("y"), **args)


# ------------------------------------------------------------------------------------------- network = kernel
def test_readout_only_network_follows_kernel_gd_exactly():
    """Training only v makes f linear in the trained parameters: the empirical NTK is constant and GD on the
    mirrored network *is* discrete kernel GD from f0 = 0 with that kernel (an exact identity, not a limit)."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(10, 3, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    Xt = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.sin(3 * X[:, 0])
    net = ScaledResNet(3, 32, depth=3, alpha=0.8, trained="readout", seed=1)
    K, Kx = empirical_ntk(net, X), empirical_ntk(net, Xt, X)
    lr = lr_from_ntk(K)
    hist = train(net, X, y, steps=40, lr=lr, callbacks=[PredictionCallback(Xt, every=20)])
    for rec in hist.records["predictions"]:
        kernel_gd = GradientFlowRegressor(lr=lr).fit(K, y).predict(Kx, steps=rec["step"])
        torch.testing.assert_close(rec["predictions"], kernel_gd, rtol=1e-10, atol=1e-10)


def test_history_is_reachable_from_the_subpackage_and_train_shadows_no_module():
    """resntk.train used to be both a submodule and a function, so ``resntk.train.History`` failed."""
    import resntk

    assert resntk.train is train and resntk.nets.train is train
    assert resntk.nets.History is History
    import importlib.util

    assert importlib.util.find_spec("resntk.train") is None


def test_numpy_data_is_accepted_like_tensors():
    X, y = data()
    a, b = Squeeze(linear_model()), Squeeze(linear_model())
    h1 = train(a, X, y, steps=5, lr=0.1)
    h2 = train(b, X.numpy(), y.numpy(), steps=5, lr=0.1)
    assert h1.train_loss == h2.train_loss
    with pytest.raises(ValueError, match="Complex data not supported"):
        train(Squeeze(linear_model()), X.numpy() + 1j, y, steps=1, lr=0.1)
