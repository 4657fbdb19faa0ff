"""Shared test settings: figures draw off-screen; nbval's notebook items are marked, and
grouped by notebook, so that with pytest-xdist (``-n 2 --dist loadgroup``) a notebook's
cells run in order in one kernel."""

import pathlib

import matplotlib
import pytest

matplotlib.use("Agg")
SOLUTIONS = pathlib.Path(__file__).resolve().parents[1] / "solutions"


def pytest_collection_modifyitems(items):
    for item in items:
        path = pathlib.Path(str(item.fspath))
        if SOLUTIONS in path.parents:
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.xdist_group(path.name))
