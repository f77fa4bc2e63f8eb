"""Test-suite configuration: tests marked ``slow`` run only when asked for.

``RESNTK_SLOW=1`` (CI sets it) or an explicit ``-m slow`` selects them; by default they are skipped so that
``pytest`` stays fast while developing.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RESNTK_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: set RESNTK_SLOW=1 (or -m slow) to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
