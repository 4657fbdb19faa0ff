"""Lesson 04 (the Adam family): the checks accept the right step functions and reject
deliberately wrong ones, each of a usual mistake (missing or off-by-one bias correction,
swapped β's, ε misplaced, the maximum or the belief on the wrong quantity, L2 instead of
decoupled decay, state not carried between calls)."""

import functools
import inspect

import numpy as np
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import Quadratic, checks, optimizers, run
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
    m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def adam_no_bias_correction(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
    return x - lr * m / (np.sqrt(v) + eps)


def adam_only_m_corrected(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = _tick(state)
    m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(v) + eps)


def adam_t_from_zero(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = state.get("t", 0)  # used before it is incremented: 1 − β^0 = 0 at step 1
    state["t"] = t + 1
    m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def adam_t_plus_one(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = _tick(state) + 1
    m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def adam_betas_swapped(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adam_right(x, grad, state, lr=lr, beta1=beta2, beta2=beta1, eps=eps)


def adam_eps_inside_root(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    g = grad(x)
    t = _tick(state)
    m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
    return x - lr * (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t) + eps)


def adam_eps_before_correction(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    # The paper's "efficient" ordering, η√(1−β2^t)/(1−β1^t) · m/(√v + ε): ε is not scaled.
    g = grad(x)
    t = _tick(state)
    m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
    return x - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(v) + eps)


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
        m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
        c2 = 1 - beta2**t
        if which == "v_hat":  # the maximum of the bias-corrected v̂
            vmax = state["vmax"] = np.maximum(state.get("vmax", np.zeros_like(x)), v / c2)
            return x - lr * m / (1 - beta1**t) / (np.sqrt(vmax) + eps)
        new = {"v": v, "g2": g * g}[which]
        vmax = state["vmax"] = np.maximum(state.get("vmax", np.zeros_like(x)), new)
        if paper:  # Reddi et al.: no bias correction at all
            return x - lr * m / (np.sqrt(vmax) + eps)
        return x - lr * m / (1 - beta1**t) / (np.sqrt(vmax) / np.sqrt(c2) + eps)

    return amsgrad


amsgrad_right = _amsgrad("v")
amsgrad_max_of_v_hat = _amsgrad("v_hat")
amsgrad_max_of_g2 = _amsgrad("g2")
amsgrad_paper_form = _amsgrad("v", paper=True)


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
        u_old = state.get("u", np.zeros_like(x))
        if kind == "squares":
            u = np.sqrt(np.maximum(beta2 * u_old**2, g * g + eps))
        elif kind == "eps_outside":
            u = np.maximum(beta2 * u_old, np.abs(g))
        elif kind == "u_corrected":
            u = np.maximum(beta2 * u_old, np.abs(g) + eps)
        else:
            u = np.maximum(beta2 * u_old, np.abs(g) + eps)
        state["u"] = u
        if kind == "eps_outside":
            return x - lr / (1 - beta1**t) * m / (u + eps)
        if kind == "u_corrected":
            return x - lr / (1 - beta1**t) * m / (u / (1 - beta2**t))
        return x - lr / (1 - beta1**t) * m / u

    return adamax


adamax_right = _adamax("right")
adamax_squares = _adamax("squares")
adamax_eps_outside_max = _adamax("eps_outside")
adamax_u_bias_corrected = _adamax("u_corrected")


def adamax_state_not_carried(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adamax_right(x, grad, {}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


# --- Nadam -----------------------------------------------------------------------------


def _nadam(next_power=1, current_power=0, use_m_hat_only=False):
    def nadam(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        g = grad(x)
        t = _tick(state)
        m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
        denom = np.sqrt(v / (1 - beta2**t)) + eps
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
        m, v = _ema(state, "m", beta1, g), _ema(state, "v", beta2, g * g)
        adam_step = lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
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
        "maximum of v̂": (amsgrad_max_of_v_hat, "the maximum is over the raw v, not v̂"),
        "maximum of g²": (amsgrad_max_of_g2, "not over g² itself"),
        "the paper's form": (amsgrad_paper_form, "that is the paper's form"),
        "plain Adam": (amsgrad_plain_adam, "that is Adam: keep v_max"),
        "state not carried": (amsgrad_state_not_carried, STATE_LOST),
    },
    "adamax": {
        "squares": (adamax_squares, "no squares and no root"),
        "ε outside the max": (adamax_eps_outside_max, "ε goes inside the max"),
        "u bias-corrected": (adamax_u_bias_corrected, "only m is bias-corrected"),
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
        "g²": (adabelief_g_squared, "that is Adam's v"),
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
    # torch's default μ schedule (momentum_decay = 0.004), and Adam's weight decay: L2
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
    namespace = solution_functions("04-adam-family.ipynb")
    for name in RIGHT:
        fn = namespace[name]
        assert evaluate_step(fn, name), name
        ours = inspect.signature(fn).parameters
        lib = inspect.signature(optimizers.STEPS[name]).parameters
        for p in ours:  # same names and defaults as course_lib.optimizers
            assert p in lib and ours[p].default == lib[p].default, (name, p)
        extra = set(lib) - set(ours)
        assert extra <= {"weight_decay", "momentum_decay"}, (name, extra)


# --- Exercise 4.7: where AdamW comes to rest --------------------------------------------------


def rest_right(a, b, lr, weight_decay):
    return np.clip(b / a, -1 / weight_decay, 1 / weight_decay)


def rest_right_by_cases(a, b, lr, weight_decay):
    c = b / a  # inside the box: the minimum of f; outside: the edge on its side
    return np.where(np.abs(c) <= 1 / weight_decay, c, np.sign(c) / weight_decay)


REST_WRONG = {
    "Adam + L2's rest point": (
        lambda a, b, lr, weight_decay: b / (a + weight_decay),
        "that is Adam + L2's rest point",
    ),
    "the minimum of f": (lambda a, b, lr, weight_decay: b / a, "that is the minimum of f"),
    "a box of 1/(ηλ)": (
        lambda a, b, lr, weight_decay: np.clip(
            b / a, -1 / (lr * weight_decay), 1 / (lr * weight_decay)
        ),
        "that is the minimum of f",
    ),
    "every coordinate on the edge": (
        lambda a, b, lr, weight_decay: np.sign(b / a) / weight_decay,
        "not every coordinate ends on the box's edge",
    ),
    "a one-sided box": (
        lambda a, b, lr, weight_decay: np.minimum(b / a, 1 / weight_decay),
        "the box has two sides",
    ),
    "a box of λ": (
        lambda a, b, lr, weight_decay: np.clip(b / a, -weight_decay, weight_decay),
        "not λ",
    ),
    "shrunk by 1 − ηλ": (
        lambda a, b, lr, weight_decay: (1 - lr * weight_decay) * b / a,
        "λx = −g/(|g| + ε)",
    ),
}
for _fn, _ in REST_WRONG.values():
    _fn.__name__ = "adamw_rest_point"

test_rest_right, test_rest_mistake, test_rest_unfinished = exercise_tests(
    {
        "adamw_rest_point": Exercise(
            checks.evaluate_adamw_rest_point,
            right=[rest_right, rest_right_by_cases],
            wrong=REST_WRONG,
        )
    }
)


def test_a_box_of_one_over_eta_lambda_is_named_where_it_differs_from_the_minimum():
    def adamw_rest_point(a, b, lr, weight_decay):
        box = 1 / (lr * weight_decay)
        return np.clip(b / a, -box, box)

    report = checks.evaluate_adamw_rest_point(adamw_rest_point)
    assert not report  # the η = 0.5 case tells it from the minimum of f
    text = str(
        checks.evaluate_function(adamw_rest_point, checks.lesson04.adamw_rest_point_cases()[3:])
    )
    assert "not 1/(ηλ)" in text, text


def test_adamw_comes_to_rest_where_the_check_says_whatever_eta():
    # The check's expected points, confirmed by long AdamW runs (course_lib's adamw agrees
    # with torch.optim.AdamW): the mean of the last 500 of 4000 steps, at the case's η and at
    # η = 0.01 (Adam's jitter around the rest point shrinks with η).
    for case in checks.lesson04.adamw_rest_point_cases():
        a, b, lr, lam = case.args
        problem = Quadratic(np.diag(a), b, x0=np.zeros(len(a)))
        for eta, tol in [(lr, 2e-2), (0.01, 1e-3)]:
            r = run(optimizers.adamw, problem, steps=4000, lr=eta, weight_decay=lam, beta2=0.99)
            assert np.abs(r.xs[-500:].mean(axis=0) - case.expected).max() < tol, (case.name, eta)
