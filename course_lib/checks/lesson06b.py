"""Lesson 06b (training in practice): the learning-rate range test, run against the course's
own on a small digits network."""

import warnings

import numpy as np

from .. import optimizers
from ..data import load_digits
from ..mlp import MLP, split_train_validation
from ..runners import DivergenceWarning, train_minibatch
from .engine import Case, Report, evaluate_function, printing

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


# --- Exercise 6b.1: sixteen times the batch ---------------------------------------------------

BATCH_KEYS = {
    "SGD": ("grows", "stays", "shrinks"),
    "Adam": ("grows", "stays", "shrinks"),
    "loss": ("rises", "stays", "falls"),
}
BATCH_HINTS = {
    "SGD": (
        "a mini-batch 16 times larger averages 16 times more gradients: its noise is smaller, "
        "so a longer step stays on course, and with the epochs fixed there are 16 times fewer "
        "steps to take. SGD's tuned η grew."
    ),
    "Adam": (
        "Adam's step has length about η whatever the gradient's size, but its direction "
        "m̂/√ŝ is less noisy on a larger batch, and there are fewer steps to take: Adam's "
        "tuned η grew too."
    ),
    "loss": (
        "with the epochs fixed, 16 times the batch makes 16 times fewer updates; a larger η "
        "makes up for part of them only: the loss at the tuned η rose."
    ),
}


def _direction(ratio, words):
    """words[0] if ratio ≥ 1.5, words[2] if ≤ 1/1.5, else words[1] (within a grid step)."""
    return words[0] if ratio >= 1.5 else words[2] if ratio <= 1 / 1.5 else words[1]


def _batch_hint(key, measured):
    """Why the measured change happened (the course's runs: both η grow, the loss rises)."""
    if measured == BATCH_KEYS[key][0]:
        return BATCH_HINTS[key]
    return "look at the stars of the figure: where is each tuned η (and its loss) at 32 and at 512?"


def measured_batch_directions(by_batch, small=32, large=512):
    """{"SGD", "Adam", "loss"} → the word each measured change says, from by_batch:
    (optimiser name "gd" or "adam", |B|) → Tuned; "loss" is the tuned loss of both."""
    directions = {
        key: _direction(
            by_batch[name, large].best_lr / by_batch[name, small].best_lr, BATCH_KEYS[key]
        )
        for key, name in (("SGD", "gd"), ("Adam", "adam"))
    }
    rises = [
        by_batch[name, large].best_mean / by_batch[name, small].best_mean for name in ("gd", "adam")
    ]
    directions["loss"] = _direction(min(rises), BATCH_KEYS["loss"])
    return directions


def evaluate_batch_prediction(prediction, by_batch):
    """Compare a prediction {"SGD": …, "Adam": …, "loss": …} ("grows" / "stays" / "shrinks"
    for each tuned η, "rises" / "stays" / "falls" for the tuned loss) with the sweep by_batch:
    (optimiser name "gd" or "adam", |B|) → Tuned, for |B| = 32 and 512."""
    name = "batch_prediction"
    keys = '"SGD", "Adam" and "loss"'
    if not isinstance(prediction, dict) or set(prediction) != set(BATCH_KEYS):
        got = sorted(prediction) if isinstance(prediction, dict) else type(prediction).__name__
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected a dict with the keys {keys}; got {got}.",
                '  hint: e.g. {"SGD": "grows", "Adam": "stays", "loss": "falls"}.',
            ],
        )
    for key, words in BATCH_KEYS.items():
        if prediction[key] not in words:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {key}: you predicted {prediction[key]!r}; say one of "
                    + ", ".join(f'"{w}"' for w in words)
                    + ".",
                    f"  hint: {key} changes in one of {len(words)} ways; pick the one you expect.",
                ],
            )
    measured = measured_batch_directions(by_batch)
    seeds = len(by_batch["gd", 32].seeds)
    for key in BATCH_KEYS:
        if prediction[key] != measured[key]:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {key}: you predicted {prediction[key]!r}; the sweep says "
                    f"{measured[key]!r} (|B| from 32 to 512, {seeds} seeds)",
                    f"  hint: {_batch_hint(key, measured[key])}",
                ],
            )
    return Report(
        name,
        True,
        [
            f"✔ {name}: from |B| = 32 to 512 SGD's tuned η {measured['SGD']}, Adam's "
            f"{measured['Adam']} and the tuned loss {measured['loss']}: as you predicted."
        ],
    )


check_batch_prediction = printing(evaluate_batch_prediction)


# --- Exercise 6b.2: a fair comparison of AdamW and Adam + L2 ----------------------------------

DESIGN_KEYS = {
    "lr": ("tuned for every ω", "tuned once, at ω = 0", "the same for both forms"),
    "omegas": ("one grid per form", "one grid for both"),
    "score": ("validation loss", "training loss"),
}
DESIGN_HINTS = {
    "lr": (
        "the best η changes with ω (see section 3's runs): an η tuned once scores some ω "
        "with a mistuned run. Tune η for every ω."
    ),
    "omegas": (
        "AdamW shrinks a weight by ηω x per step, Adam + L2 by about ηω x/√ŝ: their useful ω "
        "differ by orders of magnitude, so one grid cannot fit both. Give each form its own."
    ),
    "score": (
        "a penalty can only raise the training loss; weight decay is there for data the "
        "network has not seen: score on the validation set."
    ),
    "seeds": (
        "one or two runs cannot tell a difference from the spread between seeds: at least 3 "
        "seeds, and compare mean ± sd."
    ),
}


def evaluate_decay_design(design):
    """Judge a plan {"lr": …, "omegas": …, "score": …, "seeds": n} for comparing AdamW with
    Adam + L2 fairly (each choice one of DESIGN_KEYS' strings; seeds a whole number)."""
    name = "decay_design"
    keys = set(DESIGN_KEYS) | {"seeds"}
    if not isinstance(design, dict) or set(design) != keys:
        got = sorted(design) if isinstance(design, dict) else type(design).__name__
        return Report(
            name,
            False,
            [
                f'✘ {name}: expected a dict with the keys "lr", "omegas", "score" and "seeds"; '
                f"got {got}.",
                '  hint: e.g. {"lr": "tuned once, at ω = 0", "omegas": "one grid for both", '
                '"score": "training loss", "seeds": 1}.',
            ],
        )
    for key, choices in DESIGN_KEYS.items():
        if design[key] not in choices:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {key}: got {design[key]!r}; choose one of "
                    + ", ".join(f'"{c}"' for c in choices)
                    + ".",
                    "  hint: copy one of the choices the exercise lists, as written.",
                ],
            )
        if design[key] != choices[0]:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {key}: {design[key]!r} makes the comparison unfair",
                    f"  hint: {DESIGN_HINTS[key]}",
                ],
            )
    seeds = design["seeds"]
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 3:
        return Report(
            name,
            False,
            [
                f"✘ {name}: seeds: got {seeds!r}; a whole number of seeds is expected",
                f"  hint: {DESIGN_HINTS['seeds']}",
            ],
        )
    return Report(
        name,
        True,
        [
            f"✔ {name}: η tuned for every ω, a grid of ω per form, the validation loss, {seeds} "
            "seeds: the comparison section 3 runs."
        ],
    )


check_decay_design = printing(evaluate_decay_design)
