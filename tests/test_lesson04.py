"""Lesson 04 (the Adam family): the checks accept the right step functions and reject
deliberately wrong ones, each of a usual mistake (missing or off-by-one bias correction,
swapped β's, ε misplaced, the maximum or the belief on the wrong quantity, L2 instead of
decoupled decay, state not carried between calls)."""

import functools
import inspect
import json
import pathlib

import numpy as np
import pytest

from course_lib import optimizers
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

WRONG = {
    "adam": [
        adam_no_bias_correction,
        adam_only_m_corrected,
        adam_t_from_zero,
        adam_t_plus_one,
        adam_betas_swapped,
        adam_eps_inside_root,
        adam_eps_before_correction,
        adam_state_not_carried,
        adam_hard_coded_betas,
        adam_sign_error,
    ],
    "amsgrad": [
        amsgrad_max_of_v_hat,
        amsgrad_max_of_g2,
        amsgrad_paper_form,
        amsgrad_plain_adam,
        amsgrad_state_not_carried,
    ],
    "adamax": [
        adamax_squares,
        adamax_eps_outside_max,
        adamax_u_bias_corrected,
        adamax_state_not_carried,
    ],
    "nadam": [
        nadam_momentum_with_beta1_t,
        nadam_gradient_with_beta1_t_plus_1,
        nadam_plain_adam,
        nadam_state_not_carried,
    ],
    "adabelief": [
        adabelief_old_m,
        adabelief_g_squared,
        adabelief_eps_not_in_s,
        adabelief_state_not_carried,
    ],
    "adamw": [
        adamw_l2_instead_of_decoupled,
        adamw_decay_without_lr,
        adamw_no_decay,
        adamw_state_not_carried,
    ],
}


@pytest.mark.parametrize("rule", sorted(RIGHT))
def test_check_accepts_the_right_version(rule):
    report = evaluate_step(RIGHT[rule], rule)
    assert report, str(report)
    assert str(report).startswith("✔")


@pytest.mark.parametrize(
    "rule, wrong",
    [(r, w) for r, ws in WRONG.items() for w in ws],
    ids=lambda v: getattr(v, "__qualname__", v),
)
def test_check_rejects_wrong_version(rule, wrong):
    with np.errstate(all="ignore"):
        report = evaluate_step(wrong, rule)
    assert not report, f"{rule}: the check accepted a wrong version\n{report}"
    assert str(report).startswith("✘")


def test_state_not_carried_gets_the_state_hint():
    report = str(evaluate_step(adam_state_not_carried, "adam"))
    assert "step 1 was right" in report and "state" in report


def test_wrong_betas_are_reported_with_a_hint():
    report = str(evaluate_step(adam_hard_coded_betas, "adam"))
    assert "case 2/3" in report and "β1 belongs to m" in report


def test_nadam_schedule_matches_torch_default():
    step = functools.partial(optimizers.nadam, momentum_decay=0.004)
    assert evaluate_step(step, "nadam_schedule")

    def dozat(x, grad, state, momentum_decay=None, **hp):  # ignores the schedule
        return optimizers.nadam(x, grad, state, **hp)

    assert not evaluate_step(dozat, "nadam_schedule")


def test_adam_weight_decay_is_l2():
    assert evaluate_step(optimizers.adam, "adam_l2")
    assert not evaluate_step(functools.partial(optimizers.adamw, weight_decay=0.5), "adam_l2")


def test_adamax_large_eps_hint_says_inside_the_max():
    report = str(evaluate_step(adamax_eps_outside_max, "adamax"))
    assert "case 3/3" in report and "inside the max" in report


# --- the lesson's own solutions ----------------------------------------------------------

SOLUTION = pathlib.Path(__file__).resolve().parents[1] / "solutions" / "04-adam-family.ipynb"


def solution_functions():
    """The exercise functions of solutions/04-adam-family.ipynb, defined from their cells."""
    nb = json.loads(SOLUTION.read_text())
    namespace = {"np": np}
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "### BEGIN SOLUTION" in source:
            exec(source, namespace)
    return {name: namespace[name] for name in RIGHT}


@pytest.mark.skipif(not SOLUTION.exists(), reason="lesson 04 not built")
def test_solution_exercises_pass_and_match_course_lib_signatures():
    functions = solution_functions()
    assert set(functions) == set(RIGHT)
    for name, fn in functions.items():
        assert evaluate_step(fn, name), name
        ours = inspect.signature(fn).parameters
        lib = inspect.signature(optimizers.STEPS[name]).parameters
        for p in ours:  # same names and defaults as course_lib.optimizers
            assert p in lib and ours[p].default == lib[p].default, (name, p)
        extra = set(lib) - set(ours)
        assert extra <= {"weight_decay", "momentum_decay"}, (name, extra)
