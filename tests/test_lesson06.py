"""Lesson 06 (training a real network): the checks of Exercises 6.3 (predict), 6.6 (diagnose)
and 6.7 (design) judge right and wrong answers with their hints, and every claim the lesson makes
in words holds, with margins that separate it from its alternative, for the lesson's seeds and
for others (the numbers live here, not in the prose). Exercises 6.1–6.2 are tested in
test_mlp.py, 6.4–6.5 in test_schedules.py."""

import functools
import math
import warnings

import numpy as np
import pytest
from lessons import Call, answer_tests, solution_functions

from course_lib import checks, data, optimizers, schedules, train_minibatch
from course_lib.mlp import (
    MLP,
    numerical_gradient,
    relative_error,
    split_train_validation,
    tune_lockstep,
)
from course_lib.runners import Run, Tuned

SOLUTION = solution_functions("06-training-a-network.ipynb")
LOWEST_LR_EXPONENT = {
    "gd": -1,
    "momentum": -2,
    "nesterov": -2,
    "adagrad": -1.5,
    "rmsprop": -2.5,
    "adadelta": 0.5,
    "adam": -2.5,
    "amsgrad": -2.5,
    "adamax": -2,
    "nadam": -2.5,
    "adabelief": -2.5,
    "adamw": -2.5,
}
ADAM_FAMILY = ("adam", "amsgrad", "nadam", "adabelief", "adamw")
GRID = [0.1, 0.3, 1.0, 3.0, 10.0]


@functools.cache
def split():
    X, y = data.load_digits()
    return split_train_validation(X, y, validation=0.2, seed=0)


def network(weight_decay=0.0):
    X_train, y_train, _, _ = split()
    return MLP(X_train, y_train, (64, 32, 10), "tanh", weight_decay=weight_decay, seed=0)


def validation():
    _, _, X_val, y_val = split()
    return network().on(X_val, y_val)


@functools.cache
def sweep(name, seeds=(0, 1, 2)):
    """The lesson's sweep of one optimiser: 5 η half a decade apart, 5 epochs, 3 seeds."""
    lrs = 10.0 ** (LOWEST_LR_EXPONENT[name] + np.arange(5) / 2)
    return tune_lockstep(
        optimizers.STEPS[name],
        network(),
        lrs,
        seeds=seeds,
        label=name,
        epochs=5,
        batch_size=32,
        every_epoch=False,
        metrics={"val_acc": validation().accuracy},
    )


def final(tuned, key=None):
    return np.array(
        [[r.losses[-1] if key is None else r.metrics[key][-1] for r in row] for row in tuned.runs]
    )


def race(weight_decay=0.0, batch_size=32, epochs=10, seeds=(0, 1, 2)):
    """The lesson's race_schedules: plain SGD, constant η against cosine, each tuned on GRID."""
    return _race(float(weight_decay), int(batch_size), int(epochs), tuple(seeds))


@functools.cache
def _race(weight_decay, batch_size, epochs, seeds):
    net = network(weight_decay)
    updates = epochs * math.ceil(net.n / batch_size)
    shapes = {
        "constant": None,
        "cosine": lambda t: schedules.cosine_annealing_lr(t, lr=1.0, T_max=updates),
    }
    return {
        name: tune_lockstep(
            optimizers.gd,
            net,
            GRID,
            seeds=seeds,
            label=name,
            shape=shape,
            epochs=epochs,
            batch_size=batch_size,
            every_epoch=False,
            keep_iterates=True,
        )
        for name, shape in shapes.items()
    }


def gradient_noise(w, batch_size=32):
    net = network()
    full = net.grad(w)
    batches = np.array_split(np.random.default_rng(0).permutation(net.n), net.n // batch_size)
    return np.mean([np.sum((net.grad(w, b) - full) ** 2) for b in batches])


# --- the solutions pass their checks ----------------------------------------------------------


def test_solution_answers_pass_their_checks():
    assert checks.evaluate_softmax_cross_entropy(SOLUTION["softmax_cross_entropy"])
    assert checks.evaluate_dense_tanh_backward(SOLUTION["dense_tanh_backward"])
    assert checks.evaluate_training_diagnosis(SOLUTION["diagnosis"])
    sweeps = {name: sweep(name) for name in ("gd", "momentum")}
    assert checks.evaluate_momentum_factor(SOLUTION["sgd_over_momentum"], sweeps)
    design = SOLUTION["design"]
    assert checks.evaluate_schedule_design(design, race(**design))


# --- Exercise 6.3: momentum's best η ------------------------------------------------------------


def fake_sweep(gd_best, momentum_best):
    """A sweep whose loss curves are one V, centred at the given rates (a grid of √10 steps)."""

    def tuned(label, best):
        lrs = best * 10.0 ** (np.arange(-2, 3) / 2)
        scores = np.exp(np.abs(np.log10(lrs / best)))[:, None] + np.array([[0.1, 0.2, 0.3]])
        return Tuned(label, lrs, (0, 1, 2), scores)

    return {"gd": tuned("gd", gd_best), "momentum": tuned("momentum", momentum_best)}


MOMENTUM_RIGHT = [10.0, 10, 9.0, 1 / (1 - 0.9), np.float64(12.0)]
MOMENTUM_WRONG = {
    "the same η": (1.0, "adds up the past gradients"),
    "inverted": (0.1, "the inverse"),
    "1/(1 − γ)²": (100.0, "v = η g/(1 − γ)"),
    "a guess": (3.0, "v = η g/(1 − γ)"),
    "not a number": ("ten", "one positive number"),
    "negative": (-10.0, "one positive number"),
}


test_momentum_factor_right_passes, test_momentum_factor_mistake_fails_with_its_hint = answer_tests(
    checks.evaluate_momentum_factor,
    "sgd_over_momentum",
    MOMENTUM_RIGHT,
    MOMENTUM_WRONG,
    args=(fake_sweep(3.16, 0.316),),
)


def test_momentum_factor_is_judged_against_the_sweep_given():
    assert not checks.evaluate_momentum_factor(10.0, fake_sweep(1.0, 1.0))
    assert checks.evaluate_momentum_factor(1.0, fake_sweep(1.0, 1.0))


@pytest.mark.parametrize("seeds", [(0, 1, 2), (3, 4, 5)])
def test_sgds_curve_is_momentums_moved_a_decade_right(seeds):
    gd, momentum = sweep("gd", seeds), sweep("momentum", seeds)
    factor, mismatch = checks.lesson06.curve_shift(gd, momentum)
    assert factor == pytest.approx(10.0)
    # separated: moved by √10 less or more, the curves disagree at least three times as much
    for other, value in mismatch.items():
        if not np.isclose(other, factor):
            assert value > 3 * mismatch[factor], (other, mismatch)
    assert gd.best_lr / momentum.best_lr == pytest.approx(10.0)  # the best η too (these seeds)


# --- Exercise 6.6: three training runs diagnosed ----------------------------------------------

DIAGNOSIS_RIGHT = {"A": "decays too early", "B": "too large", "C": "too small"}
DIAGNOSIS_WRONG = {
    "large and small swapped": (
        {"A": "decays too early", "B": "too small", "C": "too large"},
        "never gets low",
    ),
    "early decay taken for too small": (
        {"A": "too small", "B": "too large", "C": "decays too early"},
        "still falling steadily",
    ),
    "an unknown diagnosis": (
        {"A": "decays too early", "B": "too big", "C": "too small"},
        "too big",
    ),
    "a missing run": ({"A": "decays too early", "B": "too large"}, '"A", "B" and "C"'),
    "not a dict": (["decays too early", "too large", "too small"], "a dict"),
}


test_training_diagnosis_right_passes, test_training_diagnosis_mistake_fails_with_its_hint = (
    answer_tests(
        checks.evaluate_training_diagnosis, "diagnosis", [DIAGNOSIS_RIGHT], DIAGNOSIS_WRONG
    )
)


def test_mystery_runs_show_what_the_hints_describe():
    runs = checks.mystery_trainings(network())
    early, large, small = runs["A"].losses, runs["B"].losses, runs["C"].losses
    per_epoch = 3  # records every 15 updates, 45 updates an epoch
    # too large: ends highest, and jumps up on the way (never settles)
    assert large[-1] > 2 * max(small[-1], early[-1])
    assert np.max(large[1:] / large[:-1]) > 1.3
    # too small: smooth, falls at every record, still falling over the last epoch
    assert np.all(np.diff(small) < 0) and small[-1] < 0.95 * small[-1 - per_epoch]
    # decays too early: lowest after one epoch, then flat (its rate is gone)
    assert early[per_epoch] < 0.5 * min(large[per_epoch], small[per_epoch])
    assert abs(early[-1] / early[-1 - 5 * per_epoch] - 1) < 0.01
    # and a healthy constant rate (section 3's η = 1) ends below all three
    healthy = train_minibatch(optimizers.gd, network(), epochs=10, batch_size=32, seed=0, lr=1.0)
    assert healthy.losses[-1] < 0.2 * min(early[-1], small[-1], large[-1])


# --- Exercise 6.7: a race the schedule wins -----------------------------------------------------


def fake_race(constant, cosine, updates=450):
    """{"constant": Tuned, "cosine": Tuned} with the given (mean, sd) at their best η."""

    def tuned(label, mean, sd):
        run = Run(label, None, np.array([2.3, mean]), steps=np.array([0, updates]))
        scores = np.array([[mean - sd, mean, mean + sd], [10 * mean] * 3])
        return Tuned(label, [1.0, 3.0], (0, 1, 2), scores, runs=[[run] * 3, [run] * 3])

    return {"constant": tuned("constant", *constant), "cosine": tuned("cosine", *cosine)}


def measured(design):
    """The arguments of check_schedule_design(design, race_schedules(**design)): the design
    and its race, run when a test first needs it."""
    return Call(lambda: (design, race(**design)))


def raced(design, race_, seeds=3):
    """The arguments of the check for a design and a race made up (fake_race); seeds=1 keeps
    the first seed's column only."""

    def make():
        if seeds == 1:
            return design, {
                k: Tuned(k, t.lrs, (0,), t.scores[:, :1], runs=[r[:1] for r in t.runs])
                for k, t in race_.items()
            }
        return design, race_

    return Call(make)


def wins():
    """A race made up that cosine wins by more than the spread (one for each mistake)."""
    return fake_race((0.35, 0.003), (0.33, 0.001))


DESIGN_WRONG = {
    "nothing changed (no penalty)": (measured({}), "no noise floor", "with nothing changed"),
    "more epochs, no penalty": (measured({"epochs": 10}), "no noise floor"),
    "ω = 0": (measured({"weight_decay": 0.0}), "σ* = 0", "with weight_decay=0.0"),
    "too weak a penalty (ω = 10⁻³)": (
        measured({"weight_decay": 1e-3}),
        "its floor is still below",
        "with weight_decay=0.001",
    ),
    "over budget": (
        raced({"weight_decay": 1e-2}, fake_race((0.35, 0.003), (0.33, 0.001), updates=900)),
        "budget",
    ),
    "cosine ahead within the spread": (
        raced({"weight_decay": 1e-2}, fake_race((0.35, 0.003), (0.345, 0.004))),
        "luck",
    ),
    "cosine worse": (
        raced({"weight_decay": 1e-2}, fake_race((0.33, 0.001), (0.35, 0.003))),
        "larger ω",
    ),
    "another key (η)": (raced({"lr": 1.0}, wins()), "cannot be changed"),
    "a negative ω": (raced({"weight_decay": -1.0}, wins()), "weight_decay must"),
    "fractional epochs": (raced({"epochs": 2.5}, wins()), "whole number"),
    "not a dict": (raced("weight_decay", wins()), "expected a dict"),
    "not a race": (raced({"weight_decay": 1e-2}, {"cosine": None}), "race_schedules(**design)"),
    "one seed": (raced({"weight_decay": 1e-2}, wins(), seeds=1), "3 seeds"),
}

test_design_right_passes_on_its_measured_race, test_design_mistakes_fail_with_their_hints = (
    answer_tests(
        checks.evaluate_schedule_design,
        "design",
        [measured({"weight_decay": 1e-2})],
        DESIGN_WRONG,
    )
)


# --- section 2: the finite-difference check -----------------------------------------------------


def test_finite_difference_error_is_a_v_with_its_bottom_below_1e8():
    net = network()
    idx = np.arange(64)
    coords = np.random.default_rng(0).choice(net.dim, size=40, replace=False)
    g = net.grad(net.x0, idx)[coords]
    error = {
        h: relative_error(g, numerical_gradient(lambda w: net.loss(w, idx), net.x0, coords, h))
        for h in (1e-1, 1e-3, 1e-5, 1e-6, 1e-8, 1e-12)
    }
    assert min(error[1e-5], error[1e-6]) < 1e-8  # "about nine digits"
    assert error[1e-1] > 1e-3 and error[1e-3] > 1e-7  # truncation: falls like h²
    assert error[1e-3] / error[1e-5] > 10 and error[1e-12] > 1e-5  # rounding: grows like 1/h
    assert relative_error(g, 1.01 * g) > 1e-3  # a gradient off by a percent is far above


# --- section 3: one run of SGD ------------------------------------------------------------------


def test_one_sgd_run_is_healthy_as_described():
    val = validation()
    run = train_minibatch(
        optimizers.gd,
        network(),
        epochs=10,
        batch_size=32,
        seed=0,
        lr=1.0,
        metrics={"val_acc": val.accuracy, "val_loss": val.loss},
    )
    assert run.losses[0] == pytest.approx(np.log(10), rel=0.15)  # near uniform guesses
    assert np.all(np.diff(np.log(run.losses)) < 0)  # falls at every epoch
    assert run.losses[-1] < 0.02 and run.metrics["val_acc"][1] > 0.9  # most right after one epoch
    assert np.all(run.metrics["val_loss"][1:] > run.losses[1:])  # validation above training
    # and flattens: its last five epochs change it by less than a fifth
    assert abs(run.metrics["val_loss"][-1] / run.metrics["val_loss"][5] - 1) < 0.2


# --- section 4: every optimiser, every η --------------------------------------------------------


@pytest.fixture(scope="module")
def full_sweep():
    return {name: sweep(name) for name in LOWEST_LR_EXPONENT}


def ratios(tuned):
    """(loss half a decade below the best η, half a decade above) ÷ the best loss."""
    i = tuned.best_index
    return tuned.mean[i - 1] / tuned.best_mean, tuned.mean[i + 1] / tuned.best_mean


def test_every_grid_is_placed_around_its_best_eta_and_nothing_diverges(full_sweep):
    assert not any(t.at_edge for t in full_sweep.values())
    assert sum(t.diverged for t in full_sweep.values()) == 0


def test_tuned_every_optimiser_ends_close_while_eta_spans_over_an_order(full_sweep):
    best = np.array([t.best_mean for t in full_sweep.values()])
    assert best.max() < 3 * best.min()  # "close together"
    assert all(t.mean.max() > 20 * t.best_mean for t in full_sweep.values())  # > tenfold
    accuracy = [final(t, "val_acc")[t.best_index].mean() for t in full_sweep.values()]
    assert min(accuracy) > 0.94


def test_gentle_below_the_best_eta_a_cliff_above(full_sweep):
    below, above = np.array([ratios(t) for t in full_sweep.values()]).T
    assert below.max() < 5 and np.median(below) < 3  # "rises gently"
    assert np.median(above) >= 8 and np.median(above) > 3 * np.median(below)  # "a cliff"
    steep = [name for name, t in full_sweep.items() if ratios(t)[1] >= 10]
    assert len(steep) >= 8  # "for most optimisers … tenfold or more"
    # Adagrad's growing sum and AdaMax's running maximum soften it
    for name in ("adagrad", "adamax"):
        assert ratios(full_sweep[name])[1] < 8 < np.median(above)


def test_adam_family_shares_one_best_eta_and_adamax_sits_higher(full_sweep):
    assert len({full_sweep[name].best_lr for name in ADAM_FAMILY}) == 1
    assert full_sweep["adamax"].best_lr > full_sweep["adam"].best_lr


@pytest.mark.parametrize("names", [("gd", "momentum", "adam", "adagrad", "adamax")])
def test_the_sweep_conclusions_hold_with_other_seeds(names):
    other = {name: sweep(name, (3, 4, 5)) for name in names}
    assert not any(t.at_edge or t.diverged for t in other.values())
    best = np.array([t.best_mean for t in other.values()])
    assert best.max() < 3 * best.min()
    assert ratios(other["gd"])[1] > 10 and ratios(other["momentum"])[1] > 10
    for name in ("adagrad", "adamax"):
        assert ratios(other[name])[1] < 8
    assert all(ratios(t)[0] < 5 for t in other.values())


# --- section 5: a lower loss is not a better model ----------------------------------------------


def test_accuracy_flattens_below_a_few_hundredths_of_loss(full_sweep):
    losses = np.concatenate([final(t).ravel() for t in full_sweep.values()])
    accuracy = np.concatenate([final(t, "val_acc").ravel() for t in full_sweep.values()])
    low, mid, high = losses < 0.01, (losses >= 0.01) & (losses < 0.03), losses >= 0.3
    assert low.sum() >= 10 and mid.sum() >= 10 and high.sum() >= 10
    standard_error = np.sqrt(0.97 * 0.03 / 359)
    assert abs(accuracy[low].mean() - accuracy[mid].mean()) < standard_error  # flat
    assert accuracy[low | mid].mean() - accuracy[high].mean() > 0.05  # but climbs before it
    assert 0.008 < standard_error < 0.01  # "about one point"


# --- section 7: when a schedule pays ------------------------------------------------------------


@pytest.mark.parametrize("seeds", [(0, 1, 2), (3, 4, 5)])
def test_without_a_penalty_cosine_ends_no_lower_than_the_tuned_constant(seeds):
    constant, cosine = race(seeds=seeds).values()
    assert cosine.best_mean > constant.best_mean - constant.best_sd
    assert not constant.at_edge and not cosine.at_edge


@pytest.mark.parametrize("seeds", [(0, 1, 2), (3, 4, 5)])
def test_with_a_penalty_cosine_wins_by_more_than_twice_the_spread(seeds):
    constant, cosine = race(weight_decay=1e-2, seeds=seeds).values()
    assert constant.best_mean - cosine.best_mean > 3 * max(constant.best_sd, cosine.best_sd)
    assert not constant.at_edge and not cosine.at_edge


def test_the_constant_rates_tuned_eta_falls_tenfold_with_the_penalty_cosines_stays():
    for seeds in ((0, 1, 2), (3, 4, 5)):
        plain, penalised = race(seeds=seeds), race(weight_decay=1e-2, seeds=seeds)
        assert plain["constant"].best_lr == pytest.approx(10 * penalised["constant"].best_lr)
        assert plain["cosine"].best_lr == penalised["cosine"].best_lr


def test_at_the_largest_eta_cosine_wins_in_both_races():
    for weight_decay in (0.0, 1e-2):
        constant, cosine = race(weight_decay).values()
        assert constant.mean[-1] > 5 * cosine.mean[-1]


@pytest.mark.parametrize("seeds", [(0, 1, 2), (3, 4, 5)])
def test_without_a_penalty_the_network_fits_every_training_image(seeds):
    fitted = lambda runs: [network().accuracy(r.xs[-1]) for r in runs]
    assert fitted(race(seeds=seeds)["cosine"].best_runs) == [1.0] * 3
    assert max(fitted(race(1e-2, seeds=seeds)["constant"].best_runs)) < 1.0


def test_the_penalty_leaves_far_more_gradient_noise_at_the_end():
    plain = [gradient_noise(r.xs[-1]) for r in race()["constant"].best_runs]
    penalised = [gradient_noise(r.xs[-1]) for r in race(1e-2)["constant"].best_runs]
    assert min(penalised) > 10 * max(plain)


# --- Going further: six schedules with momentum and a weak penalty -----------------------------


def test_six_schedules_with_momentum_and_a_weak_penalty():
    net = network(1e-3)
    U, peaks = 15 * 45, [0.03, 0.1, 0.3, 1.0]
    warm = functools.partial(schedules.linear_lr, lr=1.0, start_factor=0.01, total_iters=45)
    after = functools.partial(schedules.cosine_annealing_lr, lr=1.0, T_max=U - 45)
    shapes = {
        "constant": lambda t: 1.0,
        "step": functools.partial(schedules.step_lr, lr=1.0, step_size=U // 3, gamma=0.1),
        "exponential": functools.partial(schedules.exponential_lr, lr=1.0, gamma=0.01 ** (1 / U)),
        "cosine": functools.partial(schedules.cosine_annealing_lr, lr=1.0, T_max=U),
        "warm-up + cosine": functools.partial(
            schedules.sequential_lr, schedules=[warm, after], milestones=[45]
        ),
        "one-cycle": functools.partial(schedules.one_cycle_lr, max_lr=1.0, total_steps=U),
    }
    tuned = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, shape in shapes.items():
            factors = np.array([shape(t) for t in range(U)])
            tuned[label] = tune_lockstep(
                optimizers.sgd_momentum,
                net,
                peaks,
                label=label,
                shape=lambda t, f=factors: f[t],
                epochs=15,
                every_epoch=False,
                gamma=0.9,
            )
    at_03 = {k: t.mean[peaks.index(0.3)] for k, t in tuned.items()}
    for k in ("cosine", "warm-up + cosine", "one-cycle"):  # "well below" at the untuned η
        assert at_03[k] < 0.85 * at_03["constant"]
    assert all(t.best_lr == 0.1 for t in tuned.values())
    constant = tuned["constant"]
    for k, t in tuned.items():
        if k != "constant":
            assert t.best_mean - constant.best_mean > 2 * max(t.best_sd, constant.best_sd), k
