"""resntk — companion package of the executable textbook on residual networks.

The public surface is re-exported here; every name is documented with the
mathematics it implements and the chapter of the book where it is used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__: list[str] = ["__version__"]
