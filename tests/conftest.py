"""Shared test settings: figures draw off-screen; nbval's notebook items are marked, and
grouped by notebook, so that with pytest-xdist a notebook's cells run in order in one kernel
(``tools/dev.py`` uses ``--dist loadfile``, which keeps a file whole by its node ids; the
group marker does the same under ``--dist loadgroup``)."""

import pathlib

import matplotlib
import pytest

matplotlib.use("Agg")
SOLUTIONS = pathlib.Path(__file__).resolve().parents[1] / "solutions"


@pytest.hookimpl(tryfirst=True)  # before xdist turns the group marker into a node-id suffix
def pytest_collection_modifyitems(items):
    for item in items:
        path = pathlib.Path(str(item.fspath))
        if SOLUTIONS in path.parents:
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.xdist_group(path.name))
