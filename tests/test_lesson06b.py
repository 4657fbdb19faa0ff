"""Exercise 6b.1 of lesson 06b, the learning-rate range test: the check accepts the solution
and rejects the plausible wrong versions, each with its hint."""

import numpy as np
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import train_minibatch
from course_lib.checks import evaluate_lr_range_test

NAMESPACE = solution_functions("06b-training-in-practice.ipynb")
NAMESPACE["train_minibatch"] = train_minibatch  # imported by the notebook's first cells
SOLUTION = NAMESPACE["lr_range_test"]


def range_test(
    step,
    net,
    lr_min,
    lr_max,
    epochs=2,
    grow="geometric",
    cut=True,
    first=1,
    tenth=True,
    exponent_end=1,
    **hyperparameters,
):
    """A range test with switches for the usual slips (the defaults: the right one)."""
    updates = epochs * -(-net.n // 32)
    t = np.arange(updates)
    if grow == "geometric":
        lrs = lr_min * (lr_max / lr_min) ** (t / (updates - exponent_end))
    else:
        lrs = np.linspace(lr_min, lr_max, updates)
    run = train_minibatch(
        step,
        net,
        epochs=epochs,
        batch_size=32,
        seed=0,
        schedule=lambda k: lrs[k],
        record_every=1,
        **hyperparameters,
    )
    losses = run.losses[first:]
    lrs = lrs[: len(losses)]
    if cut:
        blown = np.flatnonzero(losses > 4 * np.minimum.accumulate(losses))
        if blown.size:
            lrs, losses = lrs[: blown[0]], losses[: blown[0]]
    best = lrs[np.argmin(losses)]
    return lrs, losses, best / 10 if tenth else best


def right_version(step, net, lr_min, lr_max, epochs=2, **hp):
    return range_test(step, net, lr_min, lr_max, epochs, **hp)


def linear_ramp(step, net, lr_min, lr_max, epochs=2, **hp):
    return range_test(step, net, lr_min, lr_max, epochs, grow="linear", **hp)


def t_over_U(step, net, lr_min, lr_max, epochs=2, **hp):
    return range_test(step, net, lr_min, lr_max, epochs, exponent_end=0, **hp)


def keeps_initial_loss(step, net, lr_min, lr_max, epochs=2, **hp):
    return range_test(step, net, lr_min, lr_max, epochs, first=0, **hp)


def not_cut(step, net, lr_min, lr_max, epochs=2, **hp):
    return range_test(step, net, lr_min, lr_max, epochs, cut=False, **hp)


def rate_at_minimum(step, net, lr_min, lr_max, epochs=2, **hp):
    return range_test(step, net, lr_min, lr_max, epochs, tenth=False, **hp)


def restarts_per_rate(step, net, lr_min, lr_max, epochs=2, **hp):
    # a short run from the start for each rate: not one run whose rate grows
    lrs, _, _ = range_test(step, net, lr_min, lr_max, epochs, cut=False, **hp)
    losses = np.array(
        [train_minibatch(step, net, epochs=1, seed=0, lr=lr, **hp).losses[-1] for lr in lrs]
    )
    blown = np.flatnonzero(losses > 4 * np.minimum.accumulate(losses))
    if blown.size:
        lrs, losses = lrs[: blown[0]], losses[: blown[0]]
    return lrs, losses, lrs[np.argmin(losses)] / 10


EXERCISES = {
    "lr_range_test": Exercise(
        evaluate_lr_range_test,
        right=[right_version, SOLUTION],
        wrong={
            "linear ramp": (linear_ramp, "geometrically"),
            "t / U": (t_over_U, "U − 1"),
            "the initial loss kept": (keeps_initial_loss, "before any update"),
            "not cut at the blow-up": (not_cut, "4 × its lowest"),
            "the rate at the minimum": (rate_at_minimum, "a tenth"),
            "a restart per rate": (restarts_per_rate, "one run"),
        },
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)
