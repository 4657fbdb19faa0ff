"""Lesson 03 (adaptive learning rates): PyTorch's convention, ε outside the root, against
torch.optim's own runs (data/references_adaptive.json); a prediction of the step after many
equal gradients (3.3), a diagnosis of four runs by their step sizes (3.5), the ε of each form
for rescaled f (3.7), and a learning-rate sweep run all at once (3.8). (The steps:
``check_step``.)"""

import functools

import numpy as np

from .. import optimizers
from ..problems import course_quadratic, double_well, rosenbrock
from .engine import Budget, Case, Report, evaluate_function, printing
from .steps import evaluate_step


def evaluate_torch_convention(fn, rule):
    """Run a step with ε outside the root on torch.optim's runs of rule ("adagrad_eps_outside"…)."""
    return evaluate_step(fn, rule, section="adaptive")


check_torch_convention = printing(evaluate_torch_convention)


# --- Exercise 3.5: a learning-rate sweep, all runs at once ----------------------------------


def _sweep_reference(step, problem, lrs, steps, shared=False, **hp):
    """One run per η, each with its own state (shared: one state for all, a slip), exactly
    `steps` steps; inf where the final f − f* is not finite."""
    out, state = [], {}
    for lr in lrs:
        x, state = problem.x0.copy(), (state if shared else {})
        with np.errstate(all="ignore"):
            for _ in range(steps):
                x = step(x, problem.grad, state, lr=lr, **hp)
            gap = float(problem.f(x) - problem.f_star)
        out.append(gap if np.isfinite(gap) else np.inf)
    return np.array(out)


SWEEP = (
    "stack one copy of problem.x0 per η, pass lr as a column (shape (len(lrs), 1)) so each "
    "row gets its own η, start from one empty state, run exactly `steps` steps, pass the "
    "hyperparameters on, and report f − f* (np.inf where it is not finite)."
)


def _sweep_hint(step, problem, lrs, steps, hp):
    """diagnose(got, expected) for one sweep: the usual slips, by their values."""

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return one final f − f* per η: shape {expected.shape}."
        with np.errstate(all="ignore"):
            if np.isnan(got).any():
                return "a run that blew up gives nan (inf − inf): report it as np.inf."
            if np.allclose(got, expected + problem.f_star, rtol=1e-9, equal_nan=True):
                return "that is f, not f − f*: subtract problem.f_star."
        overflowed = np.isinf(expected) & np.isfinite(got) & (np.abs(got) > 1e300)
        if overflowed.any():
            return (
                "a run whose f overflowed ends at f − f* = inf with x still finite: report "
                "np.inf, not the largest float (np.nan_to_num turns inf into 1.8e308 unless "
                "you pass posinf=np.inf; np.where(np.isfinite(gap), gap, np.inf) keeps it)."
            )
        capped = np.isinf(got) & np.isfinite(expected)
        if capped.any():
            return (
                f"a run that ends finite is reported as it is, however large (here "
                f"{expected[capped][0]:.3g}): only a result that is not finite becomes np.inf."
            )
        slips = [
            (
                lambda: _sweep_reference(step, problem, lrs, steps - 1, **hp),
                "one step short: run exactly `steps` steps.",
            ),
            (
                lambda: _sweep_reference(step, problem, lrs, steps + 1, **hp),
                "one step too many: run exactly `steps` steps.",
            ),
            (
                lambda: _sweep_reference(step, problem, lrs, steps, shared=True, **hp),
                "each "
                "run needs its own state: start from one empty state for the stack of runs (or "
                "a new one per η), not one state reused from run to run.",
            ),
            (
                lambda: _sweep_reference(step, problem, lrs, steps),
                "pass the hyperparameters "
                "on: step(x, problem.grad, state, lr=…, **hyperparameters).",
            ),
        ]
        for value, text in slips:
            relevant = hp or "hyperparameters" not in text
            if relevant and np.allclose(got, value(), rtol=1e-9, atol=1e-12, equal_nan=True):
                return text
        if len(lrs) == problem.x0.size:  # a row of η multiplies the coordinates
            x, state = np.tile(problem.x0, (len(lrs), 1)), {}
            with np.errstate(all="ignore"):
                for _ in range(steps):
                    x = step(x, problem.grad, state, lr=np.asarray(lrs), **hp)
                gap = problem.f(x) - problem.f_star
            if np.allclose(got, np.where(np.isfinite(gap), gap, np.inf), rtol=1e-9):
                return (
                    "pass lr as a column, shape (len(lrs), 1): a row of η multiplies the "
                    "coordinates, not the runs."
                )
        return ""

    return diagnose


def _broadcast(report):
    if "broadcast" in report.lines[0]:
        return (
            "a broadcasting error: pass lr as a column, np.asarray(lrs)[:, None] of shape "
            "(len(lrs), 1), so that each row of the stack (one run) gets its own η."
        )
    return ""


def lr_sweep_cases():
    """fn(step, problem, lrs, steps, **hp) on five sweeps; expected: one run per η in a loop."""
    sweeps = [
        (
            "GD on the course quadratic, η = 0.1 and 0.4 (two η, two coordinates)",
            optimizers.gd,
            course_quadratic,
            [0.1, 0.4],
            20,
            {},
        ),
        (
            "GD on Rosenbrock, the two largest η end at nan",
            optimizers.gd,
            rosenbrock,
            [1e-4, 1e-3, 3e-3, 1e-2],
            50,
            {},
        ),
        (
            "GD on the course quadratic, 400 steps: f − f* ends small, at 6e117, at inf "
            "(x finite, f overflowed) and at nan",
            optimizers.gd,
            course_quadratic,
            [0.1, 0.6, 1.0, 2.0],
            400,
            {},
        ),
        (
            "momentum, γ = 0.5, on the double well (f* ≠ 0)",
            optimizers.momentum,
            double_well,
            [0.005, 0.02, 0.05],
            40,
            {"gamma": 0.5},
        ),
        (
            "RMSprop, ρ = 0.9, on Rosenbrock, five η",
            optimizers.rmsprop,
            rosenbrock,
            list(np.geomspace(1e-3, 0.3, 5)),
            60,
            {"rho": 0.9, "eps": 1e-8},
        ),
    ]
    return [
        Case(
            name,
            (
                Budget(step, "step", limit=2 * steps * len(lrs) + 100),
                problem,
                np.array(lrs),
                steps,
            ),
            _sweep_reference(step, problem, lrs, steps, **hp),
            kwargs=hp,
            hint=SWEEP,
            rtol=1e-9,
            atol=1e-12,
            diagnose=_sweep_hint(step, problem, lrs, steps, hp),
            on_error=_broadcast,
        )
        for name, step, problem, lrs, steps, hp in sweeps
    ]


def evaluate_lr_sweep(fn):
    """Compare fn(step, problem, lrs, steps, **hp) with one separate run per η."""
    return evaluate_function(fn, lr_sweep_cases(), agree=" agree with one separate run per η.")


check_lr_sweep = printing(evaluate_lr_sweep)


# --- Exercise 3.3 (predict): the step after many equal gradients --------------------------------

RATIO_KEYS = ("Adagrad, t = 100", "Adagrad, t = 10000", "RMSprop, t = 10000")


@functools.lru_cache(maxsize=4)
def measured_step_ratios(g=(0.2, 4.0), rho=0.99):
    """The effective step size at step t over the first one, for a gradient g that never changes:
    {key of RATIO_KEYS: ratio}, measured from runs of the course's Adagrad and RMSprop."""
    g = np.asarray(g, dtype=float)
    out = {}
    for rule, step, hp in (
        ("Adagrad", optimizers.adagrad, dict(lr=1.0, eps=1e-10)),
        ("RMSprop", optimizers.rmsprop, dict(lr=1.0, rho=rho, eps=1e-8)),
    ):
        x, state, sizes = np.zeros_like(g), {}, []
        for _ in range(10000):
            x_new = step(x, lambda x: g, state, **hp)
            sizes.append((x - x_new)[0] / g[0])
            x = x_new
        for key in RATIO_KEYS:
            if key.startswith(rule):
                t = int(key.rsplit("=", 1)[1])
                out[key] = sizes[t - 1] / sizes[0]
    return out


def _ratio_diagnosis(key):
    """diagnose(got, expected) for one prediction: names the usual slips by their values."""
    t = int(key.rsplit("=", 1)[1])
    if key.startswith("Adagrad"):
        slips = [
            (
                1 / t,
                "that is 1/t: the step divides by √s, and s = t g² grows like t, so the "
                "step falls like 1/√t.",
            ),
            (1.0, "Adagrad's s is a sum: it grows by g² at every step, so the step shrinks."),
        ]
    else:
        slips = [
            (
                1.0,
                "RMSprop's average starts at zero: after one step s = (1 − ρ)g², so the "
                "first step is 1/√(1 − ρ) times the step once s has settled at g².",
            ),
            (
                1 / np.sqrt(t),
                "that is Adagrad's 1/√t: RMSprop's average does not grow like "
                "a sum; it settles at g².",
            ),
        ]

    def diagnose(got, expected):
        for value, text in slips:
            if np.allclose(got, value, rtol=0.1):
                return text
        return ""

    return diagnose


def evaluate_step_ratio(prediction, rtol=0.1):
    """Compare a prediction {key of RATIO_KEYS: step at t / first step} with the measured
    ratios; a prediction within rtol passes."""
    name = "step_ratio"
    keys = ", ".join(f'"{k}"' for k in RATIO_KEYS)
    if not isinstance(prediction, dict) or set(prediction) != set(RATIO_KEYS):
        got = sorted(prediction) if isinstance(prediction, dict) else type(prediction).__name__
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected a dict with the keys {keys}; got {got}.",
                "  hint: one number for each, a fraction of the first step's size.",
            ],
        )
    measured = measured_step_ratios()
    hint = (
        "with a gradient g that never changes, Adagrad's s after t steps is t g²; RMSprop's is "
        "(1 − ρ^t) g², which starts at (1 − ρ) g² and settles at g². The step size is η/√s."
    )
    cases = [
        Case(
            key,
            (key,),
            measured[key],
            hint=hint,
            rtol=rtol,
            atol=0.0,
            diagnose=_ratio_diagnosis(key),
            source="measured",
        )
        for key in RATIO_KEYS
    ]
    report = evaluate_function(lambda key: prediction[key], cases, name=name)
    if report:
        return Report(
            name,
            True,
            [
                f"✔ {name}: your predictions are within {rtol:.0%} of the measured ratios: "
                + ", ".join(f"{k}: {measured[k]:.3g}" for k in RATIO_KEYS)
                + ". Adagrad's step falls like 1/√t; RMSprop's first step was 1/√(1 − ρ) "
                "times too long."
            ],
        )
    return report


check_step_ratio = printing(evaluate_step_ratio)


# --- Exercise 3.5 (diagnose): which rule made which run? ---------------------------------------

RULES = ("Adagrad", "RMSprop", "Adadelta", "gradient descent")
_MYSTERY = {"A": "RMSprop", "B": "gradient descent", "C": "Adagrad", "D": "Adadelta"}
_SIGNATURES = {
    "Adagrad": "its step sizes fall along a straight line of slope −½ on the log-log plot from "
    "the first step on: s is a sum that grows like t, so the step falls like 1/√t.",
    "RMSprop": "its step sizes start high, fall, and level off after a few hundred steps: the "
    "average starts at zero (the first steps are too long) and settles at g².",
    "Adadelta": "its steps start tiny, at √(ε/(1 − ρ)) over the gradient, and grow: u, the "
    "average of the past squared updates, builds up from ε.",
    "gradient descent": "its step size is the same in both coordinates and never changes: η, "
    "whatever the gradients. It does not adapt at all.",
}


def _mystery_slope():
    c = np.array([1.0, 10.0])
    return c, (lambda x: c * x / np.sqrt(1 + x**2))


def adaptive_mystery_runs(steps=1000):
    """Exercise 3.5's runs on a long slope: their effective step sizes (x_t − x_{t+1}) / g_t,
    shape (steps, 2), keyed "A" … "D" (which rule made which is the exercise)."""
    _, grad = _mystery_slope()
    settings = {
        "Adagrad": (optimizers.adagrad, dict(lr=2.0, eps=1e-10)),
        "RMSprop": (optimizers.rmsprop, dict(lr=0.3, rho=0.99, eps=1e-8)),
        "Adadelta": (optimizers.adadelta, dict(lr=1.0, rho=0.9, eps=1e-6)),
        "gradient descent": (optimizers.gd, dict(lr=0.05)),
    }
    out = {}
    for letter, rule in _MYSTERY.items():
        step, hp = settings[rule]
        x, state, sizes = np.array([-800.0, -800.0]), {}, []
        for _ in range(steps):
            g = grad(x)
            x_new = step(x, grad, state, **hp)
            sizes.append(np.abs((x - x_new) / g))
            x = x_new
        out[letter] = np.array(sizes)
    return out


def _rule_named(answer):
    """The rule of RULES that an answer names ("gd" and "GD" are gradient descent), or None."""
    word = str(answer).strip().lower()
    if word in ("gd", "gradient descent", "sgd"):
        return "gradient descent"
    return next((rule for rule in RULES if rule.lower() == word), None)


def evaluate_adaptive_diagnosis(diagnosis):
    """Compare a dict {run: rule} with the rules that made ``adaptive_mystery_runs``."""
    name = "diagnosis"
    if not isinstance(diagnosis, dict) or set(diagnosis) != set(_MYSTERY):
        got = sorted(diagnosis) if isinstance(diagnosis, dict) else type(diagnosis).__name__
        return Report(
            name,
            False,
            [
                f'✘ {name}: expected a dict with the keys "A", "B", "C", "D"; got {got}.',
                '  hint: one rule for each run, e.g. {"A": "Adagrad", …}.',
            ],
        )
    for i, (run, rule) in enumerate(_MYSTERY.items(), 1):
        title = f"{i}/{len(_MYSTERY)} (run {run})"
        got = _rule_named(diagnosis[run])
        if got is None:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: {diagnosis[run]!r} is not one of "
                    + ", ".join(map(repr, RULES))
                    + "."
                ],
            )
        if got != rule:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}",
                    f"  expected {rule!r}",
                    f"  got      {got!r}",
                    f"  hint: look at run {run} again: {_SIGNATURES[rule]}",
                ],
            )
    lines = [f"✔ {name}: {len(_MYSTERY)} runs, each rule named by its step sizes:"]
    lines += [f"  · run {run}: {rule}" for run, rule in _MYSTERY.items()]
    return Report(name, True, lines)


check_adaptive_diagnosis = printing(evaluate_adaptive_diagnosis)


# --- Exercise 3.7 (design): the same run in other units ----------------------------------------

EPS_FORMS = ("inside", "outside")
_TUNED = {"inside": 0.01, "outside": 0.1}  # ε of each form on the course quadratic
SCALE = 1e-6  # the objective becomes SCALE · f


def _rmsprop_outside(x, grad, state, lr, rho, eps):
    """torch.optim.RMSprop's form: x ← x − η g / (√s + ε)."""
    g = grad(x)
    s = state["s"] = rho * state.get("s", np.zeros_like(x)) + (1 - rho) * g * g
    return x - lr * g / (np.sqrt(s) + eps)


def _rescaled_path(form, eps, scale=1.0, steps=50):
    """RMSprop's iterates (η = 0.1, ρ = 0.9) in one form on scale × the course quadratic."""
    step = optimizers.rmsprop if form == "inside" else _rmsprop_outside
    A = scale * np.diag(course_quadratic.eigenvalues)
    x, state, xs = course_quadratic.x0.copy(), {}, [course_quadratic.x0.copy()]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            x = step(x, lambda x: x @ A, state, lr=0.1, rho=0.9, eps=eps)
            xs.append(x)
    return np.array(xs)


def rescaled_eps():
    """The ε of each form that gives exactly the same run on SCALE · f as _TUNED on f: ε is
    added to s (units of g²) inside the root, to √s (units of g) outside."""
    return {"inside": _TUNED["inside"] * SCALE**2, "outside": _TUNED["outside"] * SCALE}


def _eps_hint(form, got):
    tuned, right = _TUNED[form], rescaled_eps()[form]
    other = tuned * (SCALE if form == "inside" else SCALE**2)
    if np.isclose(got, right, rtol=0.01, atol=0):
        return (
            "close, but not exact: multiply the tuned ε by the factor its units scale by, and "
            "the run is the same to rounding."
        )
    if np.isclose(got, tuned, rtol=1e-3, atol=0):
        return (
            "that is the ε tuned for f, unchanged: next to the new s it is far too large, and "
            "the run crawls (section 4's floor)."
        )
    if np.isclose(got, other, rtol=1e-3, atol=0):
        return (
            "inside the root ε is added to s, an average of g², which scales like g²: by (10⁻⁶)²."
            if form == "inside"
            else "outside the root ε is added to √s, which scales like g: by 10⁻⁶, not its square."
        )
    if got < right:
        return "too small: the floor then sits lower than it did on f, so the runs differ late."
    return "ε must scale like what it is added to: s (units of g²) inside, √s (units of g) outside."


def evaluate_eps_rescaled(design, rtol=1e-6):
    """Run RMSprop in both forms on 10⁻⁶ f with a design {"inside": ε, "outside": ε}, and
    compare the paths with the runs on f with the tuned ε."""
    name = "eps_for_small_f"
    if not isinstance(design, dict) or set(design) != set(EPS_FORMS):
        got = sorted(design) if isinstance(design, dict) else type(design).__name__
        return Report(
            name,
            False,
            [
                f'✘ {name}: expected a dict with the keys "inside", "outside"; got {got}.',
                '  hint: one ε for each form, e.g. {"inside": 1e-9, "outside": 1e-9}.',
            ],
        )
    right = rescaled_eps()
    for i, form in enumerate(EPS_FORMS, 1):
        title = f"{i}/2 (ε {form} the root, η = 0.1, ρ = 0.9, on 10⁻⁶ f)"
        try:
            eps = float(design[form])
        except (TypeError, ValueError):
            return Report(
                name, False, [f"✘ {name}: case {title}: {design[form]!r} is not a number."]
            )
        target = _rescaled_path(form, _TUNED[form])
        path = _rescaled_path(form, eps, scale=SCALE)
        off = np.max(np.abs(path - target)) if np.all(np.isfinite(path)) else np.inf
        if not off <= rtol * np.max(np.abs(target)):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: the path differs from the run on f by up to "
                    f"{off:.2g} in 50 steps",
                    f"  expected ε = {right[form]:.6g}",
                    f"  got      ε = {eps:.6g}",
                    f"  hint: {_eps_hint(form, eps)}",
                ],
            )
    return Report(
        name,
        True,
        [
            f"✔ {name}: both forms take exactly the path they took on f: ε = "
            f"{right['inside']:.3g} inside (ε scales like s, by (10⁻⁶)²) and "
            f"{right['outside']:.3g} outside (like √s, by 10⁻⁶)."
        ],
    )


check_eps_rescaled = printing(evaluate_eps_rescaled)
