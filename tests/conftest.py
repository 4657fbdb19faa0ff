"""Shared test settings: figures draw off-screen; nbval's notebook items are marked."""

import pathlib

import matplotlib
import pytest

matplotlib.use("Agg")
SOLUTIONS = pathlib.Path(__file__).resolve().parents[1] / "solutions"


def pytest_collection_modifyitems(items):
    for item in items:
        if SOLUTIONS in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.notebook)
