"""Tests of the book's depth-expansion experiments (resntk/book/_experiments.py): the toy and the equal-compute
comparison (book, Part III; Chapter 13, "The equal-compute control")."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import training_risk

from resntk.book import equal_compute_comparison, make_expansion_toy
from resntk.expansion import descent_matrix, jumpboard


def test_equal_compute_comparison(toy, expanded) -> None:
    # Exercise ex-jumpboard-gd-step: GD from the zero block with eta <= 1/beta_S decreases R_S by at least
    # eta/2 ||G_S||^2 in one step; the equal-compute control trains the old model for the same number of steps
    G = descent_matrix(expanded, 1, toy.X, toy.y)
    eta = 0.05
    res = equal_compute_comparison(toy.model, expanded, toy.X, toy.y, steps=20, lr=eta,
                                   X_test=toy.X_test, y_test=toy.y_test)
    old_risk = training_risk(toy.model, toy.X, toy.y)
    assert res.control.steps == list(range(21)) and res.expanded.steps == list(range(21))
    assert res.control.train_loss[0] == pytest.approx(old_risk, rel=1e-12)
    assert res.expanded.train_loss[0] == pytest.approx(old_risk, abs=1e-10)
    assert res.expanded.train_loss[1] <= old_risk - eta / 2 * float(G.norm()) ** 2
    assert all(np.diff(res.expanded.train_loss) <= 1e-15)
    assert len(res.expanded.test_loss) == 21
    assert res.expanded.test_loss[0] == pytest.approx(training_risk(toy.model, toy.X_test, toy.y_test), abs=1e-10)
    # the arguments are untouched
    assert float(expanded.blocks[1].linear2.weight.detach().abs().max()) == 0.0
    assert training_risk(toy.model, toy.X, toy.y) == old_risk
    summary = res.summary()
    assert summary["expanded_train_end"] == res.expanded.train_loss[-1]
    # from the jumpboard: training inherits (and exceeds) the jumpboard gain
    jb = jumpboard(expanded, 1, toy.X, toy.y)
    res_jb = equal_compute_comparison(toy.model, jb.model, toy.X, toy.y, steps=10, lr=eta)
    assert res_jb.expanded.train_loss[0] == pytest.approx(jb.risk_after, rel=1e-12)
    assert res_jb.expanded.train_loss[-1] <= jb.risk_after < old_risk


def test_toy_is_seeded_and_has_the_stated_noise(toy) -> None:
    X1, y1 = toy.sample(5000, seed=11)
    X2, y2 = toy.sample(5000, seed=11)
    assert torch.equal(X1, X2) and torch.equal(y1, y2)
    resid = y1 - toy.target(X1)
    assert float(resid.std()) == pytest.approx(toy.noise, rel=0.05)
    again = make_expansion_toy(n=1000, n_test=1000, seed=0)
    assert torch.equal(again.X, toy.X) and torch.equal(again.model.readout.weight, toy.model.readout.weight)
    # the ridge readout is fitted: the old model explains most of the signal, not the weak term or the noise
    assert training_risk(toy.model, toy.X, toy.y) < 0.5 * float(0.5 * (toy.y - toy.y.mean()).pow(2).mean())
    with pytest.raises(ValueError, match="n must be"):
        toy.sample(0, seed=1)


def test_toy_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    small = make_expansion_toy(n=20, n_test=10, seed=3)
    small.sample(5, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_allclose(small.target(small.X.numpy()).numpy(), small.target(small.X).numpy())
