"""Lint and format: ruff (configured in pyproject.toml) is clean on course_lib, tools and tests."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PATHS = ["course_lib", "tools", "tests"]


def ruff(*args):
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (the 'test' extra installs it)")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_ruff_check_is_clean():
    result = ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
