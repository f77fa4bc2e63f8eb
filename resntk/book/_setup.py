"""The first code cell of every chapter: put the Python session in the state the book's numbers assume.

A chapter opens with ``import resntk as rn`` and ``SCALE = rn.book.setup()``. Everything a chapter's results depend
on besides its own code is set there, in one visible call, so that a reader who copies a cell into a fresh notebook
gets the book's behaviour after running that one line.
"""

from __future__ import annotations

import os
import random

__all__ = ["setup", "SCALES"]

#: The values of the ``RESNTK_SCALE`` switch: ``"book"`` runs every chapter in well under a minute on a 2-core
#: CPU; ``"paper"`` runs the heavier, paper-scale settings (meant for a GPU).
SCALES = ("book", "paper")


def setup(*, seed: int = 0, threads: int | None = 1, style: bool = True, verbose: bool = True) -> str:
    """Set the session state every chapter assumes and return the scale of the experiments.

    This function exists to change global state, once, at the top of a chapter (library functions never do):

    - torch's default floating dtype becomes ``float64``: Gram matrices, their eigenvalues and the kernels'
      ``1 - rho`` variables need double precision (a float32 session silently changes the book's numbers);
    - Python's, NumPy's and torch's random generators are seeded with ``seed``;
    - torch, and the BLAS/LAPACK behind NumPy and SciPy, use ``threads`` CPU threads (one by default: the
      chapters' matrices have at most a few thousand rows, and more threads only add overhead or stall on a
      shared machine; ``None`` leaves both settings alone);
    - matplotlib uses the book's figure style (:func:`resntk.book.use_style`) when ``style`` is true.

    Parameters
    ----------
    seed
        Seed of the three random generators (a non-negative integer).
    threads
        Number of torch CPU threads, or ``None`` to keep the current setting.
    style
        Apply the book's matplotlib style.
    verbose
        Print one line that records the state (package versions, dtype, threads, seed, scale).

    Returns
    -------
    str
        ``"book"`` (the default) or ``"paper"``, read from the environment variable ``RESNTK_SCALE``; chapters
        size their experiments with it.

    Raises
    ------
    ValueError
        If ``seed`` or ``threads`` is not a valid integer, or ``RESNTK_SCALE`` holds another value.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    scale = os.environ.get("RESNTK_SCALE", "book").strip().lower() or "book"
    if scale not in SCALES:
        raise ValueError(f"RESNTK_SCALE must be one of {SCALES}, got {scale!r}")

    import numpy as np
    import torch

    torch.set_default_dtype(torch.float64)
    if threads is not None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if style:
        from ._style import use_style

        use_style()
    if verbose:
        from resntk import __version__

        print(f"resntk {__version__}, torch {torch.__version__}: float64, "
              f"{torch.get_num_threads()} thread(s), seed {seed}, scale {scale!r}")
    return scale
