"""Lesson 04 (the Adam family): the checks accept the right step functions and reject
deliberately wrong ones, each of a usual mistake (missing or off-by-one bias correction,
swapped β's, ε misplaced, the maximum or the belief on the wrong quantity, L2 instead of
decoupled decay, state not carried between calls); the derived first step (4.2), the
predicted uncorrected steps (4.3) and the diagnosis of three broken Adams (4.4) are judged
with their hints; and every claim the lesson makes in words holds, with margins (the numbers
left the prose for these tests)."""

import functools
import inspect
import warnings

import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import (
    DivergenceWarning,
    Quadratic,
    checks,
    course_quadratic,
    optimizers,
    rosenbrock,
    run,
)
from course_lib.checks import evaluate_step

# --- building blocks for the wrong versions ----------------------------------------


def _ema(state, key, beta, value):
    state[key] = beta * state.get(key, np.zeros_like(value)) + (1 - beta) * value
    return state[key]


def _tick(state, start=0):
    state["t"] = state.get("t", start) + 1
    return state["t"]


# --- Adam ------------------------------------------------------------------------------


def adam_right(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = _tick(state)
    m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + eps)


def adam_no_bias_correction(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
    return x - lr * m / (np.sqrt(s) + eps)


def adam_only_m_corrected(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = _tick(state)
    m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(s) + eps)


def adam_t_from_zero(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = state.get("t", 0)  # used before it is incremented: 1 − β^0 = 0 at step 1
    state["t"] = t + 1
    m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + eps)


def adam_t_plus_one(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = _tick(state) + 1
    m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + eps)


def adam_betas_swapped(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adam_right(x, grad, state, lr=lr, beta1=beta2, beta2=beta1, eps=eps)


def adam_eps_inside_root(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = _tick(state)
    m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / np.sqrt(s / (1 - beta2**t) + eps)


def adam_eps_before_correction(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    # The paper's "efficient" ordering, η√(1−β2^t)/(1−β1^t) · m/(√s + ε): ε is not scaled.
    g = grad(x)
    t = _tick(state)
    m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
    return x - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(s) + eps)


def adam_state_not_carried(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adam_right(x, grad, {}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


def adam_hard_coded_betas(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adam_right(x, grad, state, lr=lr, eps=eps)


def adam_sign_error(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return 2 * x - adam_right(x, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


# --- AMSGrad ---------------------------------------------------------------------------


def _amsgrad(which, paper=False):
    def amsgrad(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        t = _tick(state)
        m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
        c2 = 1 - beta2**t
        if which == "s_hat":  # the maximum of the bias-corrected ŝ
            s_max = state["s_max"] = np.maximum(state.get("s_max", np.zeros_like(x)), s / c2)
            return x - lr * m / (1 - beta1**t) / (np.sqrt(s_max) + eps)
        new = {"s": s, "g2": g * g}[which]
        s_max = state["s_max"] = np.maximum(state.get("s_max", np.zeros_like(x)), new)
        if paper:  # Reddi et al.: no bias correction at all
            return x - lr * m / (np.sqrt(s_max) + eps)
        return x - lr * m / (1 - beta1**t) / (np.sqrt(s_max) / np.sqrt(c2) + eps)

    return amsgrad


amsgrad_right = _amsgrad("s")
amsgrad_max_of_s_hat = _amsgrad("s_hat")
amsgrad_max_of_g2 = _amsgrad("g2")
amsgrad_paper_form = _amsgrad("s", paper=True)


def amsgrad_plain_adam(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adam_right(x, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


def amsgrad_state_not_carried(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return amsgrad_right(x, grad, {}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


# --- AdaMax ----------------------------------------------------------------------------


def _adamax(kind):
    def adamax(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        t = _tick(state)
        m = _ema(state, "m", beta1, g)
        s_inf_old = state.get("s_inf", np.zeros_like(x))
        if kind == "squares":
            s_inf = np.sqrt(np.maximum(beta2 * s_inf_old**2, g * g + eps))
        elif kind == "eps_outside":
            s_inf = np.maximum(beta2 * s_inf_old, np.abs(g))
        elif kind == "s_inf_corrected":
            s_inf = np.maximum(beta2 * s_inf_old, np.abs(g) + eps)
        else:
            s_inf = np.maximum(beta2 * s_inf_old, np.abs(g) + eps)
        state["s_inf"] = s_inf
        if kind == "eps_outside":
            return x - lr / (1 - beta1**t) * m / (s_inf + eps)
        if kind == "s_inf_corrected":
            return x - lr / (1 - beta1**t) * m / (s_inf / (1 - beta2**t))
        return x - lr / (1 - beta1**t) * m / s_inf

    return adamax


adamax_right = _adamax("right")
adamax_squares = _adamax("squares")
adamax_eps_outside_max = _adamax("eps_outside")
adamax_s_inf_bias_corrected = _adamax("s_inf_corrected")


def adamax_state_not_carried(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adamax_right(x, grad, {}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


# --- Nadam -----------------------------------------------------------------------------


def _nadam(next_power=1, current_power=0, use_m_hat_only=False):
    def nadam(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        t = _tick(state)
        m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
        denom = np.sqrt(s / (1 - beta2**t)) + eps
        if use_m_hat_only:  # plain Adam: no look-ahead
            return x - lr * m / (1 - beta1**t) / denom
        look = beta1 * m / (1 - beta1 ** (t + next_power)) + (1 - beta1) * g / (
            1 - beta1 ** (t + current_power)
        )
        return x - lr * look / denom

    return nadam


nadam_right = _nadam()
nadam_momentum_with_beta1_t = _nadam(next_power=0)
nadam_gradient_with_beta1_t_plus_1 = _nadam(current_power=1)
nadam_plain_adam = _nadam(use_m_hat_only=True)


def nadam_state_not_carried(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return nadam_right(x, grad, {}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


# --- AdaBelief -------------------------------------------------------------------------


def _adabelief(belief="new_m", eps_in_s=True):
    def adabelief(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-16):
        g = grad(x)
        t = _tick(state)
        m_old = state.get("m", np.zeros_like(x))
        m = _ema(state, "m", beta1, g)
        d = {"new_m": g - m, "old_m": g - m_old, "g": g}[belief]
        s = _ema(state, "s", beta2, d * d) + (eps if eps_in_s else 0.0)
        state["s"] = s
        return x - lr * (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + eps)

    return adabelief


adabelief_right = _adabelief()
adabelief_old_m = _adabelief(belief="old_m")
adabelief_g_squared = _adabelief(belief="g")
adabelief_eps_not_in_s = _adabelief(eps_in_s=False)


def adabelief_state_not_carried(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-16):
    return adabelief_right(x, grad, {}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


# --- AdamW -----------------------------------------------------------------------------


def _adamw(kind="right"):
    def adamw(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        if kind == "l2":
            return adam_l2(x, grad, state, lr, beta1, beta2, eps, weight_decay)
        g = grad(x)
        t = _tick(state)
        m, s = _ema(state, "m", beta1, g), _ema(state, "s", beta2, g * g)
        adam_step = lr * (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + eps)
        if kind == "no_lr":
            return x * (1 - weight_decay) - adam_step
        if kind == "decay_after":  # decays the already-updated x
            return (x - adam_step) * (1 - lr * weight_decay)
        if kind == "no_decay":
            return x - adam_step
        return x * (1 - lr * weight_decay) - adam_step

    return adamw


def adam_l2(x, grad, state, lr, beta1, beta2, eps, weight_decay):
    return adam_right(
        x, lambda y: grad(y) + weight_decay * y, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps
    )


adamw_right = _adamw()
adamw_l2_instead_of_decoupled = _adamw("l2")
adamw_decay_without_lr = _adamw("no_lr")
adamw_no_decay = _adamw("no_decay")


def adamw_state_not_carried(
    x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2
):
    return adamw_right(x, grad, {}, lr, beta1, beta2, eps, weight_decay)


RIGHT = {
    "adam": adam_right,
    "amsgrad": amsgrad_right,
    "adamax": adamax_right,
    "nadam": nadam_right,
    "adabelief": adabelief_right,
    "adamw": adamw_right,
}

STATE_LOST = "nothing is carried from one call to the next"
SWAPPED = "β1 and β2 are swapped"
WRONG = {
    "adam": {
        "no bias correction": (adam_no_bias_correction, "the bias corrections are missing"),
        "only m corrected": (adam_only_m_corrected, "only m is bias-corrected"),
        "t from 0": (adam_t_from_zero, "t is incremented after its use"),
        "t + 1": (adam_t_plus_one, "t is one ahead"),
        "β's swapped": (adam_betas_swapped, SWAPPED),
        "ε inside the root": (adam_eps_inside_root, "ε goes outside the root"),
        "ε before the correction": (adam_eps_before_correction, "the paper's 'efficient' form"),
        "state not carried": (adam_state_not_carried, STATE_LOST),
        "β's hard-coded": (
            adam_hard_coded_betas,
            "ignores the hyperparameters it is given (β1 = 0.5, β2 = 0.9",
        ),
        "sign error": (adam_sign_error, "wrong sign"),
    },
    "amsgrad": {
        "maximum of ŝ": (amsgrad_max_of_s_hat, "the maximum is over the raw s, not ŝ"),
        "maximum of g²": (amsgrad_max_of_g2, "not over g² itself"),
        "the paper's form": (amsgrad_paper_form, "that is the paper's form"),
        "plain Adam": (amsgrad_plain_adam, "that is Adam: keep s_max"),
        "state not carried": (amsgrad_state_not_carried, STATE_LOST),
    },
    "adamax": {
        "squares": (adamax_squares, "no squares and no root"),
        "ε outside the max": (adamax_eps_outside_max, "ε goes inside the max"),
        "s_∞ bias-corrected": (adamax_s_inf_bias_corrected, "only m is bias-corrected"),
        "state not carried": (adamax_state_not_carried, STATE_LOST),
    },
    "nadam": {
        "momentum with β1^t": (nadam_momentum_with_beta1_t, "the next step's correction"),
        "gradient with β1^(t+1)": (nadam_gradient_with_beta1_t_plus_1, "this step's correction"),
        "plain Adam": (nadam_plain_adam, "that is Adam: Nadam mixes"),
        "state not carried": (nadam_state_not_carried, STATE_LOST),
    },
    "adabelief": {
        "old m": (adabelief_old_m, "update m first"),
        "g²": (adabelief_g_squared, "that is Adam's s"),
        "ε not in s": (adabelief_eps_not_in_s, "ε is also added to s at every step"),
        "state not carried": (adabelief_state_not_carried, STATE_LOST),
    },
    "adamw": {
        "L2 instead of decoupled": (adamw_l2_instead_of_decoupled, "that is Adam with an L2 term"),
        "decay without lr": (adamw_decay_without_lr, "the decay is multiplied by η"),
        "no decay": (adamw_no_decay, "the decay is missing"),
        "decay after the step": (_adamw("decay_after"), "the decay is applied after the Adam step"),
        "state not carried": (adamw_state_not_carried, STATE_LOST),
    },
}


def dozat(x, grad, state, momentum_decay=None, **hp):  # ignores the schedule
    return optimizers.nadam(x, grad, state, **hp)


EXERCISES = {
    rule: Exercise(evaluate_step, right=[RIGHT[rule]], wrong=WRONG[rule], args=(rule,))
    for rule in RIGHT
} | {
    # torch's default β1,t schedule (momentum_decay = 0.004), and Adam's weight decay: L2
    "nadam_schedule": Exercise(
        evaluate_step,
        right=[functools.partial(optimizers.nadam, momentum_decay=0.004)],
        wrong={"no schedule (Dozat)": (dozat, "without torch's momentum schedule")},
        args=("nadam_schedule",),
    ),
    "adam_l2": Exercise(
        evaluate_step,
        right=[optimizers.adam],
        wrong={
            "decoupled decay": (
                functools.partial(optimizers.adamw, weight_decay=0.5),
                "that is AdamW's decoupled decay",
            )
        },
        args=("adam_l2",),
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_wrong_betas_are_reported_with_a_hint():
    report = str(evaluate_step(adam_hard_coded_betas, "adam"))
    assert "case 2/4" in report and "(β1 = 0.5, β2 = 0.9 in this case): use the arguments" in report


def test_adamax_large_eps_hint_says_inside_the_max():
    report = str(evaluate_step(adamax_eps_outside_max, "adamax"))
    assert "case 3/4" in report and "inside the max" in report


# --- the lesson's own solutions ----------------------------------------------------------


def test_solution_exercises_pass_and_match_course_lib_signatures():
    # Exercises 4.1, 4.5–4.8 in lesson 04; AdamW (Exercise 4b.1) in lesson 04b.
    namespaces = {
        "04": solution_functions("04-adam-family.ipynb"),
        "04b": solution_functions("04b-adam-in-practice.ipynb"),
    }
    for name in RIGHT:
        fn = namespaces["04b" if name == "adamw" else "04"][name]
        assert evaluate_step(fn, name), name
        ours = inspect.signature(fn).parameters
        lib = inspect.signature(optimizers.STEPS[name]).parameters
        for p in ours:  # same names and defaults as course_lib.optimizers
            assert p in lib and ours[p].default == lib[p].default, (name, p)
        extra = set(lib) - set(ours)
        assert extra <= {"weight_decay", "momentum_decay"}, (name, extra)


def test_solution_answers_pass_their_checks():
    namespace = solution_functions("04-adam-family.ipynb")
    assert checks.evaluate_adam_first_step(namespace["adam_first_step"])
    assert checks.evaluate_uncorrected_first_step(namespace["first_step_in_eta"])
    assert checks.evaluate_broken_adams(namespace["diagnosis"])


# --- Exercise 4.2: Adam's first step, derived ---------------------------------------------------


def first_step_right(g, lr, beta1, beta2, eps):
    return -lr * g / (np.abs(g) + eps)


def first_step_by_running_adam(g, lr, beta1, beta2, eps):
    x0 = np.zeros_like(g)
    return optimizers.adam(x0, lambda y: g, {}, lr=lr, beta1=beta1, beta2=beta2, eps=eps) - x0


def _named(fn):
    fn.__name__ = "adam_first_step"
    return fn


FIRST_STEP_WRONG = {
    "gradient descent": (_named(lambda g, lr, b1, b2, eps: -lr * g), "gradient descent's step"),
    "sign, ε dropped": (_named(lambda g, lr, b1, b2, eps: -lr * np.sign(g)), "keep ε"),
    "ε inside the root": (
        _named(lambda g, lr, b1, b2, eps: -lr * g / np.sqrt(g * g + eps)),
        "ε goes outside the root",
    ),
    "no bias correction": (
        _named(lambda g, lr, b1, b2, eps: -lr * (1 - b1) * g / (np.sqrt(1 - b2) * np.abs(g) + eps)),
        "without the bias corrections",
    ),
    "only m corrected": (
        _named(lambda g, lr, b1, b2, eps: -lr * g / (np.sqrt(1 - b2) * np.abs(g) + eps)),
        "only m is corrected",
    ),
    "only s corrected": (
        _named(lambda g, lr, b1, b2, eps: -lr * (1 - b1) * g / (np.abs(g) + eps)),
        "only s is corrected",
    ),
    "uphill": (
        _named(lambda g, lr, b1, b2, eps: lr * g / (np.abs(g) + eps)),
        "against the gradient",
    ),
    "a scalar": (_named(lambda g, lr, b1, b2, eps: -lr), "an array shaped like g"),
}

test_first_step_right, test_first_step_mistake, test_first_step_unfinished = exercise_tests(
    {
        "adam_first_step": Exercise(
            checks.evaluate_adam_first_step,
            right=[first_step_right, first_step_by_running_adam],
            wrong=FIRST_STEP_WRONG,
        )
    }
)

# --- Exercise 4.3 and 4.4: a prediction and a diagnosis, judged -----------------------------------

PREDICTIONS_RIGHT = [
    {"neither corrected": 3.16, "only m corrected": 31.6, "only s corrected": 0.1},
    {"neither corrected": 3.2, "only m corrected": 30, "only s corrected": 0.1},
]
PREDICTIONS_WRONG = {
    "they cancel": (
        {"neither corrected": 1.0, "only m corrected": 31.6, "only s corrected": 0.1},
        "the two do not cancel",
    ),
    "only m and only s swapped": (
        {"neither corrected": 3.16, "only m corrected": 0.1, "only s corrected": 31.6},
        "m̂_1 = g exactly",
    ),
    "√ forgotten": (
        {"neither corrected": 100.0, "only m corrected": 1000.0, "only s corrected": 0.1},
        "too small by √(1 − β₂)",
    ),
    "a key missing": ({"neither corrected": 3.16, "only m corrected": 31.6}, "expected a dict"),
}
DIAGNOSIS_RIGHT = {"eps inside the root": "C", "no bias correction": "A", "betas swapped": "B"}
DIAGNOSES_WRONG = {
    "ε and no correction swapped": (
        {"eps inside the root": "A", "no bias correction": "C", "betas swapped": "B"},
        "only matters where ŝ is comparable with ε",
    ),
    "a letter twice": (
        {"eps inside the root": "C", "no bias correction": "C", "betas swapped": "B"},
        "a different letter",
    ),
    "a slip misnamed": (
        {"epsilon inside": "C", "no bias correction": "A", "betas swapped": "B"},
        "keys",
    ),
}


test_first_step_prediction_right_passes, test_first_step_prediction_mistake_fails_with_its_hint = (
    answer_tests(
        checks.evaluate_uncorrected_first_step,
        "first_step_in_eta",
        PREDICTIONS_RIGHT,
        PREDICTIONS_WRONG,
    )
)


def test_predicted_first_steps_are_the_steps_adam_takes_without_its_corrections():
    # The check's numbers are the first steps of the variants, taken by a real step function.
    measured = checks.lesson04.uncorrected_first_steps()
    x = run(
        checks.lesson04._adam_with("no bias correction"),
        Quadratic([[1.0]], [-3.0], x0=[0.0]),
        steps=1,
        lr=1e-3,
        eps=0.0,
    ).xs
    assert abs(x[1, 0] - x[0, 0]) / 1e-3 == pytest.approx(measured["neither corrected"], rel=1e-9)


(
    test_broken_adams_diagnosis_right_passes,
    test_broken_adams_diagnosis_mistake_fails_with_its_hint,
) = answer_tests(checks.evaluate_broken_adams, "diagnosis", [DIAGNOSIS_RIGHT], DIAGNOSES_WRONG)


def test_broken_adams_leave_the_traces_the_hints_describe():
    broken = checks.broken_adams()
    tiny = Quadratic(1e-6 * np.diag([0.2, 4.0]), x0=(-5.0, -2.0))
    runs = {
        (k, scale): run(step, p, steps=150, lr=0.1)
        for k, step in {"Adam": optimizers.adam, **broken}.items()
        for scale, p in [(1.0, course_quadratic), (1e-6, tiny)]
    }
    gap = {key: r.gap[1:] / key[1] for key, r in runs.items()}
    # C, ε inside the root: Adam itself on f, a crawl on 10⁻⁶ f.
    assert np.allclose(runs["C", 1.0].xs, runs["Adam", 1.0].xs, rtol=1e-6, atol=1e-6)
    assert gap["C", 1e-6][-1] > 1e3 * gap["Adam", 1e-6][-1]
    # A, no bias correction: nearly the same on both scales (ε is felt a little at its first
    # steps there, where √s is small), first steps over 3η.
    logs = [np.log10(gap["A", scale]).reshape(6, 25).mean(axis=1) for scale in (1.0, 1e-6)]
    assert np.abs(logs[0] - logs[1]).max() < 0.5  # within half a decade, window by window
    assert np.abs(runs["A", 1.0].xs[1] - runs["A", 1.0].xs[0]).min() > 3 * 0.1
    # B, β's swapped: never settles, on either scale.
    assert min(gap["B", 1.0][-50:].min(), gap["B", 1e-6][-50:].min()) > 0.1


# --- the lesson's claims, measured (the numbers left the prose) --------------------------------


def test_adam_takes_one_path_on_f_100f_and_f_over_100():
    paths = [
        run(
            optimizers.adam, Quadratic(c * np.diag([0.2, 4.0]), x0=(-5.0, -2.0)), steps=40, lr=0.3
        ).xs
        for c in (0.01, 1.0, 100.0)
    ]
    # One path, up to ε (10⁻⁸ against gradients of 10⁻² on f / 100): 10⁻⁵ apart at most.
    assert np.abs(paths[0] - paths[1]).max() < 1e-4 and np.abs(paths[2] - paths[1]).max() < 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        gd = [
            run(
                optimizers.gd, Quadratic(c * np.diag([0.2, 4.0]), x0=(-5.0, -2.0)), steps=40, lr=0.4
            )
            for c in (0.01, 100.0)
        ]
    assert abs(gd[0].x[0] - gd[0].xs[0][0]) < 0.5  # crawls on f / 100: a tenth of the way in x₁
    assert gd[1].diverged_at is not None  # diverges on 100 f


def test_uncorrected_step_grows_before_it_shrinks_and_the_rosenbrock_run_climbs():
    t = np.arange(1, 20001)
    factor = (1 - 0.9**t) / np.sqrt(1 - 0.999**t)
    assert factor[0] == pytest.approx(np.sqrt(10), rel=1e-9) and 6 < factor.max() < 7
    assert 5 < t[factor.argmax()] < 20 and 1.2 < factor[999] < 1.3  # still > 1 at t = 1000

    def no_correction(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
        s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * g * g
        return x - lr * m / (np.sqrt(s) + eps)

    adam = run(optimizers.adam, rosenbrock, steps=100, lr=0.05, beta2=0.9999)
    bare = run(no_correction, rosenbrock, steps=100, lr=0.05, beta2=0.9999)
    assert adam.gap.max() <= adam.gap[0] + 1e-12  # Adam never climbs above its start
    assert bare.gap.max() > 10 * bare.gap[0]  # "climbs far above its start"
    assert bare.gap[-1] < adam.gap[-1]  # "and even ends lower after a hundred steps"


def _online(step, steps, **hp):
    shape = np.broadcast(*map(np.asarray, hp.values())).shape
    x, state, xs = np.zeros(shape), {}, []
    for t in range(1, steps + 1):
        g = 3.0 if t % 3 == 1 else -1.0
        x = np.clip(step(x, lambda y: np.full_like(y, g), state, **hp), -1.0, 1.0)
        xs.append(x)
    return np.array(xs)


def test_reddi_adam_goes_to_the_worst_point_amsgrad_and_sgd_to_the_best():
    kw = dict(lr=0.1, beta1=0.0, beta2=0.1)
    assert _online(optimizers.adam, 600, **kw)[-300:].mean() > 0.9
    assert _online(optimizers.amsgrad, 600, **kw)[-300:].mean() < -0.9
    sgd = _online(lambda x, grad, state, **h: optimizers.gd(x, grad, state, lr=0.1), 600, lr=0.1)
    assert sgd[-300:].min() >= -1.0 and sgd[-300:].max() <= -0.8 + 1e-12  # jitters in [−1, −0.8]


def test_reddi_crossover_lies_between_beta2_047_and_0475_and_momentum_prevents_it():
    beta2s = np.array([0.1, 0.45, 0.47, 0.475, 0.5, 0.999])
    ends = _online(optimizers.adam, 10000, lr=0.1, beta1=np.array([[0.0], [0.9]]), beta2=beta2s)
    ends = ends[-300:].mean(axis=0)
    assert np.all(ends[0, :3] > 0.9) and np.all(ends[0, 3:] < -0.9)  # settled by 10 000 steps
    assert np.all(ends[1] < -0.99)  # β₁ = 0.9: −1 for every β₂
    amsgrad = _online(optimizers.amsgrad, 6000, lr=0.1, beta1=0.0, beta2=beta2s)
    assert np.all(amsgrad[-300:].mean(axis=0) < -0.9)


def _steps_along(step, grads, **hp):
    x, state, sizes = np.zeros(1), {}, []
    for g in grads:
        x_new = step(x, lambda y: np.full_like(y, g), state, lr=1.0, **hp)
        sizes.append(abs(x_new - x)[0])
        x = x_new
    return np.array(sizes)


def test_a_spike_slows_adamax_longer_and_harder_than_adam():
    grads = np.ones(6000)
    grads[199] = 100.0
    adam, adamax = _steps_along(optimizers.adam, grads), _steps_along(optimizers.adamax, grads)
    assert adam[199] > 1.2 and 0.1 < adam[200:].min() < 0.3  # jumps, then drops a few-fold
    assert adamax.max() <= 1.0 + 1e-9 and adamax[200:].min() < 0.02  # ~100 times smaller
    back = 200 + np.argmax(adamax[200:] > 0.9)  # back near η after about ln(100)/(1 − β₂)
    assert abs(back - 200 - np.log(100) / (1 - 0.999)) < 300
    assert adam[1200] > 0.3 and adamax[1200] < 0.05  # a thousand steps on: Adam is back first


def test_nadam_brakes_earlier_at_a_large_eta_and_matches_adam_at_a_small_one():
    big = [run(s, course_quadratic, steps=100, lr=1.0) for s in (optimizers.adam, optimizers.nadam)]
    assert big[1].gap[-1] < big[0].gap[-1] / 100
    assert big[1].xs[:, 0].max() < big[0].xs[:, 0].max() - 0.3  # less overshoot along x₁
    small = [
        run(s, course_quadratic, steps=200, lr=0.03) for s in (optimizers.adam, optimizers.nadam)
    ]
    assert small[1].gap[-1] == pytest.approx(small[0].gap[-1], rel=0.05)


def test_adabelief_steps_about_twice_eta_along_the_floor_where_adam_stays_at_eta():
    runs = [
        run(s, course_quadratic, steps=100, lr=0.05)
        for s in (optimizers.adam, optimizers.adabelief)
    ]
    adam, belief = (np.abs(np.diff(r.xs[:, 0])) / 0.05 for r in runs)
    assert adam.max() <= 1.0 + 1e-6 and 1.6 < belief.max() < 2.4
    assert runs[1].gap[-1] < runs[0].gap[-1] / 100


def test_pytorch_amsgrad_step_size_still_grows_the_papers_does_not():
    def paper(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
        s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * g * g
        s_max = state["s_max"] = np.maximum(state.get("s_max", np.zeros_like(x)), s)
        return x - lr * m / (np.sqrt(s_max) + eps)

    grads = np.r_[10.0, np.full(4999, 0.1)]
    size = {
        k: _steps_along(s, grads, beta1=0.0) / grads
        for k, s in [("Adam", optimizers.adam), ("PyTorch", optimizers.amsgrad), ("paper", paper)]
    }
    assert 80 < size["Adam"].max() / size["Adam"][0] < 100  # "about a hundredfold"
    assert 25 < size["PyTorch"].max() / size["PyTorch"][0] < 1 / np.sqrt(1 - 0.999)  # ≈ 30-fold
    assert np.ptp(size["paper"]) < 1e-9 * size["paper"][0]  # flat


def test_nadam_schedule_keeps_much_of_each_step_on_the_raw_gradient_for_thousands_of_steps():
    b = 0.9 * (1 - 0.5 * 0.96 ** (np.arange(1, 10002) * 0.004))
    P = np.cumprod(b)
    share = (1 - b[:-1]) / (1 - P[:-1]) + b[1:] * 0.1 / (1 - P[1:])
    assert np.all(share[9:1000] > 0.5) and share[9999] < 0.3
    dozat = (1 - 0.9) / (1 - 0.9 ** np.arange(1, 101)) + 0.9 * 0.1 / (1 - 0.9 ** np.arange(2, 102))
    assert dozat[-1] == pytest.approx(0.19, abs=1e-3)
