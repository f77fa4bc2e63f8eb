"""Progress bars that suit every place a chapter runs.

A live notebook gets tqdm's widget bar and a terminal the text bar. Where a live bar is noise -- under pytest, and
in the book build, which sets ``RESNTK_BOOK_BUILD=1`` -- the loop prints a single summary line when it ends
(under pytest, nothing).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def quiet() -> bool:
    """Whether progress bars should stay silent: under pytest or during the book build."""
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("RESNTK_BOOK_BUILD") == "1"


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None,
             enabled: bool | None = None) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar suited to where the code runs.

    Parameters
    ----------
    iterable
        What to iterate over.
    desc
        The bar's label.
    total
        The number of items, when ``len(iterable)`` is not defined.
    enabled
        ``False`` disables the bar; ``True`` forces a live tqdm bar; ``None`` (default) decides from the context:
        a live bar in a notebook or terminal, one summary line in the book build, silence under pytest.
    """
    if enabled is False:
        yield from iterable
        return
    if enabled is None and quiet():
        # No elapsed time in the line: the same build prints the same text.
        count = 0
        for item in iterable:
            count += 1
            yield item
        if "PYTEST_CURRENT_TEST" not in os.environ:
            print(f"{desc or 'progress'}: {count} steps done")
        return
    from tqdm.auto import tqdm

    with tqdm(iterable, desc=desc, total=total) as bar:
        yield from bar
