"""Lesson 03 (adaptive learning rates): the checks accept right Adagrad, RMSprop and Adadelta
steps (Exercises 3.1, 3.2, 3.4) and reject deliberately wrong ones (ε outside the root or
omitted, s averaged instead of summed, ρ and 1 − ρ swapped, ρ hard-coded, Adadelta's new u or
an early η, state not carried, sign error); PyTorch's ε-outside convention (3.6) is checked
against torch.optim's own runs (tests/test_references.py regenerates them); the prediction
(3.3), the diagnosis (3.5) and the design (3.7) are judged with a hint for each usual slip,
and the sweep (3.8) with its blow-up cases; and the lesson's claims, which its figures show
and its prose states without digits, hold section by section (λ-free iterates on a diagonal
quadratic, Adagrad's 1/√t against RMSprop's plateau, Adadelta's first step √(ε/(1−ρ)), the
floors of ε inside and outside the root, the rotated quadratic and the sparse features, the
good ranges of η)."""

import json
import pathlib

import nbformat
import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import (
    LeastSquares,
    Problem,
    Quadratic,
    checks,
    course_quadratic,
    optimizers,
    rosenbrock,
    run,
)
from course_lib.checks import (
    evaluate_function,
    evaluate_lr_sweep,
    evaluate_step,
    evaluate_torch_convention,
    lesson03,
)
from course_lib.checks.lesson03 import lr_sweep_cases
from course_lib.runners import run_stack

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSON = "03-adaptive-learning-rates.ipynb"


# --- right versions, written as a student might (own state keys, other arithmetic) ----


def adagrad_right(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    state["sum_g2"] = state.get("sum_g2", 0.0) + g**2
    return x - lr / np.sqrt(state["sum_g2"] + eps) * g


def rmsprop_right(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = rho * state.get("s", np.zeros_like(x)) + (1 - rho) * g**2
    return x - lr * g / np.sqrt(state["s"] + eps)


def adadelta_right(x, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    g = grad(x)
    s = rho * state.get("s", np.zeros_like(x)) + (1 - rho) * g**2
    u = state.get("u", np.zeros_like(x))
    delta = -np.sqrt(u + eps) / np.sqrt(s + eps) * g
    state["s"], state["u"] = s, rho * u + (1 - rho) * delta**2
    return x + lr * delta


# --- wrong versions: one usual mistake each -------------------------------------------


def adagrad_eps_outside(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    state["s"] = state.get("s", 0.0) + g * g
    return x - lr * g / (np.sqrt(state["s"]) + eps)


def adagrad_eps_omitted(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    state["s"] = state.get("s", 0.0) + g * g
    return x - lr * g / np.sqrt(state["s"])


def adagrad_s_averaged(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    state["t"] = state.get("t", 0) + 1
    state["sum"] = state.get("sum", 0.0) + g * g
    return x - lr * g / np.sqrt(state["sum"] / state["t"] + eps)


def adagrad_state_not_carried(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    s = g * g
    return x - lr * g / np.sqrt(s + eps)


def adagrad_sign_error(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    state["s"] = state.get("s", 0.0) + g * g
    return x + lr * g / np.sqrt(state["s"] + eps)


def rmsprop_eps_outside(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = rho * state.get("s", 0.0) + (1 - rho) * g * g
    return x - lr * g / (np.sqrt(state["s"]) + eps)


def rmsprop_eps_omitted(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = rho * state.get("s", 0.0) + (1 - rho) * g * g
    return x - lr * g / np.sqrt(state["s"])


def rmsprop_rho_swapped(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = (1 - rho) * state.get("s", 0.0) + rho * g * g
    return x - lr * g / np.sqrt(state["s"] + eps)


def rmsprop_rho_hard_coded(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = 0.99 * state.get("s", 0.0) + 0.01 * g * g
    return x - lr * g / np.sqrt(state["s"] + eps)


def rmsprop_rho_hard_coded_0_9(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = 0.9 * state.get("s", 0.0) + 0.1 * g * g
    return x - lr * g / np.sqrt(state["s"] + eps)


def rmsprop_summed_like_adagrad(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = state.get("s", 0.0) + g * g
    return x - lr * g / np.sqrt(state["s"] + eps)


def rmsprop_state_not_carried(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    s = (1 - rho) * g * g
    return x - lr * g / np.sqrt(s + eps)


def rmsprop_sign_error(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = rho * state.get("s", 0.0) + (1 - rho) * g * g
    return x + lr * g / np.sqrt(state["s"] + eps)


def _adadelta(
    x,
    grad,
    state,
    lr,
    rho,
    eps,
    *,
    new_u=False,
    lr_early=False,
    eps_s=None,
    eps_u=None,
    rho_s=None,
    rho_u=None,
    carry=True,
    sign=1.0,
    outside=False,
):
    """Adadelta with one mistake switched on; the defaults are the right rule."""
    eps_s = eps if eps_s is None else eps_s
    eps_u = eps if eps_u is None else eps_u
    rho_s = rho if rho_s is None else rho_s
    rho_u = rho if rho_u is None else rho_u
    if not carry:
        state = {}
    g = grad(x)
    s = rho_s * state.get("s", np.zeros_like(x)) + (1 - rho_s) * g * g
    u = state.get("u", np.zeros_like(x))
    if outside:
        delta = -(np.sqrt(u) + eps_u) / (np.sqrt(s) + eps_s) * g
    else:
        delta = -np.sqrt(u + eps_u) / np.sqrt(s + eps_s) * g
    if lr_early:
        delta = lr * delta
    u = rho_u * u + (1 - rho_u) * delta * delta
    if new_u:  # recomputes the step with the u it has just updated
        delta = -np.sqrt(u + eps_u) / np.sqrt(s + eps_s) * g
    state["s"], state["u"] = s, u
    return x + sign * (delta if lr_early else lr * delta)


def adadelta_mutant(name, **mistake):
    def step(x, grad, state, lr=1.0, rho=0.9, eps=1e-6):
        return _adadelta(x, grad, state, lr, rho, eps, **mistake)

    step.__name__ = step.__qualname__ = f"adadelta_{name}"
    return step


ADADELTA_WRONG = [
    adadelta_mutant("new_u", new_u=True),
    adadelta_mutant("lr_before_updating_u", lr_early=True),
    adadelta_mutant("eps_outside", outside=True),
    adadelta_mutant("eps_omitted_in_s", eps_s=0.0),
    adadelta_mutant("eps_omitted_in_u", eps_u=1e-30),
    adadelta_mutant("rho_hard_coded", rho_s=0.9, rho_u=0.9),
    adadelta_mutant("rho_wrong_for_u", rho_u=0.0),
    adadelta_mutant("state_not_carried", carry=False),
    adadelta_mutant("sign_error", sign=-1.0),
]


def adadelta_rho_swapped(x, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    return _adadelta(x, grad, state, lr, 1 - rho, eps)


ADADELTA_WRONG.append(adadelta_rho_swapped)

RIGHT = {"adagrad": adagrad_right, "rmsprop": rmsprop_right, "adadelta": adadelta_right}
WRONG = {
    "adagrad": [
        adagrad_eps_outside,
        adagrad_eps_omitted,
        adagrad_s_averaged,
        adagrad_state_not_carried,
        adagrad_sign_error,
    ],
    "rmsprop": [
        rmsprop_eps_outside,
        rmsprop_eps_omitted,
        rmsprop_rho_swapped,
        rmsprop_rho_hard_coded,
        rmsprop_rho_hard_coded_0_9,
        rmsprop_summed_like_adagrad,
        rmsprop_state_not_carried,
        rmsprop_sign_error,
    ],
    "adadelta": ADADELTA_WRONG,
}


def rmsprop_without_one_minus_rho(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = rho * state.get("s", 0.0) + g * g
    return x - lr * g / np.sqrt(state["s"] + eps)


def rmsprop_eps_outside_without_one_minus_rho(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = rho * state.get("s", 0.0) + g * g
    return x - lr * g / (np.sqrt(state["s"]) + eps)


def adagrad_in_place(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    state["s"] = state.get("s", 0.0) + g * g
    x -= lr * g / np.sqrt(state["s"] + eps)
    return x


def adagrad_two_coordinates(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    s = state["s"] = state.get("s", 0.0) + g * g
    return np.array([x[i] - lr * g[i] / np.sqrt(s[i] + eps) for i in (0, 1)])


WRONG["adagrad"] += [adagrad_in_place, adagrad_two_coordinates]
WRONG["rmsprop"].append(rmsprop_without_one_minus_rho)

# Words the hint for each wrong version's mistake must contain.
ONE_MINUS_RHO = "(1 − ρ) is missing"
STATE_LOST = "nothing is carried from one call to the next"
HINTS = {
    "adagrad_eps_outside": "in this course ε goes inside the root",
    "adagrad_eps_omitted": "ε is missing",
    "adagrad_s_averaged": "not their average",
    "adagrad_state_not_carried": STATE_LOST,
    "adagrad_sign_error": "wrong sign",
    "adagrad_in_place": "leave x as it is",
    "adagrad_two_coordinates": "x has shape (3, 2) in this case",
    "rmsprop_eps_outside": "in this course ε goes inside the root",
    "rmsprop_eps_omitted": "ε is missing",
    "rmsprop_rho_swapped": "ρ and 1 − ρ are swapped",
    "rmsprop_rho_hard_coded": "ρ = 0.9 in this case: use the argument rho, not a fixed 0.99",
    "rmsprop_rho_hard_coded_0_9": "ρ = 0.5 in this case: use the argument rho, not a fixed 0.9",
    "rmsprop_summed_like_adagrad": "that is Adagrad's sum",
    "rmsprop_state_not_carried": STATE_LOST,
    "rmsprop_sign_error": "wrong sign",
    "rmsprop_without_one_minus_rho": ONE_MINUS_RHO,
    "adadelta_new_u": "Δx is computed with the new u",
    "adadelta_lr_before_updating_u": "η scales Δx only when it is applied",
    "adadelta_eps_outside": "ε goes inside both roots",
    "adadelta_eps_omitted_in_s": "ε is missing from √(s + ε)",
    "adadelta_eps_omitted_in_u": "ε is missing from √(u + ε)",
    "adadelta_rho_hard_coded": "ρ = 0.8 in this case: use the argument rho, not a fixed 0.9",
    "adadelta_rho_wrong_for_u": "u is a moving average too",
    "adadelta_state_not_carried": STATE_LOST,
    "adadelta_sign_error": "wrong sign",
    "adadelta_rho_swapped": "ρ and 1 − ρ are swapped",
}


def _torch_form(name, s_rule, carry=True):
    """A PyTorch-convention step (ε outside the root) with one slip in s."""

    def step(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
        g = grad(x)
        s, t = (state.get("s", 0.0), state.get("t", 0) + 1) if carry else (0.0, 1)
        s = {
            "averaged": s + g * g,
            "swapped": (1 - rho) * s + rho * g * g,
            "summed": s + g * g,
            "no 1 − ρ": rho * s + g * g,
            "right": (s + g * g) if name.startswith("adagrad") else rho * s + (1 - rho) * g * g,
        }[s_rule]
        state["s"], state["t"] = s, t
        return x - lr * g / (np.sqrt(s / t if s_rule == "averaged" else s) + eps)

    step.__name__ = step.__qualname__ = name
    return step


# PyTorch's convention (Exercise 3.4): the same slips in its form, and ε inside the root
TORCH_WRONG = {
    "adagrad": {
        "ε inside the root": (optimizers.adagrad, "PyTorch puts ε outside the root"),
        "ε omitted": (adagrad_eps_omitted, "ε is missing"),
        "s averaged": (_torch_form("adagrad_eps_outside", "averaged"), "not their average"),
        "state not carried": (
            _torch_form("adagrad_eps_outside", "right", carry=False),
            STATE_LOST,
        ),
    },
    "rmsprop": {
        "ε inside the root": (optimizers.rmsprop, "PyTorch puts ε outside the root"),
        "ε omitted": (rmsprop_eps_omitted, "ε is missing"),
        "ρ and 1 − ρ swapped": (
            _torch_form("rmsprop_eps_outside", "swapped"),
            "ρ and 1 − ρ are swapped",
        ),
        "summed like Adagrad": (
            _torch_form("rmsprop_eps_outside", "summed"),
            "that is Adagrad's sum",
        ),
        "(1 − ρ) missing": (rmsprop_eps_outside_without_one_minus_rho, ONE_MINUS_RHO),
    },
}

# --- Exercise 3.5: a learning-rate sweep, all runs at once ---------------------------


def lr_sweep(step, problem, lrs, steps, **hp):
    lrs = np.asarray(lrs, dtype=float)
    x, state = np.tile(problem.x0, (len(lrs), 1)), {}
    with np.errstate(all="ignore"):
        for _ in range(steps):
            x = step(x, problem.grad, state, lr=lrs[:, None], **hp)
        gap = problem.f(x) - problem.f_star
    return np.where(np.isfinite(gap), gap, np.inf)


def sweep_row_lr(step, problem, lrs, steps, **hp):
    x, state = np.tile(problem.x0, (len(lrs), 1)), {}
    with np.errstate(all="ignore"):
        for _ in range(steps):
            x = step(x, problem.grad, state, lr=np.asarray(lrs), **hp)
        gap = problem.f(x) - problem.f_star
    return np.where(np.isfinite(gap), gap, np.inf)


def sweep_f_only(step, problem, lrs, steps, **hp):
    return lr_sweep(step, problem, lrs, steps, **hp) + problem.f_star


def sweep_keeps_nan(step, problem, lrs, steps, **hp):
    lrs = np.asarray(lrs, dtype=float)
    x, state = np.tile(problem.x0, (len(lrs), 1)), {}
    with np.errstate(all="ignore"):
        for _ in range(steps):
            x = step(x, problem.grad, state, lr=lrs[:, None], **hp)
        return problem.f(x) - problem.f_star


def sweep_short(step, problem, lrs, steps, **hp):
    return lr_sweep(step, problem, lrs, steps - 1, **hp)


def sweep_shared_state(step, problem, lrs, steps, **hp):
    out, state = [], {}
    for lr in lrs:
        x = problem.x0.copy()
        with np.errstate(all="ignore"):
            for _ in range(steps):
                x = step(x, problem.grad, state, lr=lr, **hp)
            g = problem.f(x) - problem.f_star
        out.append(g if np.isfinite(g) else np.inf)
    return np.array(out)


def sweep_no_hp(step, problem, lrs, steps, **hp):
    return lr_sweep(step, problem, lrs, steps)


def _final_gaps(step, problem, lrs, steps, **hp):
    lrs = np.asarray(lrs, dtype=float)
    x, state = np.tile(problem.x0, (len(lrs), 1)), {}
    with np.errstate(all="ignore"):
        for _ in range(steps):
            x = step(x, problem.grad, state, lr=lrs[:, None], **hp)
        return problem.f(x) - problem.f_star


def sweep_nan_to_num(step, problem, lrs, steps, **hp):
    """Turns nan into inf, but (numpy's default posinf) inf into 1.8e308."""
    return np.nan_to_num(_final_gaps(step, problem, lrs, steps, **hp), nan=np.inf)


def sweep_capped(step, problem, lrs, steps, **hp):
    """Calls every large result a blow-up."""
    gap = _final_gaps(step, problem, lrs, steps, **hp)
    return np.where(np.isfinite(gap) & (gap < 1e100), gap, np.inf)


def sweep_never_ends(step, problem, lrs, steps, **hp):
    x, state, done = np.tile(problem.x0, (len(lrs), 1)), {}, 0
    while done != steps:  # counts by 3: misses `steps`
        x = step(x, problem.grad, state, lr=np.asarray(lrs)[:, None], **hp)
        done += 3
    return problem.f(x) - problem.f_star


EXERCISES = {
    rule: Exercise(
        evaluate_step,
        right=[RIGHT[rule]],
        wrong={f.__name__: (f, HINTS[f.__name__]) for f in WRONG[rule]},
        args=(rule,),
    )
    for rule in RIGHT
} | {
    # PyTorch's own convention (references_adaptive.json, from torch.optim)
    f"{rule}_eps_outside": Exercise(
        evaluate_torch_convention,
        right=[outside],
        wrong=TORCH_WRONG[rule],
        args=(f"{rule}_eps_outside",),
    )
    for rule, outside in [("adagrad", adagrad_eps_outside), ("rmsprop", rmsprop_eps_outside)]
}

EXERCISES["lr sweep"] = Exercise(
    evaluate_lr_sweep,
    right=[lr_sweep],
    wrong={
        "η a row, not a column": (sweep_row_lr, "pass lr as a column"),
        "f, not f − f*": (sweep_f_only, "subtract problem.f_star"),
        "nan kept": (sweep_keeps_nan, "report it as np.inf"),
        "one step short": (sweep_short, "one step short"),
        "one state for every η": (sweep_shared_state, "each run needs its own state"),
        "hyperparameters dropped": (sweep_no_hp, "pass the hyperparameters on"),
        "inf turned into the largest float": (sweep_nan_to_num, "not the largest float"),
        "a large finite result reported as inf": (sweep_capped, "reported as it is"),
        "a loop that never ends": (sweep_never_ends, "did not stop: it called step()"),
    },
)

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_a_row_of_rates_that_cannot_broadcast_is_told_to_make_it_a_column():
    # from the second sweep on there are 4 η for 2 coordinates: a row of η cannot broadcast
    text = str(evaluate_function(sweep_row_lr, lr_sweep_cases()[1:]))
    assert "raised ValueError" in text and "a broadcasting error: pass lr as a column" in text


def test_the_sweeps_end_at_every_kind_of_blow_up():
    # a run that ends finite but huge, one whose f overflowed with x finite (inf), one at
    # nan: a sweep must keep the first, and report the other two as np.inf
    _, problem, lrs, steps = lr_sweep_cases()[2].args
    gaps = []
    for lr in lrs:
        x = problem.x0.copy()
        with np.errstate(all="ignore"):
            for _ in range(steps):
                x = x - lr * problem.grad(x)
            gaps.append((problem.f(x) - problem.f_star, np.isfinite(x).all()))
    (small, _), (huge, _), (overflowed, x_finite), (blown, _) = gaps
    assert small < 1e-3 and 1e100 < huge < np.inf
    assert overflowed == np.inf and x_finite and np.isnan(blown)


def test_solution_answers_pass_their_checks():
    namespace = solution_functions(LESSON)
    for rule in RIGHT:
        assert evaluate_step(namespace[rule], rule), rule
    for rule in ("adagrad_eps_outside", "rmsprop_eps_outside"):
        assert evaluate_torch_convention(namespace[rule], rule), rule
    assert evaluate_lr_sweep(namespace["lr_sweep"])
    assert checks.evaluate_step_ratio(namespace["step_ratio"])
    assert checks.evaluate_adaptive_diagnosis(namespace["diagnosis"])
    assert checks.evaluate_eps_rescaled(namespace["eps_for_small_f"])


# --- the lesson's claims ---------------------------------------------------------------


@pytest.mark.parametrize(
    "step, hp",
    [
        (optimizers.adagrad, dict(lr=1.0, eps=0.0)),
        (optimizers.rmsprop, dict(lr=0.1, rho=0.9, eps=0.0)),
        (optimizers.adadelta, dict(rho=0.9, eps=1e-6)),
    ],
)
def test_adaptive_iterates_do_not_depend_on_the_curvatures(step, hp):
    """On ½Σλ_i x_i², g_i/√s_i is λ-free: the course quadratic and x1² + x2² give one path
    (Adadelta's ε in s breaks it only at gradients ~√ε)."""
    other = Quadratic(np.diag([2.0, 2.0]), x0=course_quadratic.x0)
    a, b = run(step, course_quadratic, steps=30, **hp), run(step, other, steps=30, **hp)
    np.testing.assert_allclose(a.xs, b.xs, rtol=1e-5, atol=1e-9)
    gd_a = run(optimizers.gd, course_quadratic, steps=5, lr=0.1)
    gd_b = run(optimizers.gd, other, steps=5, lr=0.1)
    assert not np.allclose(gd_a.xs, gd_b.xs)  # GD's path does depend on them


def test_adadelta_first_step_is_sqrt_eps_over_one_minus_rho():
    for eps in (1e-6, 1e-4):
        x1 = optimizers.adadelta(course_quadratic.x0, course_quadratic.grad, {}, eps=eps)
        g = course_quadratic.grad(course_quadratic.x0)
        np.testing.assert_allclose(
            np.abs(x1 - course_quadratic.x0), np.sqrt(eps) * np.abs(g) / np.sqrt(0.1 * g * g + eps)
        )
        np.testing.assert_allclose(np.abs(x1 - course_quadratic.x0), np.sqrt(eps / 0.1), rtol=1e-3)


# --- Exercise 3.3 (predict): the step after many equal gradients --------------------------------

RATIOS_RIGHT = [
    {"Adagrad, t = 100": 0.1, "Adagrad, t = 10000": 0.01, "RMSprop, t = 10000": 0.1},
    {
        "Adagrad, t = 100": 1 / np.sqrt(100),
        "Adagrad, t = 10000": 0.0105,
        "RMSprop, t = 10000": 0.095,
    },
]
RATIOS_WRONG = {
    "Adagrad like 1/t": (
        {"Adagrad, t = 100": 0.01, "Adagrad, t = 10000": 1e-4, "RMSprop, t = 10000": 0.1},
        "that is 1/t",
    ),
    "Adagrad does not shrink": (
        {"Adagrad, t = 100": 1.0, "Adagrad, t = 10000": 1.0, "RMSprop, t = 10000": 0.1},
        "Adagrad's s is a sum",
    ),
    "RMSprop's first step taken for its settled one": (
        {"Adagrad, t = 100": 0.1, "Adagrad, t = 10000": 0.01, "RMSprop, t = 10000": 1.0},
        "RMSprop's average starts at zero",
    ),
    "RMSprop shrinking like Adagrad": (
        {"Adagrad, t = 100": 0.1, "Adagrad, t = 10000": 0.01, "RMSprop, t = 10000": 0.01},
        "that is Adagrad's 1/√t",
    ),
    "a key missing": ({"Adagrad, t = 100": 0.1, "RMSprop, t = 10000": 0.1}, "expected a dict"),
}


test_step_ratio_prediction_right_passes, test_step_ratio_mistake_fails_with_its_hint = answer_tests(
    checks.evaluate_step_ratio, "step_ratio", RATIOS_RIGHT, RATIOS_WRONG
)


def test_the_predicted_ratios_are_what_the_student_rules_do_on_the_long_slope():
    # The check measures on a constant gradient; the lesson's figure runs the long slope, whose
    # gradient is nearly constant far up: its step sizes give the same ratios within 1 %.
    measured = lesson03.measured_step_ratios()
    assert measured["Adagrad, t = 100"] == pytest.approx(0.1, rel=1e-6)
    assert measured["Adagrad, t = 10000"] == pytest.approx(0.01, rel=1e-6)
    assert measured["RMSprop, t = 10000"] == pytest.approx(0.1, rel=1e-4)
    runs = _slope_runs()
    for name, t in (("Adagrad", 100), ("RMSprop", 1000)):
        size = _step_sizes(runs[name], SLOPE)
        ratio = size[t - 1] / size[0]
        assert ratio == pytest.approx(
            np.full(2, 1 / np.sqrt(t) if name == "Adagrad" else 0.1), rel=0.01
        )


# --- Exercise 3.5 (diagnose): which rule made which run -----------------------------------------

DIAGNOSIS_RIGHT = [
    {"A": "RMSprop", "B": "gradient descent", "C": "Adagrad", "D": "Adadelta"},
    {"A": "rmsprop", "B": "GD", "C": " Adagrad ", "D": "ADADELTA"},
]
DIAGNOSIS_WRONG = {
    "Adagrad and RMSprop swapped": (
        {"A": "Adagrad", "B": "gradient descent", "C": "RMSprop", "D": "Adadelta"},
        "level off after a few hundred steps",
    ),
    "Adadelta and GD swapped": (
        {"A": "RMSprop", "B": "Adadelta", "C": "Adagrad", "D": "gradient descent"},
        "the same in both coordinates and never changes",
    ),
    "a rule not in the list": (
        {"A": "Adam", "B": "gradient descent", "C": "Adagrad", "D": "Adadelta"},
        "is not one of",
    ),
    "a run left out": (
        {"A": "RMSprop", "B": "gradient descent", "C": "Adagrad"},
        "expected a dict",
    ),
}


test_adaptive_diagnosis_right_passes, test_adaptive_diagnosis_mistake_fails_with_its_hint = (
    answer_tests(checks.evaluate_adaptive_diagnosis, "diagnosis", DIAGNOSIS_RIGHT, DIAGNOSIS_WRONG)
)


def test_mystery_runs_show_the_signatures_the_hints_describe():
    sizes = checks.adaptive_mystery_runs()
    rule = dict(lesson03._MYSTERY)
    by_rule = {rule[k]: v for k, v in sizes.items()}
    t = np.arange(1, 1001)[:, None]
    # Adagrad: a straight line of slope −½ on the log-log plot, from the first step
    np.testing.assert_allclose(
        by_rule["Adagrad"] * np.sqrt(t), by_rule["Adagrad"][[0] * 1000], rtol=0.01
    )
    # RMSprop: starts ten times its plateau, and levels off there within 1 %
    rms = by_rule["RMSprop"]
    np.testing.assert_allclose(rms[0] / rms[-1], 10, rtol=0.01)
    np.testing.assert_allclose(rms[-100:] / rms[-1], np.ones((100, 2)), rtol=0.01)
    # Adadelta: starts at √(ε/(1 − ρ)) per unit of gradient (over c), and grows more than 3×
    delta = by_rule["Adadelta"]
    np.testing.assert_allclose(delta[0] * np.array([1.0, 10.0]), np.sqrt(1e-6 / 0.1), rtol=1e-3)
    assert np.all(delta[-1] > 3 * delta[0]) and np.all(np.diff(delta[10:], axis=0) > 0)
    # gradient descent: one constant step size, the same in both coordinates
    np.testing.assert_allclose(by_rule["gradient descent"], 0.05, rtol=1e-9)
    # and every adaptive run scales its coordinates apart by the curvature ratio, 10
    for name in ("Adagrad", "RMSprop", "Adadelta"):
        np.testing.assert_allclose(by_rule[name][:, 0] / by_rule[name][:, 1], 10, rtol=0.01)


# --- Exercise 3.7 (design): the same run in other units -----------------------------------------

EPS_RIGHT = [{"inside": 0.01 * 1e-12, "outside": 0.1 * 1e-6}, {"inside": 1e-14, "outside": 1e-7}]
EPS_WRONG = {
    "inside scaled like g": ({"inside": 1e-8, "outside": 1e-7}, "which scales like g²"),
    "outside scaled like g²": ({"inside": 1e-14, "outside": 1e-13}, "not its square"),
    "unchanged": ({"inside": 0.01, "outside": 0.1}, "unchanged"),
    "close, not exact": ({"inside": 1.002e-14, "outside": 1e-7}, "close, but not exact"),
    "far too small": ({"inside": 1e-20, "outside": 1e-7}, "too small"),
    "not a number": ({"inside": "1e-14", "outside": None}, "is not a number"),
    "a list": ([1e-14, 1e-7], "expected a dict"),
}


test_eps_design_right_passes, test_eps_design_mistake_fails_with_its_hint = answer_tests(
    checks.evaluate_eps_rescaled, "eps_for_small_f", EPS_RIGHT, EPS_WRONG
)


def test_rescaled_eps_gives_the_same_run_as_the_course_and_torch_forms_compute_it():
    # The check's runs use the course's rmsprop and its own ε-outside form; the student's forms
    # (the solution's, checked against torch) give the same paths.
    right = lesson03.rescaled_eps()
    for form, step in (("inside", optimizers.rmsprop), ("outside", RMSPROP_OUTSIDE)):
        small = Quadratic(1e-6 * course_quadratic.A, x0=course_quadratic.x0)
        a = run(step, course_quadratic, steps=50, lr=0.1, rho=0.9, eps=lesson03._TUNED[form])
        b = run(step, small, steps=50, lr=0.1, rho=0.9, eps=right[form])
        np.testing.assert_allclose(b.xs, a.xs, rtol=1e-9, atol=1e-12)
        c = run(step, small, steps=50, lr=0.1, rho=0.9, eps=lesson03._TUNED[form])
        assert np.abs(c.xs - a.xs).max() > 0.1  # the ε tuned for f does not give it


def RMSPROP_OUTSIDE(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    g = grad(x)
    state["s"] = rho * state.get("s", np.zeros_like(x)) + (1 - rho) * g * g
    return x - lr * g / (np.sqrt(state["s"]) + eps)


def ADAGRAD_OUTSIDE(x, grad, state, lr=0.01, eps=1e-10):
    g = grad(x)
    state["s"] = state.get("s", np.zeros_like(x)) + g * g
    return x - lr * g / (np.sqrt(state["s"]) + eps)


# --- the lesson's claims, now in figures: section by section --------------------------------------

C_SLOPE = np.array([0.2, 4.0])
SLOPE = Problem(
    "long slope",
    f=lambda x: np.sum(C_SLOPE * (np.sqrt(1 + x**2) - 1), axis=-1),
    grad=lambda x: C_SLOPE * x / np.sqrt(1 + x**2),
    hess=None,
    minima=[(0.0, 0.0)],
    x0=(-1500.0, -1500.0),
    window=((-1600, 100), (-1600, 100)),
)


def _slope_runs():
    return {
        "Adagrad": run(optimizers.adagrad, SLOPE, steps=1000, lr=0.5),
        "RMSprop": run(optimizers.rmsprop, SLOPE, steps=1000, lr=0.5, rho=0.99),
    }


def _step_sizes(r, problem):
    return (r.xs[:-1] - r.xs[1:]) / problem.grad(r.xs[:-1])


def test_section2_adagrad_shrinks_like_one_over_root_t_rmsprop_levels_off():
    runs, t = _slope_runs(), np.arange(1, 1001)[:, None]
    ada, rms = (_step_sizes(runs[k], SLOPE) for k in ("Adagrad", "RMSprop"))
    np.testing.assert_allclose(ada, 0.5 / (C_SLOPE * np.sqrt(t)), rtol=1e-4)  # the dotted line
    travelled = np.abs(runs["Adagrad"].xs[-1] - SLOPE.x0)
    np.testing.assert_allclose(travelled, 2 * 0.5 * np.sqrt(1000), rtol=0.05)  # about 2η√t
    np.testing.assert_allclose(rms[0], 10 * 0.5 / C_SLOPE, rtol=1e-3)  # ten times higher at first
    np.testing.assert_allclose(rms[-1], 0.5 / C_SLOPE, rtol=1e-3)  # levels off at η/c_i
    assert np.all(np.abs(runs["RMSprop"].xs[-1] - SLOPE.x0) > 500)  # about η per step
    assert runs["RMSprop"].gap[-1] < runs["Adagrad"].gap[-1] - 1000


def test_section3_adadelta_starts_slowly_and_a_larger_eps_starts_faster():
    gaps = {
        e: run(optimizers.adadelta, course_quadratic, steps=1000, eps=e).gap
        for e in (1e-6, 1e-4, 1e-2)
    }
    assert gaps[1e-6][100] > 1 and gaps[1e-6][300] > 1  # hundreds of steps with the default ε
    assert gaps[1e-2][100] < 1e-10 < gaps[1e-4][100] < 1 < gaps[1e-6][100]
    # the loss rises again once x2 has converged: η λ2 = 4 > 2
    assert gaps[1e-2][1000] > 1e10 * gaps[1e-2].min() and gaps[1e-4][1000] > 100 * gaps[1e-4].min()


def test_section4_tiny_gradients_eps_outside_adapts_inside_does_not():
    tiny = Quadratic(1e-6 * course_quadratic.A, x0=course_quadratic.x0)
    ratio, path = {}, {}
    for name, step, hp, rule in [
        ("Adagrad inside", optimizers.adagrad, dict(lr=1.0, eps=1e-10), optimizers.adagrad),
        ("Adagrad outside", ADAGRAD_OUTSIDE, dict(lr=1.0, eps=1e-10), optimizers.adagrad),
        (
            "RMSprop inside",
            optimizers.rmsprop,
            dict(lr=0.1, rho=0.99, eps=1e-8),
            optimizers.rmsprop,
        ),
        ("RMSprop outside", RMSPROP_OUTSIDE, dict(lr=0.1, rho=0.99, eps=1e-8), optimizers.rmsprop),
    ]:
        r = run(step, tiny, steps=100, **hp)
        original = run(rule, course_quadratic, steps=100, **{**hp, "eps": 0.0})
        ratio[name], path[name] = r.gap[-1] / r.gap[0], np.abs(r.xs - original.xs).max()
    assert ratio["RMSprop inside"] > 0.3  # hardly moves
    assert 1e-4 < ratio["Adagrad inside"] < 0.1  # slowed down
    assert ratio["Adagrad outside"] < 1e-9 and ratio["RMSprop outside"] < 1e-9
    assert (
        path["Adagrad outside"] < 1e-3 and path["RMSprop outside"] < 0.3
    )  # nearly the original path
    assert path["Adagrad inside"] > 1 and path["RMSprop inside"] > 1


TURN = np.array([[1.0, -1.0], [1.0, 1.0]]) / np.sqrt(2)
ROTATED = Quadratic(TURN @ course_quadratic.A @ TURN.T, x0=TURN @ course_quadratic.x0)
LR_GRID = np.geomspace(1e-3, 10, 41)
ROT_METHODS = {
    "GD": (optimizers.gd, {}),
    "Adagrad": (optimizers.adagrad, dict(eps=1e-10)),
    "RMSprop": (optimizers.rmsprop, dict(rho=0.99, eps=1e-8)),
}


def _best_on_grid(step, problem, **hp):
    gaps = np.array([r.gap[-1] for r in run_stack(step, problem, steps=100, lr=LR_GRID, **hp)])
    gaps[~np.isfinite(gaps)] = np.inf
    return gaps.min()


def test_section5_a_rotation_takes_the_adaptive_methods_edge_away():
    best = {}
    for label, p in (("aligned", course_quadratic), ("rotated", ROTATED)):
        for name, (step, hp) in ROT_METHODS.items():
            best[label, name] = _best_on_grid(step, p, **hp)
    # aligned: about a hundred orders of magnitude below gradient descent
    assert best["aligned", "GD"] > 1e-8
    assert max(best["aligned", "Adagrad"], best["aligned", "RMSprop"]) < 1e-90
    # rotated: no edge left; gradient descent does not notice the rotation
    assert min(best["rotated", "Adagrad"], best["rotated", "RMSprop"]) > 0.1 * best["rotated", "GD"]
    assert best["rotated", "GD"] == pytest.approx(best["aligned", "GD"], rel=1e-6)
    # Adagrad's step sizes at step 10: a ratio near 5 aligned, under 2 rotated (20 needed)
    ratios = []
    for p in (course_quadratic, ROTATED):
        r = run(optimizers.adagrad, p, steps=100, lr=1.0)
        size = np.abs(_step_sizes(r, p))[9]
        ratios.append(size.max() / size.min())
    assert 4 < ratios[0] < 6 and ratios[1] < 2


def _sparse_problem():
    rng = np.random.default_rng(0)
    n, d = 2000, 30
    X = (rng.uniform(size=(n, d)) < np.geomspace(0.5, 0.003, d)).astype(float)
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return LeastSquares(X, y)


def _sparse_results(seeds, epochs=(1, 10), batch=20):
    """Each method's best η (mean over seeds) on the lesson's grid: {(method, epoch): (gaps, rare)}."""
    problem, lr_grid = _sparse_problem(), np.geomspace(1e-3, 10, 13)
    n, d = problem.X.shape
    out = {}
    for name, step, hp in [
        ("SGD", optimizers.gd, {}),
        ("momentum", optimizers.momentum, dict(gamma=0.9)),
        ("Adagrad", optimizers.adagrad, dict(eps=1e-10)),
        ("RMSprop", optimizers.rmsprop, dict(rho=0.99, eps=1e-8)),
    ]:
        lrs = np.repeat(lr_grid, len(seeds))[:, None]
        rngs = [np.random.default_rng(s) for s in list(seeds) * len(lr_grid)]
        W, state = np.zeros((len(lrs), d)), {}
        for epoch in range(1, max(epochs) + 1):
            order = np.array([r.permutation(n) for r in rngs])
            for start in range(0, n, batch):
                Xb, yb = (
                    problem.X[order[:, start : start + batch]],
                    problem.y[order[:, start : start + batch]],
                )
                grad = lambda W: (
                    np.einsum("rbd,rb->rd", Xb, np.einsum("rbd,rd->rb", Xb, W) - yb) / batch
                )
                with np.errstate(all="ignore"):
                    W = step(W, grad, state, lr=lrs, **hp)
            if epoch in epochs:
                with np.errstate(all="ignore"):
                    e = W - problem.minima[0]
                    gap = 0.5 * np.einsum("rd,de,re->r", e, problem.A, e).reshape(len(lr_grid), -1)
                    rare = np.sqrt(np.mean(e[:, d // 2 :] ** 2, axis=1)).reshape(len(lr_grid), -1)
                gap = np.where(np.isfinite(gap), gap, np.inf)
                b = np.argmin(gap.mean(axis=1))
                out[name, epoch] = (gap[b], rare[b])
    return out


@pytest.mark.parametrize(
    "seeds", [(0, 1, 2), (3, 4, 5, 6, 7)], ids=["the lesson's seeds", "five others"]
)
def test_section5_sparse_features_adagrad_first_after_one_pass_the_others_catch_up(seeds):
    res = _sparse_results(seeds)
    mean = {k: v[0].mean() for k, v in res.items()}
    rare = {k: v[1].mean() for k, v in res.items()}
    others = ("SGD", "momentum", "RMSprop")
    assert mean["Adagrad", 1] < 0.7 * min(mean[m, 1] for m in others)  # lowest after one pass
    assert mean["Adagrad", 1] < 0.25 * mean["SGD", 1]
    assert rare["Adagrad", 1] < 0.2 < 0.7 < rare["SGD", 1]  # the rare weights learnt
    # ten epochs: momentum at least level with Adagrad, SGD within a few times, rare weights learnt
    assert (
        mean["momentum", 10] < 1.3 * mean["Adagrad", 10]
        and mean["SGD", 10] < 5 * mean["Adagrad", 10]
    )
    assert max(rare[m, 10] for m in ("SGD", "momentum", "Adagrad", "RMSprop")) < 0.1


def _sweep(step, problem, lrs, steps, **hp):
    gaps = np.array([r.gap[-1] for r in run_stack(step, problem, steps=steps, lr=lrs, **hp)])
    return np.where(np.isfinite(gaps), gaps, np.inf)


def test_section6_good_ranges_of_eta_wide_for_adaptive_methods_on_the_aligned_quadratic():
    lrs = np.geomspace(1e-4, 10, 51)
    span = {}
    for p, steps, good in ((course_quadratic, 100, 1e-4), (rosenbrock, 2000, 1e-2)):
        for name, step, hp in [
            ("GD", optimizers.gd, {}),
            ("momentum", optimizers.momentum, dict(gamma=0.9)),
            ("Adagrad", optimizers.adagrad, dict(eps=1e-10)),
            ("RMSprop", optimizers.rmsprop, dict(rho=0.99, eps=1e-8)),
        ]:
            ok = lrs[_sweep(step, p, lrs, steps, **hp) < good]
            span[p.name, name] = ok.max() / ok.min() if ok.size else 0.0
        if p is course_quadratic:
            gd = _sweep(optimizers.gd, p, lrs, steps)
            assert np.all(gd[lrs > 0.52] > 1e6)  # diverges past 2/λ_max
    q, r = course_quadratic.name, rosenbrock.name
    assert span[q, "GD"] < 3 and span[q, "Adagrad"] > 10 and span[q, "RMSprop"] > 100
    assert span[q, "momentum"] > 5
    # Rosenbrock: momentum's range the widest, RMSprop's narrow, Adagrad none
    assert span[r, "momentum"] > max(span[r, "GD"], span[r, "RMSprop"], span[r, "Adagrad"])
    assert 0 < span[r, "RMSprop"] < 3 and span[r, "Adagrad"] == 0.0


# --- the generated exercise notebook -----------------------------------------------------


def test_exercise_notebook_hides_every_solution():
    path = ROOT / "notebooks" / LESSON
    if not path.exists():
        pytest.skip("exercises not generated yet: python tools/build.py exercises")
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    text = json.dumps([c.source for c in nb.cells])
    titles = (
        "Adagrad",
        "RMSprop",
        "the step after many equal gradients",
        "Adadelta",
        "which rule made which run?",
        "PyTorch's ε, outside the root",
        "the same run in other units",
        "a learning-rate sweep, all runs at once",
    )
    for k, title in enumerate(titles, 1):
        assert f'NotImplementedError("Exercise 3.{k}: {title}")' in code
    assert "BEGIN SOLUTION" not in text and "NBVAL" not in text
    assert "np.sqrt(s + eps)" not in code
    for answer in ("step_ratio = {", "diagnosis = {", "eps_for_small_f = {"):
        assert answer not in code.replace(f"# {answer}", "")  # only its form, as a comment
