"""Lesson 04 (the Adam family): Adam's first step (Exercise 4.2), the first step without the
bias corrections (4.3) and three broken Adams (4.4). The update rules (4.1, 4.5–4.8) are
checked by ``steps.check_step`` against torch.optim and the AdaBelief authors' code."""

import numpy as np

from .engine import Case, Report, evaluate_function, evaluate_letters, printing

# --- Exercise 4.2: Adam's first step, derived -------------------------------------------------


def adam_first_step(g, lr, beta1, beta2, eps):
    """Adam's first step x_1 − x_0 for a gradient g at x_0: m̂_1 = g and ŝ_1 = g², so the
    β's cancel and every coordinate moves by η (ε aside) against its gradient."""
    return -lr * g / (np.abs(g) + eps)


def _first_step_diagnosis(g, lr, beta1, beta2, eps):
    """diagnose(got, expected) for one case: names the first steps of the usual slips."""
    a = np.abs(g)
    slips = [
        (
            -lr * g,
            "that is gradient descent's step, −ηg: Adam divides m̂_1 = g by √ŝ_1 + ε = |g| + ε.",
        ),
        (
            lr * g / (a + eps),
            "the step goes against the gradient: x_1 − x_0 = −η m̂_1/(√ŝ_1 + ε).",
        ),
        (
            -lr * np.sign(g),
            "right wherever |g| ≫ ε, but keep ε: the denominator is √ŝ_1 + ε = |g| + ε, which "
            "matters in the coordinates where |g| is comparable with ε.",
        ),
        (
            -lr * g / np.sqrt(g * g + eps),
            "ε goes outside the root in Adam: √ŝ_1 + ε = |g| + ε, not √(g² + ε).",
        ),
        (
            -lr * (1 - beta1) * g / (np.sqrt(1 - beta2) * a + eps),
            "that is the step without the bias corrections: m̂_1 = m_1/(1 − β₁) = g and "
            "ŝ_1 = s_1/(1 − β₂) = g².",
        ),
        (
            -lr * g / (np.sqrt(1 - beta2) * a + eps),
            "only m is corrected there: ŝ_1 = s_1/(1 − β₂) = g² as well.",
        ),
        (
            -lr * (1 - beta1) * g / (a + eps),
            "only s is corrected there: m̂_1 = m_1/(1 − β₁) = g as well.",
        ),
    ]

    def diagnose(got, expected):
        if got.shape != np.shape(expected):
            return "return the step of every coordinate: an array shaped like g."
        for value, text in slips:
            if np.allclose(got, value, rtol=1e-6, atol=1e-12):
                return text
        return ""

    return diagnose


def adam_first_step_cases():
    """fn(g, lr, beta1, beta2, eps) → x_1 − x_0, shaped like g."""
    hint = (
        "at t = 1, m_1 = (1 − β₁)g and s_1 = (1 − β₂)g² (both averages start at 0); the bias "
        "corrections divide them by 1 − β₁ and 1 − β₂; then x_1 = x_0 − η m̂_1/(√ŝ_1 + ε)."
    )
    specs = [
        ("one coordinate, g = 3, PyTorch's defaults", [3.0], 1e-3, 0.9, 0.999, 1e-8),
        (
            "gradients of very different sizes, β₁ = 0.5, β₂ = 0.9",
            [1000.0, -0.5, 2e-3],
            0.01,
            0.5,
            0.9,
            1e-8,
        ),
        ("gradients as small as ε = 10⁻⁸", [1e-8, -3e-8, 0.0], 1.0, 0.9, 0.999, 1e-8),
        (
            "g of shape (2, 2), β₁ = 0, β₂ = 0.99, ε = 0.1",
            [[2.0, -0.05], [0.3, -7.0]],
            0.1,
            0.0,
            0.99,
            0.1,
        ),
    ]
    cases = []
    for name, g, lr, b1, b2, eps in specs:
        g = np.array(g, dtype=float)
        cases.append(
            Case(
                name,
                (g, lr, b1, b2, eps),
                adam_first_step(g, lr, b1, b2, eps),
                hint=hint,
                diagnose=_first_step_diagnosis(g, lr, b1, b2, eps),
                rtol=1e-6,
                atol=1e-12,
            )
        )
    return cases


def evaluate_adam_first_step(fn):
    """Compare fn(g, lr, beta1, beta2, eps) with Adam's first step, x_1 − x_0."""
    return evaluate_function(fn, adam_first_step_cases())


check_adam_first_step = printing(evaluate_adam_first_step)


# --- Exercise 4.3: the first step without bias correction, predicted -----------------------------

FIRST_STEP_KEYS = ("neither corrected", "only m corrected", "only s corrected")


def uncorrected_first_steps(beta1=0.9, beta2=0.999):
    """The first step, in units of η, of Adam with its corrections left out, from the averages
    after one step (g = 1, ε = 0): {key of FIRST_STEP_KEYS: |x_1 − x_0| / η}."""
    g = 1.0
    m, s = (1 - beta1) * g, (1 - beta2) * g * g  # the averages after one step, from 0
    m_hat, s_hat = m / (1 - beta1), s / (1 - beta2)
    return {
        "neither corrected": m / np.sqrt(s),
        "only m corrected": m_hat / np.sqrt(s),
        "only s corrected": m / np.sqrt(s_hat),
    }


def _first_step_hints(beta1, beta2):
    m_hint = f"m_1 = (1 − β₁)g = {1 - beta1:g} g is too small by 1 − β₁"
    s_hint = (
        f"s_1 = (1 − β₂)g² = {1 - beta2:g} g², so √s_1 = {np.sqrt(1 - beta2):.4g} |g| is too "
        "small by √(1 − β₂), and it divides"
    )
    return {
        "neither corrected": f"{m_hint}; {s_hint}: the two do not cancel.",
        "only m corrected": f"m̂_1 = g exactly; {s_hint}.",
        "only s corrected": f"ŝ_1 = g² exactly; {m_hint}.",
    }


def evaluate_uncorrected_first_step(prediction, beta1=0.9, beta2=0.999, rtol=0.1):
    """Compare a prediction {key: first step in units of η} (keys FIRST_STEP_KEYS) with the
    measured first steps of Adam without its corrections; a prediction within rtol passes."""
    name = "first_step_in_eta"
    keys = ", ".join(f'"{k}"' for k in FIRST_STEP_KEYS)
    if not isinstance(prediction, dict) or set(prediction) != set(FIRST_STEP_KEYS):
        got = sorted(prediction) if isinstance(prediction, dict) else type(prediction).__name__
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected a dict with the keys {keys}; got {got}.",
                "  hint: one number for each of the three, e.g. "
                '{"neither corrected": …, "only m corrected": …, "only s corrected": …}.',
            ],
        )
    measured = uncorrected_first_steps(beta1, beta2)
    hints = _first_step_hints(beta1, beta2)
    cases = [
        Case(
            f"{key}, β₁ = {beta1}, β₂ = {beta2}",
            (key,),
            measured[key],
            hint=hints[key],
            rtol=rtol,
            source="measured, |x_1 − x_0|/η",
        )
        for key in FIRST_STEP_KEYS
    ]
    report = evaluate_function(lambda key: prediction[key], cases, name=name)
    if report:
        return Report(
            name,
            True,
            [
                f"✔ {name}: your three predictions are within {rtol:.0%} of the measured first "
                "steps (in units of η): "
                + ", ".join(f"{k} {measured[k]:.3g}" for k in FIRST_STEP_KEYS)
                + "."
            ],
        )
    return report


check_uncorrected_first_step = printing(evaluate_uncorrected_first_step)


# --- Exercise 4.4: three broken Adams, diagnosed ------------------------------------------------

SLIPS = ("eps inside the root", "no bias correction", "betas swapped")


def _adam_with(slip):
    """Adam with one of SLIPS (a step function under the course's contract)."""

    def step(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        if slip == "betas swapped":
            beta1, beta2 = beta2, beta1
        g = grad(x)
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
        s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * g * g
        if slip == "no bias correction":
            return x - lr * m / (np.sqrt(s) + eps)
        m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
        if slip == "eps inside the root":
            return x - lr * m_hat / np.sqrt(s_hat + eps)
        return x - lr * m_hat / (np.sqrt(s_hat) + eps)

    return step


BROKEN = {"A": "no bias correction", "B": "betas swapped", "C": "eps inside the root"}


def broken_adams():
    """Three step functions, {"A": …, "B": …, "C": …}: each is Adam with one slip of SLIPS."""
    steps = {}
    for letter, slip in BROKEN.items():
        steps[letter] = _adam_with(slip)
        steps[letter].__name__ = f"adam_{letter}"
    return steps


TELLS = {
    "eps inside the root": (
        "ε inside the root, √(ŝ + ε), only matters where ŝ is comparable with ε = 10⁻⁸, i.e. "
        "gradients near √ε = 10⁻⁴: on f that run is Adam itself; on 10⁻⁶ f it crawls. Which run "
        "changes between the two panels?"
    ),
    "no bias correction": (
        "without the corrections the first steps are (1 − β₁)/√(1 − β₂) ≈ 3.2 times η and "
        "more (Exercise 4.3), on every scale: whose first steps are longer than η?"
    ),
    "betas swapped": (
        "with β₁ = 0.999 the momentum averages the last thousand gradients: that run keeps "
        "swinging past the minimum and does not settle, on either scale."
    ),
}


def evaluate_broken_adams(diagnosis):
    """Compare a diagnosis {slip of SLIPS: "A", "B" or "C"} with the slips of broken_adams()."""
    return evaluate_letters(
        "diagnosis",
        diagnosis,
        BROKEN,
        TELLS,
        example="eps inside the root",
        solved="Each slip leaves its own trace: the scale, the first steps, the settling.",
    )


check_broken_adams = printing(evaluate_broken_adams)
