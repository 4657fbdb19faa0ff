"""Lesson 06b (training in practice): the learning-rate range test, run against the course's
own on a small digits network."""

import warnings

import numpy as np

from .. import optimizers
from ..data import load_digits
from ..mlp import MLP, split_train_validation
from ..runners import DivergenceWarning, train_minibatch
from .engine import Case, evaluate_function, printing

# --- Exercise 6b.1: a learning-rate range test ----------------------------------------------


def _range_curve(step, net, lr_min, lr_max, epochs, **hyperparameters):
    """The whole range test, uncut: (rates, losses with the initial one first)."""
    updates = epochs * -(-net.n // 32)
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(updates) / (updates - 1))
    run = train_minibatch(
        step,
        net,
        epochs=epochs,
        batch_size=32,
        seed=0,
        schedule=lambda t: lrs[t],
        record_every=1,
        **hyperparameters,
    )
    return lrs[: len(run.losses) - 1], run.losses


def _range_answer(lrs, losses):
    """(lrs, losses, suggestion): the curve cut where the loss first exceeds 4 × its lowest."""
    blown = np.flatnonzero(losses > 4 * np.minimum.accumulate(losses))
    if blown.size:
        lrs, losses = lrs[: blown[0]], losses[: blown[0]]
    return lrs, losses, lrs[np.argmin(losses)] / 10


def _range_hints(full_lrs, recorded):
    """diagnose for lrs, losses and the suggestion: the slip each wrong part matches."""
    full_losses = recorded[1:]
    lrs, losses, _ = _range_answer(full_lrs, full_losses)
    cut = "cut the curve where the loss first exceeds 4 × its lowest value so far."

    def for_lrs(got, _):
        n, m = len(full_lrs), min(got.size, len(full_lrs))
        if got.ndim != 1 or not got.size:
            return "lrs is a 1-D array: the rate of each update, up to the cut."
        if np.allclose(got[:m], np.linspace(full_lrs[0], full_lrs[-1], n)[:m]) and m > 1:
            return "the rates must grow geometrically (the same ratio from one update to the next)."
        if np.isclose(got[0], full_lrs[0]) and m > 1 and got[1] < full_lrs[1]:
            return "update 0 runs at lr_min and the last update at lr_max: divide t by U − 1."
        if got.size <= n and np.allclose(got, full_lrs[: got.size], rtol=1e-9):
            if got.size == n != len(lrs):
                return cut
            return (
                f"your rates are right, but your curve stops after {got.size} updates, not "
                f"{len(lrs)}: the losses that decide the cut differ. losses[t] is the training "
                "loss after update t of one run whose rate grows (run.losses[0] is the one "
                "before any update); the cut is at the first loss above 4 × the lowest so far."
            )
        return "lrs[t] is the rate of update t = 0 … U − 1, with U = epochs × ⌈n / 32⌉ updates."

    def for_losses(got, _):
        if got.size and np.isclose(got[0], recorded[0], rtol=1e-9):
            return (
                "run.losses[0] is the loss before any update: losses[t] is the one after update t."
            )
        if got.shape == full_losses.shape and np.allclose(got, full_losses, rtol=1e-9):
            return cut
        return (
            "one run of train_minibatch whose schedule raises the rate (batches of 32, seed 0), "
            "recording the training loss after every update (record_every=1)."
        )

    def for_suggestion(got, _):
        if np.isclose(got, lrs[np.argmin(losses)], rtol=1e-9):
            return "the rate at the lowest loss is at the cliff's edge: suggest a tenth of it."
        return "a tenth of the rate of the update after which the loss is lowest."

    return for_lrs, for_losses, for_suggestion


def lr_range_test_cases():
    """fn(step, net, lr_min, lr_max, epochs, **hyperparameters) → (lrs, losses, suggestion),
    on 300 digits and a 64 → 16 → 10 network; expected: the course's range test, run now."""
    X_train, y_train, _, _ = split_train_validation(*load_digits(), seed=0)
    net = MLP(X_train[:300], y_train[:300], (64, 16, 10), seed=0)
    cases = []
    for name, step, lr_min, lr_max, epochs in [
        ("SGD, η from 1e-3 to 100, 3 epochs", optimizers.gd, 1e-3, 100.0, 3),
        (
            "momentum (torch's form), η from 1e-4 to 10, 2 epochs",
            optimizers.sgd_momentum,
            1e-4,
            10.0,
            2,
        ),
        ("Adam, η from 1e-5 to 1, 3 epochs", optimizers.adam, 1e-5, 1.0, 3),
    ]:
        full_lrs, recorded = _range_curve(step, net, lr_min, lr_max, epochs)
        cases.append(
            Case(
                name,
                (step, net, lr_min, lr_max, epochs),
                _range_answer(full_lrs, recorded[1:]),
                parts=("lrs", "losses", "suggestion"),
                rtol=1e-9,
                atol=1e-12,
                diagnose=_range_hints(full_lrs, recorded),
            )
        )
    return cases


def evaluate_lr_range_test(fn):
    """Run fn(step, net, lr_min, lr_max, epochs) → (lrs, losses, suggestion) on three range
    tests and compare with the course's, run now (a diverging run's warning is kept quiet)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        return evaluate_function(
            fn, lr_range_test_cases(), agree=": the rates, the losses and the suggestion agree."
        )


check_lr_range_test = printing(evaluate_lr_range_test)
