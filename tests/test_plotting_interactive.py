from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from resntk.interactive import explore, is_live  # noqa: E402
from resntk.plotting import palette, reference_slope, use_book_style  # noqa: E402


def test_palette_and_style():
    use_book_style()
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
