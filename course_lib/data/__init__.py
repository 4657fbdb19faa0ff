"""Data shipped inside course_lib: real data sets (no download at run time; see README.md
in this folder) and the reference data behind the checks (made by tools/make_reference.py)."""

import functools
import gzip
import json
from importlib import resources

import numpy as np

DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _load(name, delimiter=None):
    with (
        resources.files(__package__).joinpath(name).open("rb") as raw,
        gzip.open(raw, "rt") as text,
    ):
        return np.loadtxt(text, delimiter=delimiter)


def load_diabetes(standardize=True):
    """The diabetes regression data (442 patients, 10 features; Efron et al. 2004).

    Returns X (442, 10) and y (442,): disease progression one year after
    baseline. With standardize=True every column of X and y has mean 0 and
    standard deviation 1, so that a learning rate means the same for every
    feature.
    """
    X, y = _load("diabetes_data_raw.csv.gz"), _load("diabetes_target.csv.gz")
    if standardize:
        X = (X - X.mean(0)) / X.std(0)
        y = (y - y.mean()) / y.std()
    return X, y


def load_digits():
    """The 8×8 handwritten digits (1,797 images; UCI, Alpaydin & Kaynak 1998).

    Returns X (1797, 64) with pixel intensities 0..16 and labels y (1797,) in 0..9.
    """
    data = _load("digits.csv.gz", delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


@functools.cache
def load_references(section):
    """The reference file references_<section>.json as a dict (see tools/make_reference.py)."""
    return json.loads(
        resources.files(__package__)
        .joinpath(f"references_{section}.json")
        .read_text(encoding="utf-8")
    )
