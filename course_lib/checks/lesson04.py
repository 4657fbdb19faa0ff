"""Lesson 04 (the Adam family): where AdamW comes to rest (Exercise 4.7). The six update
rules are checked by ``steps.check_step`` against torch.optim."""

import numpy as np

from .engine import Case, evaluate_function, printing

# --- Exercise 4.7: AdamW's rest point -------------------------------------------------------


def adamw_rest_point(a, b, lr, weight_decay):
    """Where deterministic AdamW (ε → 0) stops on f = Σ ½aᵢxᵢ² − bᵢxᵢ: the minimum of f in
    the box |xᵢ| ≤ 1/λ, whatever η (Xie & Li 2024)."""
    return np.clip(b / a, -1 / weight_decay, 1 / weight_decay)


def _rest_point_diagnosis(a, b, lr, weight_decay):
    """diagnose(got, expected) for one case: names the rest points of the usual slips."""
    c = b / a
    slips = [
        (
            b / (a + weight_decay),
            "that is Adam + L2's rest point, the minimum of f + λ‖x‖²/2. AdamW's decay is "
            "not part of the gradient: at rest m̂ = g and v̂ = g², so λx = −g/|g| wherever g ≠ 0.",
        ),
        (
            np.minimum(c, 1 / weight_decay),
            "the box has two sides: |xᵢ| ≤ 1/λ, i.e. −1/λ ≤ xᵢ ≤ 1/λ (a negative minimum is held at −1/λ).",
        ),
        (
            c,
            "that is the minimum of f: it is AdamW's rest point only when it lies in the box "
            "|xᵢ| ≤ 1/λ. Where g ≠ 0 at rest, λxᵢ = −gᵢ/|gᵢ| = ±1.",
        ),
        (
            np.clip(c, -1 / (lr * weight_decay), 1 / (lr * weight_decay)),
            "η multiplies both terms of the update, x(1 − ηλ) − η m̂/√v̂: it cancels from the "
            "rest-point equation. The box is |xᵢ| ≤ 1/λ, not 1/(ηλ).",
        ),
        (
            np.sign(c) / weight_decay,
            "not every coordinate ends on the box's edge: where the minimum of f lies inside "
            "the box, g = 0 there and m̂/√v̂ can take any value in [−1, 1].",
        ),
        (
            np.clip(c, -weight_decay, weight_decay),
            "at rest λxᵢ = −m̂ᵢ/√v̂ᵢ lies in [−1, 1]: the box is |xᵢ| ≤ 1/λ, not λ.",
        ),
    ]

    def diagnose(got, expected):
        for value, text in slips:
            if got.shape == value.shape and np.allclose(got, value, rtol=1e-6, atol=1e-9):
                return text
        return ""

    return diagnose


def adamw_rest_point_cases():
    """fn(a, b, lr, weight_decay) → x; expected: the minimum of f in the box |xᵢ| ≤ 1/λ."""
    hint = (
        "at a rest point of a deterministic run m̂ = g and v̂ = g², so the update "
        "x(1 − ηλ) − η m̂/(√v̂ + ε) = x needs λx = −g/(|g| + ε), coordinate by coordinate."
    )
    specs = [
        (
            "the lesson's quadratic: minimum (3, 0.5), λ = 0.5, η = 0.05",
            [10, 0.1],
            [30, 0.05],
            0.05,
            0.5,
        ),
        ("the minimum inside the box: λ = 0.1", [10, 0.1], [30, 0.05], 0.05, 0.1),
        (
            "negative coordinates, 3-D: minimum (−4, 1.5, −0.2), λ = 0.5",
            [2, 1, 5],
            [-8, 1.5, -1],
            0.01,
            0.5,
        ),
        ("η = 0.5: minimum (1.5, −6), λ = 0.5", [1, 4], [1.5, -24], 0.5, 0.5),
    ]
    cases = []
    for name, a, b, lr, lam in specs:
        a, b = np.array(a, dtype=float), np.array(b, dtype=float)
        diagnose = _rest_point_diagnosis(a, b, lr, lam)
        expected = adamw_rest_point(a, b, lr, lam)
        cases.append(Case(name, (a, b, lr, lam), expected, hint=hint, diagnose=diagnose, rtol=1e-6))
    return cases


def evaluate_adamw_rest_point(fn):
    """Compare fn(a, b, lr, weight_decay) with AdamW's rest point on diagonal quadratics."""
    return evaluate_function(fn, adamw_rest_point_cases())


check_adamw_rest_point = printing(evaluate_adamw_rest_point)
