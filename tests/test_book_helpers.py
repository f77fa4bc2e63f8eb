from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from resntk.book import explore, is_live, palette, reference_slope, use_style  # noqa: E402


def test_palette_and_style():
    use_style()
    assert matplotlib.rcParams["axes.grid"] is True
    cols = palette(4)
    assert len(cols) == 4 and len(set(cols)) == 4
    with pytest.raises(ValueError, match="n must be"):
        palette(0)


def test_reference_slope_passes_through_anchor_with_the_slope():
    fig, ax = plt.subplots()
    reference_slope(ax, [10, 1000], -0.5, anchor=(10, 2.0))
    (line,) = ax.get_lines()
    x, y = line.get_data()
    assert y[0] == pytest.approx(2.0)
    assert np.log(y[1] / y[0]) / np.log(x[1] / x[0]) == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="anchor"):
        reference_slope(ax, [1, 2], 1.0, anchor=(0, 1))
    plt.close(fig)


def test_explore_static_player_has_one_frame_per_value():
    seen = []

    def draw(ax, k):
        seen.append(k)
        ax.plot([0, 1], [0, k])

    html = explore(draw, [1, 2, 3], name="k", live=False).data
    assert "<script" in html and "animation" in html.lower()
    assert html.count("data:image/png;base64") == 3
    assert sorted(set(seen)) == [1, 2, 3]


def test_explore_is_static_outside_a_kernel_and_validates():
    assert not is_live()
    with pytest.raises(ValueError, match="values"):
        explore(lambda ax, v: None, [])
    with pytest.raises(TypeError, match="draw"):
        explore(None, [1])


def test_explore_live_builds_a_slider():
    widgets = pytest.importorskip("ipywidgets")
    box = explore(lambda ax, v: ax.plot([0, v]), [0.5, 1.0], name="alpha", live=True)
    assert isinstance(box, widgets.VBox)
    slider = box.children[0]
    assert [label for label, _ in slider.options] == ["0.5", "1.0"]
    plt.close("all")


def test_explore_in_the_book_build_loads_nothing_from_the_network(monkeypatch):
    import re

    monkeypatch.setenv("RESNTK_BOOK_BUILD", "1")
    html = explore(lambda ax, v: ax.plot([0, v]), [1, 2]).data
    assert not re.search(r"(src|href)=\"https?://", html)


@pytest.fixture
def restore_session():
    """setup() changes global state on purpose; give it back after each test."""
    import random

    import torch

    state = (torch.get_default_dtype(), torch.get_num_threads(), torch.get_rng_state(), np.random.get_state(),
             random.getstate(), dict(matplotlib.rcParams))
    yield
    torch.set_default_dtype(state[0])
    torch.set_num_threads(state[1])
    torch.set_rng_state(state[2])
    np.random.set_state(state[3])
    random.setstate(state[4])
    matplotlib.rcParams.update(state[5])


def test_setup_gives_a_copied_cell_the_books_session(restore_session, monkeypatch, capsys):
    import torch

    from resntk.book import setup
    from resntk.book._style import BOOK_RC

    monkeypatch.delenv("RESNTK_SCALE", raising=False)
    torch.set_default_dtype(torch.float32)
    matplotlib.rcParams["axes.grid"] = False
    assert setup(seed=3) == "book"
    assert torch.get_default_dtype() is torch.float64 and torch.zeros(1).dtype is torch.float64
    assert torch.get_num_threads() == 1
    assert matplotlib.rcParams["axes.grid"] is BOOK_RC["axes.grid"]
    first = (torch.randn(3), np.random.rand(3))
    setup(seed=3, verbose=False)
    second = (torch.randn(3), np.random.rand(3))
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "float64" in out and "seed 3" in out


def test_setup_reads_the_scale_switch_and_validates(restore_session, monkeypatch):
    from resntk.book import setup

    monkeypatch.setenv("RESNTK_SCALE", "paper")
    assert setup(verbose=False, threads=None) == "paper"
    monkeypatch.setenv("RESNTK_SCALE", "huge")
    with pytest.raises(ValueError, match="RESNTK_SCALE"):
        setup(verbose=False)
    monkeypatch.delenv("RESNTK_SCALE")
    for bad in (dict(seed=-1), dict(seed=1.5), dict(threads=0), dict(threads=True)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            setup(verbose=False, **bad)
