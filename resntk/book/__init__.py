"""What the chapters use besides the mathematics: session setup, figure style, explorers, progress bars.

Every chapter opens with::

    import resntk as rn
    SCALE = rn.book.setup()      # float64, seeded, one thread, the book's figure style

- :func:`setup` sets the session state the book's numbers assume and returns the experiments' scale;
- :func:`use_style`, :func:`palette`, :func:`reference_slope`: the one figure style and its helpers;
- :func:`explore`: a parameter explorer that is a live slider in Jupyter and a JavaScript player on the static page;
- :func:`progress`: a progress bar that suits a notebook, a terminal, the book build and the tests;
- :func:`make_expansion_toy`, :func:`equal_compute_comparison`: the experiment helpers of Part III's chapters
  (a trained post-normalised toy network and its data; growth by insertion against training from scratch).
"""

from __future__ import annotations

from resntk._progress import progress
from resntk.book._experiments import EqualComputeResult, ExpansionToy, equal_compute_comparison, make_expansion_toy
from resntk.book._explore import explore, is_live
from resntk.book._setup import setup
from resntk.book._style import palette, reference_slope, use_style

__all__ = ["setup", "use_style", "palette", "reference_slope", "explore", "is_live", "progress",
           "make_expansion_toy", "ExpansionToy", "equal_compute_comparison", "EqualComputeResult"]
