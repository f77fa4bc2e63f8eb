"""Parameter explorers that work in a live notebook and on the static pages of the book, from one function.

:func:`explore` takes a drawing function ``draw(ax, value)`` and the values of one parameter. In a live Jupyter
kernel it returns an ipywidgets slider that redraws the figure as the reader moves it. In the book build (the
``RESNTK_BOOK_BUILD=1`` environment the Makefile sets), or wherever ipywidgets is unavailable, it precomputes one
frame per value and returns a self-contained JavaScript player (matplotlib's ``Animation.to_jshtml``): the static
page gets a working slider with no kernel behind it and nothing loaded from the network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["explore", "is_live"]


def is_live() -> bool:
    """Whether the code runs in a live Jupyter kernel with ipywidgets (and not in the book build)."""
    if os.environ.get("RESNTK_BOOK_BUILD") == "1":
        return False
    try:
        from IPython import get_ipython
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def explore(draw: Callable[[Any, Any], None], values: Sequence[Any], *, name: str = "value",
            figsize: tuple[float, float] = (6.4, 3.8), live: bool | None = None, interval_ms: int = 600,
            fmt: Callable[[Any], str] | None = None):
    """An explorer of ``draw(ax, value)`` over ``values``: a live slider, or a precomputed JavaScript player.

    Parameters
    ----------
    draw
        ``draw(ax, value)`` draws one state of the figure on a cleared axes ``ax``. It must not create figures.
    values
        The parameter values the slider steps through (at least one, in display order).
    name
        The parameter's name, shown on the slider and in each frame's title.
    figsize
        Figure size in inches.
    live
        ``True`` forces the ipywidgets slider, ``False`` the precomputed player; ``None`` (default) picks the
        slider in a live kernel and the player in the book build (see :func:`is_live`).
    interval_ms
        Delay between frames when the player is played.
    fmt
        Formats a value for the title; default ``str``.

    Returns
    -------
    ipywidgets.Widget or IPython.display.HTML
        The slider (live) or the player (static); display it as the last expression of a cell.

    Raises
    ------
    ValueError
        If ``values`` is empty or ``interval_ms`` is not positive.
    TypeError
        If ``draw`` is not callable.
    """
    if not callable(draw):
        raise TypeError("draw must be a callable draw(ax, value)")
    values = list(values)
    if not values:
        raise ValueError("values must hold at least one parameter value")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    fmt = fmt or str
    use_live = is_live() if live is None else bool(live)

    import matplotlib.pyplot as plt

    if use_live:
        import ipywidgets as widgets

        out = widgets.Output()
        slider = widgets.SelectionSlider(options=[(fmt(v), i) for i, v in enumerate(values)], value=0,
                                         description=name, continuous_update=False,
                                         layout=widgets.Layout(width="60%"))

        def redraw(change: dict | None = None) -> None:
            with out:
                out.clear_output(wait=True)
                fig, ax = plt.subplots(figsize=figsize)
                draw(ax, values[slider.value])
                ax.set_title(f"{name} = {fmt(values[slider.value])}")
                plt.show()

        slider.observe(redraw, names="value")
        redraw()
        return widgets.VBox([slider, out])

    from IPython.display import HTML
    from matplotlib import animation

    fig, ax = plt.subplots(figsize=figsize)

    def frame(i: int):
        ax.clear()
        draw(ax, values[i])
        ax.set_title(f"{name} = {fmt(values[i])}")
        return []

    anim = animation.FuncAnimation(fig, frame, frames=len(values), interval=interval_ms, blit=False)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    if os.environ.get("RESNTK_BOOK_BUILD") == "1":
        # The player links Font Awesome from a CDN; the book's theme ships Font Awesome itself, and the book must
        # load nothing from the network (offline readers, CI).
        html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html)
    return HTML(html)
