"""The synthetic archive of the small demo of docs/quickstart.md, written once for the demo tests."""

from __future__ import annotations

import pytest

from cloudbench.demo import STAMP, DemoSettings, write_demo_source

SMALL = DemoSettings(days=3, bands=("B05", "B13", "B14"), epochs=1)


@pytest.fixture(scope="session")
def small_source(tmp_path_factory):
    """OUT/source of ``cloudbench demo --days 3 --bands B05,B13,B14``: complete, stamped, reusable by a demo."""
    root = tmp_path_factory.mktemp("small") / "source"
    assert write_demo_source(root, SMALL) is True
    assert (root / STAMP).is_file()
    assert write_demo_source(root, SMALL) is False  # complete: a second call reuses it
    return root
