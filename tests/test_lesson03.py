"""Lesson 03 (adaptive learning rates): the checks accept right Adagrad, RMSprop and Adadelta
steps and reject deliberately wrong ones (ε outside the root or omitted, s averaged instead
of summed, ρ and 1 − ρ swapped, ρ hard-coded, Adadelta's new u or an early η, state not
carried, sign error); PyTorch's ε-outside convention is checked against torch.optim's own
runs (tests/test_references.py regenerates them); and the lesson's claims hold (λ-free
iterates on a diagonal quadratic, Adadelta's first step √(ε/(1−ρ)))."""

import json
import pathlib

import nbformat
import numpy as np
import pytest
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import Quadratic, course_quadratic, optimizers, run
from course_lib.checks import (
    evaluate_function,
    evaluate_lr_sweep,
    evaluate_step,
    evaluate_torch_convention,
)
from course_lib.checks.lesson03 import lr_sweep_cases

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
    "adadelta_new_u": "Δ is computed with the new u",
    "adadelta_lr_before_updating_u": "η scales Δ only when it is applied",
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


# --- the generated exercise notebook -----------------------------------------------------


def test_exercise_notebook_hides_every_solution():
    path = ROOT / "notebooks" / LESSON
    if not path.exists():
        pytest.skip("exercises not generated yet: python tools/build.py exercises")
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    text = json.dumps([c.source for c in nb.cells])
    for k, title in ((1, "Adagrad"), (2, "RMSprop"), (3, "Adadelta")):
        assert f'NotImplementedError("Exercise 3.{k}: {title}' in code
    assert "BEGIN SOLUTION" not in text and "NBVAL" not in text
    assert "np.sqrt(s + eps)" not in code
