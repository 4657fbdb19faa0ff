"""Lesson 04b (Adam in practice): where AdamW comes to rest (Exercise 4b.2), how a noise floor
grows with the noise (4b.3) and which knob changed three runs of Adam (4b.4). AdamW's step
(4b.1) is checked by ``steps.check_step`` against torch.optim.AdamW."""

import functools

import numpy as np

from .. import optimizers
from ..problems import course_quadratic
from ..runners import Run, noise_floors, run
from .engine import Case, Report, evaluate_function, printing

# --- Exercise 4b.2: AdamW's rest point -------------------------------------------------------


def adamw_rest_point(a, b, lr, weight_decay):
    """Where deterministic AdamW (ε → 0) stops on f = Σ ½aᵢxᵢ² − bᵢxᵢ: the minimum of f in
    the box |xᵢ| ≤ 1/ω, whatever η (Xie & Li 2024)."""
    return np.clip(b / a, -1 / weight_decay, 1 / weight_decay)


def _rest_point_diagnosis(a, b, lr, weight_decay):
    """diagnose(got, expected) for one case: names the rest points of the usual slips."""
    c = b / a
    slips = [
        (
            b / (a + weight_decay),
            "that is Adam + L2's rest point, the minimum of f + ω‖x‖²/2. AdamW's decay is "
            "not part of the gradient: at rest m̂ = g and ŝ = g², so ωx = −g/|g| wherever g ≠ 0.",
        ),
        (
            np.minimum(c, 1 / weight_decay),
            "the box has two sides: |xᵢ| ≤ 1/ω, i.e. −1/ω ≤ xᵢ ≤ 1/ω (a negative minimum is held at −1/ω).",
        ),
        (
            c,
            "that is the minimum of f: it is AdamW's rest point only when it lies in the box "
            "|xᵢ| ≤ 1/ω. Where g ≠ 0 at rest, ωxᵢ = −gᵢ/|gᵢ| = ±1.",
        ),
        (
            np.clip(c, -1 / (lr * weight_decay), 1 / (lr * weight_decay)),
            "η multiplies both terms of the update, x(1 − ηω) − η m̂/√ŝ: it cancels from the "
            "rest-point equation. The box is |xᵢ| ≤ 1/ω, not 1/(ηω).",
        ),
        (
            np.sign(c) / weight_decay,
            "not every coordinate ends on the box's edge: where the minimum of f lies inside "
            "the box, g = 0 there and m̂/√ŝ can take any value in [−1, 1].",
        ),
        (
            np.clip(c, -weight_decay, weight_decay),
            "at rest ωxᵢ = −m̂ᵢ/√ŝᵢ lies in [−1, 1]: the box is |xᵢ| ≤ 1/ω, not ω.",
        ),
    ]

    def diagnose(got, expected):
        for value, text in slips:
            if got.shape == value.shape and np.allclose(got, value, rtol=1e-6, atol=1e-9):
                return text
        return ""

    return diagnose


def adamw_rest_point_cases():
    """fn(a, b, lr, weight_decay) → x; expected: the minimum of f in the box |xᵢ| ≤ 1/ω."""
    hint = (
        "at a rest point of a deterministic run m̂ = g and ŝ = g², so the update "
        "x(1 − ηω) − η m̂/(√ŝ + ε) = x needs ωx = −g/(|g| + ε), coordinate by coordinate."
    )
    specs = [  # name, a, b, η, ω
        ("the lesson's quadratic, minimum (3, 0.5)", [10, 0.1], [30, 0.05], 0.05, 0.5),
        ("the same with a wider box: the minimum inside", [10, 0.1], [30, 0.05], 0.05, 0.1),
        ("negative coordinates, in 3-D", [2, 1, 5], [-8, 1.5, -1], 0.01, 0.5),
        ("a large η", [1, 4], [1.5, -24], 0.5, 0.5),
    ]
    cases = []
    for name, a, b, lr, omega in specs:
        a, b = np.array(a, dtype=float), np.array(b, dtype=float)
        diagnose = _rest_point_diagnosis(a, b, lr, omega)
        expected = adamw_rest_point(a, b, lr, omega)
        cases.append(
            Case(name, (a, b, lr, omega), expected, hint=hint, diagnose=diagnose, rtol=1e-6)
        )
    return cases


def evaluate_adamw_rest_point(fn):
    """Compare fn(a, b, lr, weight_decay) with AdamW's rest point on diagonal quadratics."""
    return evaluate_function(fn, adamw_rest_point_cases())


check_adamw_rest_point = printing(evaluate_adamw_rest_point)


# --- Exercise 4b.3: how the noise floor grows when σ doubles ---------------------------------

FLOOR_KEYS = ("momentum", "Adam")
# The lesson's runs: momentum and Adam on the course quadratic, long enough for Adam's ŝ to
# forget the first, large gradients (at 300 steps it has not, and the growth depends on seeds).
FLOOR_RUNS = {
    "momentum": (optimizers.momentum, {"lr": 0.02, "gamma": 0.9}),
    "Adam": (optimizers.adam, {"lr": 0.1}),
}
FLOOR_SIGMAS = (0.5, 1.0, 2.0, 4.0)
FLOOR_SEEDS = tuple(range(10))


@functools.cache
def floor_growth():
    """{method: the factor its noise floor grows by when σ doubles}, measured: the geometric
    mean of the ratios over σ = 0.5 … 4, each floor averaged over ten seeds."""
    growth = {}
    for name, (step, hp) in FLOOR_RUNS.items():
        floors = noise_floors(
            step, course_quadratic, FLOOR_SIGMAS, FLOOR_SEEDS, steps=1000, last=300, **hp
        ).mean(axis=1)
        growth[name] = float((floors[-1] / floors[0]) ** (1 / (len(floors) - 1)))
    return growth


FLOOR_HINTS = {
    "momentum": (
        "momentum's step is proportional to the gradient, noise included: on a quadratic its "
        "iterates are a linear function of the noise, so their spread grows like σ and f − f*, "
        "a square, like σ²."
    ),
    "Adam": (
        "Adam divides by √ŝ ≈ √(∇f² + σ²), which is about σ where the noise dominates: its step "
        "per unit of gradient shrinks like 1/σ, so the floor, η × (step per unit) × σ², grows "
        "like σ."
    ),
}


def evaluate_noise_floor_growth(prediction, rtol=0.25):
    """Compare a prediction {"momentum": factor, "Adam": factor} (how much each noise floor
    grows when σ doubles) with the measured growth; within rtol passes."""
    name = "floor_growth"
    if not isinstance(prediction, dict) or set(prediction) != set(FLOOR_KEYS):
        got = sorted(prediction) if isinstance(prediction, dict) else type(prediction).__name__
        return Report(
            name,
            False,
            [
                f'✘ {name}: expected a dict with the keys "momentum" and "Adam"; got {got}.',
                '  hint: one factor for each, e.g. {"momentum": …, "Adam": …}.',
            ],
        )
    measured = floor_growth()
    for key in FLOOR_KEYS:
        try:
            value = float(prediction[key])
        except (TypeError, ValueError):
            value = np.nan
        if not abs(value - measured[key]) <= rtol * measured[key]:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {key}: you predicted {prediction[key]!r}; measured "
                    f"{measured[key]:.2f} (σ from 0.5 to 4, ten seeds each)",
                    f"  hint: {FLOOR_HINTS[key]}",
                ],
            )
    return Report(
        name,
        True,
        [
            f"✔ {name}: when σ doubles, momentum's floor grows {measured['momentum']:.1f}-fold "
            f"and Adam's {measured['Adam']:.1f}-fold (σ from 0.5 to 4, ten seeds each): "
            "your predictions are within 25 %."
        ],
    )


check_noise_floor_growth = printing(evaluate_noise_floor_growth)


# --- Exercise 4b.4: which knob? ----------------------------------------------------------------

KNOBS = ("lr", "beta1", "beta2", "eps")
BASE = {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
MYSTERY = {"A": ("eps", 1.0), "B": ("beta1", 0.99), "C": ("beta2", 0.9)}


def mystery_runs(steps=200):
    """Three runs of Adam on the course quadratic, {"A": Run, "B": Run, "C": Run}: each
    changes one knob of KNOBS from η = 0.1, β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸ (not said which)."""
    runs = {}
    for letter, (knob, value) in MYSTERY.items():
        r = run(optimizers.adam, course_quadratic, steps=steps, **{**BASE, knob: value})
        runs[letter] = Run(letter, r.xs, r.losses, f_star=r.f_star, steps=r.steps)
    return runs


KNOB_TELLS = {
    "eps": (
        "a large ε swamps √ŝ: the step becomes η m̂/ε, momentum SGD with a small learning "
        "rate. Which run moves like gradient descent (the steep direction first) and slowly?"
    ),
    "beta1": (
        "β₁ is momentum's memory: at 0.99 it averages a hundred gradients, and the iterate "
        "swings past the minimum in wide loops for a long time."
    ),
    "beta2": (
        "β₂ is the memory of the scale: at 0.9 ŝ follows the shrinking gradients, so the steps "
        "stay near η close to the minimum, and the run bounces at a floor instead of settling."
    ),
    "lr": "η is the same in the three runs.",
}


def evaluate_knob_diagnosis(diagnosis):
    """Compare a diagnosis {"A": knob, "B": knob, "C": knob} (knobs: "lr", "beta1", "beta2",
    "eps") with the knob each of mystery_runs() changed."""
    name = "knobs"
    if not isinstance(diagnosis, dict) or set(diagnosis) != set(MYSTERY):
        got = sorted(diagnosis) if isinstance(diagnosis, dict) else type(diagnosis).__name__
        return Report(
            name,
            False,
            [
                f'✘ {name}: expected a dict with the keys "A", "B" and "C"; got {got}.',
                '  hint: one knob for each run, e.g. {"A": "lr", "B": …, "C": …}, the knobs '
                'named as Adam\'s arguments: "lr", "beta1", "beta2", "eps".',
            ],
        )
    unknown = [v for v in diagnosis.values() if v not in KNOBS]
    if unknown:
        return Report(
            name,
            False,
            [
                f"✘ {name}: {unknown[0]!r} is not one of Adam's knobs.",
                '  hint: name them as Adam\'s arguments: "lr", "beta1", "beta2", "eps".',
            ],
        )
    wrong = [k for k in MYSTERY if diagnosis[k] != MYSTERY[k][0]]
    if not wrong:
        said = ", ".join(f"{k}: {knob} = {value:g}" for k, (knob, value) in MYSTERY.items())
        return Report(name, True, [f"✔ {name}: {said}. Each knob leaves its own trace."])
    lines = [
        f"✘ {name}: {len(wrong)} of the 3 runs {'has' if len(wrong) == 1 else 'have'} another knob changed"
    ]
    for k in wrong:
        lines += [f"  run {k}: you said {diagnosis[k]!r}", f"  hint: {KNOB_TELLS[diagnosis[k]]}"]
    return Report(name, False, lines)


check_knob_diagnosis = printing(evaluate_knob_diagnosis)
