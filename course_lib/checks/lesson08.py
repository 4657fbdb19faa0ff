"""Lesson 08 (after Adam: sign, spectral and Kronecker steps): the steepest step under a norm
(Exercise 8.1), Lion (8.2), the Newton–Schulz iteration (8.3) and the singular values it
makes (8.4), Shampoo's preconditioned direction (8.5); and ``evaluate_rule``, which runs any
of lesson 08's rules on the reference trajectories of lion-pytorch, torch.optim,
pytorch-optimizer and schedulefree (tools/make_reference.py, section "after_adam")."""

import inspect

import numpy as np

from .. import optimizers
from ..contract import InputError, name_of
from ..data import load_references
from ..matrix_optimizers import NS_COEFFICIENTS, matrix_power, newton_schulz, steepest_step
from ..mlp import MLP
from .engine import (
    INPLACE,
    Case,
    Report,
    call_student,
    evaluate_function,
    evaluate_trajectories,
    fmt,
    printing,
)
from .steps import problem_from_spec, recognise

# --- the reference trajectories of lessons 08 and 08b ----------------------------------------


def after_adam_problem(spec, step=None):
    """(gradient, extras) of an "after_adam" reference case: an elementwise quadratic, or a
    small tanh network on its stored data (full batch), whose param_shapes go to a step
    that declares them."""
    if spec["kind"] != "network":
        return problem_from_spec(spec), {}
    net = MLP(np.array(spec["X"]), np.array(spec["y"]), sizes=spec["sizes"], activation="tanh")
    takes = step is not None and "param_shapes" in inspect.signature(step).parameters
    return net.grad, ({"param_shapes": net.param_shapes} if takes else {})


def evaluate_rule(fn, rule=None, diagnose=None, identify=None):
    """Run step ``fn`` on the "after_adam" reference cases of ``rule`` (default: fn's name)."""
    rules = load_references("after_adam")["rules"]
    rule = rule or name_of(fn)
    if rule not in rules:
        raise InputError(
            f"no reference trajectories for a rule named {rule!r}: name your function like one "
            f"of {sorted(rules)}, or pass the rule, e.g. check_rule(my_step, 'lion')"
        )
    make = lambda spec: after_adam_problem(spec, fn)
    return evaluate_trajectories(fn, rules[rule], make, diagnose=diagnose, identify=identify)


check_rule = printing(evaluate_rule)


# --- Exercise 8.1: the steepest step under a norm --------------------------------------------

NORMS = {  # name → (the norm of d, the dual norm of g: the steepest descent reaches −dual)
    "l2": (lambda d: np.sqrt(np.sum(d * d)), lambda g: np.sqrt(np.sum(g * g))),
    "linf": (lambda d: np.max(np.abs(d)), lambda g: np.sum(np.abs(g))),
    "l1": (lambda d: np.sum(np.abs(d)), lambda g: np.max(np.abs(g))),
}
SYMBOL = {"l2": "ℓ2", "linf": "ℓ∞", "l1": "ℓ1"}


def _steepest_slips(g, norm):
    """(d, what to say) for the usual wrong answers on gradient g under ``norm``."""
    big = np.zeros_like(g)
    i = np.unravel_index(np.argmax(g), g.shape)
    big[i] = -1.0
    slips = [
        (
            -steepest_step(g, norm),
            "that step goes uphill: gᵀd > 0. Descent needs the minus sign.",
        ),
        (
            -g / np.linalg.norm(g),
            "that is the ℓ2 answer, −g/‖g‖₂: under another norm the unit ball has another shape, "
            "and its lowest point along g is elsewhere (a corner).",
        ),
        (
            -np.sign(g),
            "that is the ℓ∞ answer, −sign(g): its norm ‖d‖₁ is the number of coordinates, not 1.",
        ),
        (
            -g / np.max(np.abs(g)),
            "−g/‖g‖∞ lies in the ℓ∞ ball but not at its lowest point: every coordinate can "
            "move a full unit, d = −sign(g), whatever the size of its gradient.",
        ),
        (
            -g / np.sum(np.abs(g)),
            "−g/‖g‖₁ lies in the ℓ1 ball but spreads the unit over every coordinate: all of it "
            "on the coordinate of largest |g| goes further down.",
        ),
        (
            big,
            "the largest |gᵢ| counts, whatever its sign: argmax of np.abs(g), and dᵢ = −sign(gᵢ).",
        ),
    ]
    return slips


def steepest_cases():
    """(name, g, norm): no ties, except where a zero gradient leaves a coordinate free."""
    return [
        ("ℓ∞, g = (3, −0.5)", np.array([3.0, -0.5]), "linf"),
        ("ℓ1, g = (3, −0.5)", np.array([3.0, -0.5]), "l1"),
        ("ℓ1, g = (0.2, −4, 1): the largest |gᵢ| is negative", np.array([0.2, -4.0, 1.0]), "l1"),
        ("ℓ∞ on a 2×3 array", np.array([[0.5, -2.0, 1e-3], [-0.1, 4.0, 0.3]]), "linf"),
        ("ℓ1 on a 2×3 array", np.array([[0.5, -2.0, 1e-3], [-0.1, 4.0, 0.3]]), "l1"),
        ("ℓ2, g = (3, 4)", np.array([3.0, 4.0]), "l2"),
        ("ℓ∞, g = (2, 0, −1): any d₂ in [−1, 1] is steepest", np.array([2.0, 0.0, -1.0]), "linf"),
    ]


def evaluate_steepest_step(fn):
    """Check fn(g, norm) → d: ‖d‖ ≤ 1 and gᵀd = −(the dual norm of g), every steepest d accepted."""
    name = name_of(fn)
    cases = steepest_cases()
    for i, (case_name, g, norm) in enumerate(cases, 1):
        title = f"{i}/{len(cases)} ({case_name})"
        given = g.copy()
        got, failed = call_student(fn, name, title, given, norm)
        if failed is not None:
            return failed
        if not np.array_equal(given, g):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: {name}() changed its argument `g` in place",
                    f"  hint: {INPLACE}",
                ],
            )
        d = np.asarray(got, dtype=float) if np.size(got) == g.size else None
        size, dual = NORMS[norm]
        if d is None or d.shape != g.shape:
            shape = np.shape(got)
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title} returned shape {shape}; expected {g.shape}, like g.",
                    "  hint: return an array shaped like g (use array operations on all of g).",
                ],
            )
        value, best = float(np.sum(g * d)), -float(dual(g))
        if size(d) <= 1 + 1e-9 and value <= best + 1e-9 * abs(best):
            continue
        lines = [
            f"✘ {name}: case {title}",
            f"  expected a d with ‖d‖ ≤ 1 and gᵀd = {best:.6g}, e.g. {fmt(steepest_step(g, norm))}",
            f"  got      d = {fmt(d)}: ‖d‖ = {size(d):.6g}, gᵀd = {value:.6g}",
        ]
        for slip, text in _steepest_slips(g, norm):
            if np.allclose(d, slip, rtol=1e-7, atol=1e-10):
                lines.append(f"  hint: {text}")
                break
        else:
            lines.append(
                f"  hint: under {SYMBOL[norm]} the unit ball's lowest point along g is the "
                "answer: look at where a linear function is smallest on that ball."
            )
        return Report(name, False, lines)
    lines = [f"✔ {name}: {len(cases)} cases, each a steepest unit step."]
    return Report(name, True, lines + [f"  · {c[0]}" for c in cases])


check_steepest_step = printing(evaluate_steepest_step)

# --- Exercise 8.2: Lion -------------------------------------------------------------------------


def _lion(slip):
    """Lion with one slip, replayed by identify()."""

    def lion(x, grad, state, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0):
        b1, b2 = (beta2, beta1) if slip == "swap" else (beta1, beta2)
        g = grad(x) + (weight_decay * x if slip == "l2" else 0.0)
        m_old = state.get("m", np.zeros_like(x))
        m = state["m"] = b2 * m_old + (1 - b2) * g
        c = {"m first": b1 * m + (1 - b1) * g, "sign of m": m}.get(slip, b1 * m_old + (1 - b1) * g)
        decay = {"l2": 0.0, "decay without lr": weight_decay}.get(slip, lr * weight_decay)
        return x * (1 - decay) - lr * (c if slip == "no sign" else np.sign(c))

    return lion


LION_SLIPS = [
    (
        _lion("m first"),
        None,
        "m is updated before the sign: the step uses c = β1 m + (1 − β1) g with the *old* m, "
        "and only then m ← β2 m + (1 − β2) g.",
    ),
    (
        _lion("sign of m"),
        None,
        "the sign is of m itself (updated with β2): Lion's sign is of the mix "
        "c = β1 m + (1 − β1) g, a different average from the one it keeps.",
    ),
    (_lion("swap"), None, "β1 and β2 are swapped: β1 mixes m and g for the sign, β2 decays m."),
    (
        _lion("l2"),
        None,
        "that is an L2 term, g + ωx: Lion's decay is decoupled, x ← x(1 − ηω) − η sign(c).",
    ),
    (_lion("decay without lr"), None, "the decay is multiplied by η: x(1 − ηω), not x(1 − ω)."),
    (
        _lion("no sign"),
        None,
        "the step is η sign(c), not η c: every coordinate moves by exactly η (np.sign).",
    ),
    (
        lambda x, grad, state, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0: optimizers.adamw(
            x, grad, state, lr=lr, weight_decay=weight_decay
        ),
        None,
        "that is AdamW: Lion keeps only m, and steps by η sign(c).",
    ),
]


def evaluate_lion(fn):
    """Run a Lion step on lion-pytorch's reference trajectories."""
    return evaluate_rule(fn, "lion", identify=recognise(LION_SLIPS))


check_lion = printing(evaluate_lion)

# --- Exercise 8.3: the Newton–Schulz iteration -------------------------------------------------


def _ns_variant(normalise="fro", coefficients=NS_COEFFICIENTS, fixed_steps=None):
    def ns(g, steps=5, eps=1e-7):
        a, b, c = coefficients
        tall = g.shape[0] > g.shape[1]
        o = g.T if tall else g
        if normalise == "fro":
            o = o / max(np.linalg.norm(o), eps)
        elif normalise == "spectral":
            o = o / max(np.linalg.norm(o, 2), eps)
        for _ in range(fixed_steps or steps):
            gram = o @ o.T
            o = a * o + (b * gram + c * gram @ gram) @ o
        return o.T if tall else o

    return ns


def _svd_orthogonal(g, steps=5, eps=1e-7):
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    return u @ vt


def _ns_diagnose(g, steps):
    slips = [
        (
            _ns_variant(normalise="spectral"),
            "divide by the Frobenius norm ‖g‖_F = √Σg², as Muon does (the spectral norm needs an "
            "SVD, which this iteration exists to avoid); then σ ≤ 1 all the same.",
        ),
        (
            _ns_variant(normalise=None),
            "start from g / max(‖g‖_F, ε): the iteration only behaves for σ ≤ 1, and blows up "
            "beyond.",
        ),
        (
            _ns_variant(coefficients=(1.5, -0.5, 0.0)),
            "that is the cubic Newton–Schulz iteration (1.5, −0.5): Muon's is the quintic "
            "a O + (b A + c A²) O with (a, b, c) = (3.4445, −4.7750, 2.0315).",
        ),
        (
            _ns_variant(coefficients=(3.4445, 2.0315, -4.7750)),
            "b and c are swapped: O ← a O + (b A + c A²) O, b = −4.7750 with A, c = 2.0315 with A².",
        ),
        (_ns_variant(fixed_steps=5), "use the argument `steps`, not 5."),
        (
            _svd_orthogonal,
            "that is U Vᵀ exactly, from an SVD: the exercise is the iteration, whose singular "
            "values only come near 1 (and is far cheaper on a GPU).",
        ),
    ]

    def diagnose(got, expected):
        for fn, text in slips:
            with np.errstate(all="ignore"):
                try:
                    value = fn(np.array(g), steps)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if got.shape == value.shape and np.allclose(got, value, 1e-6, 1e-9, equal_nan=True):
                return text
        return ""

    return diagnose


def newton_schulz_cases():
    """fn(g, steps) → O; expected: torch.optim.Muon's iteration, run in float64 (references)."""
    ref = load_references("after_adam")["rules"]["newton_schulz"]
    cases = []
    for c in ref["cases"]:
        g = np.array(c["g"], dtype=float)
        cases.append(
            Case(
                c["name"],
                (g, c["steps"]),
                np.array(c["expected"]),
                hint=c["hint"],
                rtol=1e-7,
                atol=1e-10,
                diagnose=_ns_diagnose(g, c["steps"]),
                source=ref["source"],
            )
        )
    return cases


def evaluate_newton_schulz(fn):
    """Compare fn(g, steps) with torch.optim.Muon's Newton–Schulz iteration (in float64)."""
    return evaluate_function(fn, newton_schulz_cases())


check_newton_schulz = printing(evaluate_newton_schulz)

# --- Exercise 8.4: the singular values Newton–Schulz makes ------------------------------------


def ns_singular_values(sigma, steps=5):
    """The singular values of newton_schulz(g) for a g with singular values sigma, largest first."""
    a, b, c = NS_COEFFICIENTS
    s = np.asarray(sigma, dtype=float) / np.sqrt(np.sum(np.square(sigma)))
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return np.sort(s)[::-1]


def _with_singular_values(sigma, seed):
    """A matrix (len(sigma) + 1) × len(sigma) with those singular values, random U and V."""
    rng = np.random.default_rng(seed)
    n = len(sigma)
    u = np.linalg.qr(rng.normal(size=(n + 1, n)))[0]
    v = np.linalg.qr(rng.normal(size=(n, n)))[0]
    return u @ np.diag(sigma) @ v.T


def _sv_diagnose(sigma, steps):
    sigma = np.asarray(sigma, dtype=float)
    a, b, c = NS_COEFFICIENTS

    def iterate(s, n):
        for _ in range(n):
            s = a * s + b * s**3 + c * s**5
        return s

    frob = sigma / np.sqrt(np.sum(sigma**2))
    with np.errstate(all="ignore"):  # unnormalised σ > 1 overflow: that slip's answer is inf
        unnormalised = np.sort(iterate(sigma, steps))[::-1]
    slips = [
        (
            np.ones_like(sigma),
            "Newton–Schulz with Muon's coefficients does not make every σ exactly 1: five "
            "steps of σ ↦ aσ + bσ³ + cσ⁵ leave them in a band around 1.",
        ),
        (
            np.sort(iterate(sigma / sigma.max(), steps))[::-1],
            "the iteration starts from g/‖g‖_F, the Frobenius norm √Σσ², not from g/σ_max.",
        ),
        (
            unnormalised,
            "the iteration starts from g/‖g‖_F: first divide every σ by √Σσ².",
        ),
        (
            iterate(frob, steps),
            "sort them, largest first: σ ↦ aσ + bσ³ + cσ⁵ is not monotone, so a smaller σ can "
            "come out larger.",
        ),
        (
            np.sort(iterate(frob, 1))[::-1],
            "iterate `steps` times: each step applies the polynomial once more.",
        ),
    ]

    def diagnose(got, expected):
        for value, text in slips:
            if got.shape == value.shape and np.allclose(got, value, 1e-6, 1e-9, equal_nan=True):
                return text
        return ""

    return diagnose


def ns_singular_values_cases():
    """fn(sigma, steps) → the singular values of newton_schulz(g), measured by an SVD."""
    cases = []
    for k, (name, sigma, steps) in enumerate(
        [
            ("σ = (3, 1, 0.1), 5 steps", [3.0, 1.0, 0.1], 5),
            ("four equal σ = 1: ‖g‖_F = 2", [1.0, 1.0, 1.0, 1.0], 5),
            ("σ = (10, 0.01): a tiny one", [10.0, 0.01], 5),
            ("σ = (2, 1.5, 1, 0.5), one step", [2.0, 1.5, 1.0, 0.5], 1),
            ("σ = (0.6, 0.5, 0.4, 0.3, 0.2), 3 steps", [0.6, 0.5, 0.4, 0.3, 0.2], 3),
        ]
    ):
        g = _with_singular_values(sigma, seed=k)
        measured = np.linalg.svd(newton_schulz(g, steps), compute_uv=False)
        cases.append(
            Case(
                name,
                (np.array(sigma), steps),
                measured,
                rtol=1e-6,
                atol=1e-9,
                diagnose=_sv_diagnose(sigma, steps),
                source="the SVD of newton_schulz(g)",
            )
        )
    return cases


def evaluate_ns_singular_values(fn):
    """Compare fn(sigma, steps) with the singular values of newton_schulz(g), by an SVD."""
    return evaluate_function(fn, ns_singular_values_cases())


check_ns_singular_values = printing(evaluate_ns_singular_values)

# --- Exercise 8.5: Shampoo's direction --------------------------------------------------------


def shampoo_direction(g, S_row, S_col):
    """Shampoo's preconditioned gradient S_row^(−1/4) g S_col^(−1/4)."""
    return matrix_power(S_row, -0.25) @ g @ matrix_power(S_col, -0.25)


def _spd(n, rng, scale=1.0):
    a = rng.normal(size=(n, n))
    return scale * (a @ a.T / n + 0.1 * np.eye(n))


def _shampoo_diagnose(g, S_row, S_col):
    root = lambda S, p: matrix_power(S, p)
    with np.errstate(all="ignore"):
        elementwise = S_row**-0.25 @ g @ S_col**-0.25
    slips = [
        (
            root(S_row, -0.5) @ g @ root(S_col, -0.5),
            "−1/2 on both sides counts the curvature twice: scale g by s and S_row, S_col grow "
            "by s², so that step shrinks like 1/s. With −1/4, s·s^(−1/2)·s^(−1/2)·… leaves it "
            "unchanged, as Adam's is.",
        ),
        (
            root(S_row, 0.25) @ g @ root(S_col, 0.25),
            "the roots are inverse: S^(−1/4), a negative power.",
        ),
        (
            root(S_row, -0.25) @ g,
            "both sides: S_row^(−1/4) on the left and S_col^(−1/4) on the right.",
        ),
        (
            elementwise,
            "S ** −0.25 is an elementwise power: the matrix root needs the eigendecomposition "
            "S = Q diag(λ) Qᵀ, then Q diag(λ^(−1/4)) Qᵀ.",
        ),
    ]
    if g.shape[0] == g.shape[1]:
        slips.append(
            (
                root(S_col, -0.25) @ g @ root(S_row, -0.25),
                "S_row = Σ g gᵀ acts on g's rows (on the left), S_col = Σ gᵀ g on its columns.",
            )
        )

    def diagnose(got, expected):
        for value, text in slips:
            if got.shape == value.shape and np.allclose(got, value, 1e-6, equal_nan=True):
                return text
        return ""

    return diagnose


def shampoo_direction_cases():
    """fn(g, S_row, S_col) → S_row^(−1/4) g S_col^(−1/4), by numpy.linalg.eigh."""
    rng = np.random.default_rng(11)
    cases = []
    for name, m, n, scale in [
        ("g of 3×4", 3, 4, 1.0),
        ("g of 3×3, S_row ≠ S_col", 3, 3, 1.0),
        ("g of 5×2, statistics 100 times larger", 5, 2, 100.0),
    ]:
        g, S_row, S_col = rng.normal(size=(m, n)), _spd(m, rng, scale), _spd(n, rng, scale)
        cases.append(
            Case(
                name,
                (g, S_row, S_col),
                shampoo_direction(g, S_row, S_col),
                rtol=1e-7,
                atol=1e-10,
                diagnose=_shampoo_diagnose(g, S_row, S_col),
                hint="S_row^(−1/4) g S_col^(−1/4), each root from np.linalg.eigh.",
            )
        )
    return cases


def evaluate_shampoo_direction(fn):
    """Compare fn(g, S_row, S_col) with S_row^(−1/4) g S_col^(−1/4)."""
    return evaluate_function(fn, shampoo_direction_cases())


check_shampoo_direction = printing(evaluate_shampoo_direction)
