"""check_step (lessons 01–04): a step function against its rule's reference trajectories,
recorded from torch.optim and the authors' code by tools/make_reference.py."""

import numpy as np

from .. import optimizers
from ..contract import InputError, call_step, name_of
from ..data import load_references
from ..problems import rosenbrock
from .engine import Report, evaluate_trajectories, fmt_any, printing


def problem_from_spec(spec):
    """Gradient callable of a reference case's problem (specs written by make_reference.py)."""
    if spec["kind"] == "quadratic":  # f = Σ ½ a x² − b x, elementwise, any shape
        a, b = np.array(spec["a"], dtype=float), np.array(spec["b"], dtype=float)
        return lambda x: a * x - b
    if spec["kind"] == "rosenbrock":
        return rosenbrock.grad
    raise ValueError(f"unknown problem kind {spec['kind']!r}")


def evaluate_step(fn, rule=None, section="steps"):
    """Run step function ``fn`` on every reference case of ``rule`` (by default fn's name)."""
    rules = load_references(section)["rules"]
    rule = rule or name_of(fn)
    if rule not in rules:
        raise InputError(
            f"no reference trajectories for a rule named {rule!r}: name your function like one "
            f"of {sorted(rules)}, or pass the rule, e.g. check_step(my_step, 'adam')"
        )
    ref = rules[rule]
    report = evaluate_trajectories(
        fn, ref, lambda spec: (problem_from_spec(spec), {}), identify=identify(rule)
    )
    if report and rule in ("momentum", "nesterov"):  # lesson 02 documents state["v"]
        slip = velocity_kept(fn, ref)
        return report if slip is None else slip
    return report


def velocity_kept(fn, ref):
    """None if fn keeps the course's velocity in state["v"], v_k = x_(k−1) − x_k, in every
    case (lesson 02 reads it); else a ✘ Report. The iterates are known to agree."""
    name = name_of(fn)
    for i, case in enumerate(ref["cases"], 1):
        grad, hp = problem_from_spec(case["problem"]), case["hyperparameters"]
        expected = np.array(case["expected"], dtype=float)
        x, state = expected[0].copy(), {}
        for k in range(1, len(expected)):
            x_new = call_step(fn, x, grad, state, k, dict(hp))
            v, want = state.get("v"), x - x_new
            same_shape = v is not None and np.shape(v) == np.shape(want)
            if same_shape and np.allclose(v, want, rtol=1e-9, atol=1e-12):
                x = x_new
                continue
            if same_shape and np.allclose(np.asarray(v) * hp["lr"], want, rtol=1e-9, atol=1e-12):
                hint = (
                    "that is PyTorch's buffer b = v/η: keep the course's velocity "
                    "v ← γv + η∇f, the step itself (x_new = x − v); the appendix of "
                    "lesson 02 maps one onto the other."
                )
            else:
                hint = 'state["v"] must hold the velocity, the step just taken: x_new = x − v.'
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {i}/{len(ref['cases'])} ({case['name']})",
                    f'  the iterates agree, but after step {k} state["v"] = '
                    + (fmt_any(v) if v is not None else "nothing (no key 'v')"),
                    f"  expected the velocity v_{k} = x_{k - 1} − x_{k} = {fmt_any(want)}",
                    f"  hint: {hint}",
                ],
            )
    return None


# --- the usual slips, told apart by replaying them (the first step that differs names one) ---


def _adam(corrected=True, t_late=False):
    """Adam with one slip: no bias correction, or t incremented late."""

    def adam(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        g = grad(x) + weight_decay * x
        t = state.get("t", 0) + (0 if t_late else 1)
        state["t"] = t + 1 if t_late else t
        m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
        v = state["v"] = beta2 * state.get("v", np.zeros_like(x)) + (1 - beta2) * g * g
        if corrected:
            m, v = m / (1 - beta1**t), v / (1 - beta2**t)
        return x - lr * m / (np.sqrt(v) + eps)

    return adam


def _adamw(at_decayed=False, eta_in_decay=True):
    """AdamW with one slip: the gradient at the decayed x, or a decay without η."""

    def adamw(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        decayed = x * (1 - (lr if eta_in_decay else 1.0) * weight_decay)
        at = decayed if at_decayed else x  # where the gradient is taken
        adam_move = optimizers.adam(at, grad, state, lr, beta1, beta2, eps) - at
        return decayed + adam_move

    return adamw


def _eps_inside(rule, before_correction=False):
    """Adam, AMSGrad, Nadam or AdamW with ε inside the root, lesson 03's convention:
    √(v̂ + ε), or before the bias correction √((v + ε)/(1 − β2^t))."""
    decay = 1e-2 if rule == "adamw" else 0.0

    def step(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=decay):
        g = grad(x)
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
        v = state["v"] = beta2 * state.get("v", np.zeros_like(x)) + (1 - beta2) * g * g
        if rule == "amsgrad":
            v = state["v_max"] = np.maximum(state.get("v_max", np.zeros_like(x)), v)
        c2 = 1 - beta2**t
        root = np.sqrt((v + eps) / c2) if before_correction else np.sqrt(v / c2 + eps)
        if rule == "nadam":
            direction = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1**t)
        else:
            direction = m / (1 - beta1**t)
        decayed = x * (1 - lr * weight_decay) if rule == "adamw" else x
        return decayed - lr * direction / root

    return step


def _eps_slips(rule):
    """The two ε-inside-the-root slips of an Adam-like rule, with what to say."""
    right = "√v_max/√(1 − β2^t) + ε" if rule == "amsgrad" else "√v̂ + ε"
    return [
        (
            _eps_inside(rule),
            None,
            f"ε goes outside the root, after the bias correction: {right}, not √(v̂ + ε) "
            "(lesson 03's convention is not Adam's).",
        ),
        (
            _eps_inside(rule, before_correction=True),
            None,
            f"ε goes outside the root, after the bias correction: {right}, not "
            "√((v + ε)/(1 − β2^t)) (lesson 03's convention is not Adam's).",
        ),
    ]


def _swap(hp):
    return {**hp, "beta1": hp["beta2"], "beta2": hp["beta1"]}


SWAPPED = "β1 and β2 are swapped: β1 belongs to m (the mean of g), β2 to v (the mean of g²)."
SLIPS = {  # rule → [(step that makes the slip, change of hyperparameters, what to say)]
    "adam": [
        *_eps_slips("adam"),
        (
            _adam(corrected=False),
            None,
            "the bias corrections are missing: m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t).",
        ),
        (
            _adam(t_late=True),
            None,
            "t is incremented after its use: at the first step t = 1 (with t = 0, 1 − β^t = 0).",
        ),
        (optimizers.adam, _swap, SWAPPED),
    ],
    "adamw": [
        *_eps_slips("adamw"),
        (
            optimizers.adam,
            None,
            "that is Adam with an L2 term, g + λx: AdamW decays x itself, "
            "x ← x − ηλx, and Adam sees the plain gradient.",
        ),
        (
            _adamw(at_decayed=True),
            None,
            "the gradient is taken at the decayed x: take "
            "g = ∇f(x) at the current x; the decay and the Adam step both start from x.",
        ),
        (
            _adamw(eta_in_decay=False),
            None,
            "the decay is multiplied by η: x(1 − ηλ), not x(1 − λ).",
        ),
        (optimizers.adamw, _swap, SWAPPED),
    ],
    "nesterov": [
        (
            optimizers.momentum,
            None,
            "that is plain momentum: Nesterov takes the gradient at "
            "the look-ahead point x − γv (with the old v), not at x.",
        ),
    ],
    **{
        rule: [*_eps_slips(rule), (optimizers.STEPS[rule], _swap, SWAPPED)]
        for rule in ("amsgrad", "nadam")
    },
    **{rule: [(optimizers.STEPS[rule], _swap, SWAPPED)] for rule in ("adamax", "adabelief")},
}


def identify(rule):
    """For evaluate_trajectories: the slip of SLIPS[rule] whose replay gives the student's x_k."""
    slips = SLIPS.get(rule, [])

    def known(x0, k, x_new, grad, kwargs):
        for step, change, text in slips:
            x, state = x0.copy(), {}
            try:
                with np.errstate(all="ignore"):
                    for _ in range(k):
                        x = step(x, grad, state, **(change(kwargs) if change else kwargs))
            except (TypeError, ValueError):  # a slip that does not apply to this case
                continue
            if np.allclose(x, x_new, rtol=1e-7, atol=1e-10, equal_nan=True):
                return text
        return ""

    return known


check_step = printing(evaluate_step)
