"""One figure style for the whole book, and the few plotting helpers every chapter needs.

:func:`resntk.book.setup` applies it once per chapter; figures then share sizes, fonts, grids and colours. The helpers draw
the reference lines the book uses to read rates off log-log plots.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["use_style", "palette", "reference_slope", "BOOK_RC", "MAX_FIGURE_WIDTH", "MIN_FONT_SIZE"]

#: The width of the book's content column, in inches at :data:`FIGURE_DPI`: a figure no wider than this is drawn
#: at its natural size on a desktop, so its text keeps the sizes below.
MAX_FIGURE_WIDTH = 6.4
#: Resolution of the figures: 6.4 in at 100 dpi is 640 px, which fits the 680 px column of the site, so a 9 pt
#: label is 12.5 px on screen.
FIGURE_DPI = 100
#: The smallest text size the book draws (points).
MIN_FONT_SIZE = 9

#: Matplotlib settings of the book's figures: one style, text never below 9 pt at the size a figure is drawn.
BOOK_RC: dict[str, object] = {
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": FIGURE_DPI,
    "figure.figsize": (MAX_FIGURE_WIDTH, 3.8),
    "figure.autolayout": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": MIN_FONT_SIZE,
    "ytick.labelsize": MIN_FONT_SIZE,
    "legend.fontsize": MIN_FONT_SIZE,
    "legend.title_fontsize": MIN_FONT_SIZE,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "savefig.bbox": "tight",
}


def use_style() -> None:
    """Apply the book's matplotlib style to every figure drawn afterwards.

    Sizes, fonts, grids and line widths of ``BOOK_RC`` in this module, which
    :func:`resntk.book.setup` applies at the top of every chapter.
    """
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_RC)


def palette(n: int, name: str = "viridis") -> list[tuple[float, float, float, float]]:
    """``n`` colours spread over a perceptually uniform colormap (ends trimmed so every colour reads on white).

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap(name)
    return [cmap(v) for v in np.linspace(0.08, 0.85, int(n))]


def reference_slope(ax, x: Sequence[float], slope: float, anchor: tuple[float, float], *,
                    label: str | None = None, **kwargs) -> None:
    """Draw the line :math:`y = y_0 (x/x_0)^{\\text{slope}}` through ``anchor = (x_0, y_0)`` on log-log axes.

    Parameters
    ----------
    ax
        A matplotlib axes (usually with logarithmic scales).
    x
        The abscissae over which to draw the line (its range is used).
    slope
        The exponent.
    anchor
        A point ``(x0, y0)`` the line passes through; both must be positive.
    label
        Legend label; defaults to ``"slope <slope>"``.
    """
    x = np.asarray(x, dtype=float)
    x0, y0 = anchor
    if x.size < 2 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("x must hold at least two positive finite values")
    if not (x0 > 0 and y0 > 0):
        raise ValueError(f"anchor must be a point with positive coordinates, got {anchor!r}")
    xs = np.array([x.min(), x.max()])
    style = {"color": "k", "linestyle": "--", "linewidth": 1.0}
    style.update(kwargs)
    ax.plot(xs, y0 * (xs / x0) ** slope, label=label if label is not None else f"slope {slope:+.3g}", **style)
