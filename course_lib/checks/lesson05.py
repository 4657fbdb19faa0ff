"""Lesson 05 (second-order methods): the Newton step, Newton's contraction factor, backtracking,
one step at a saddle (predicted), the trust-region radius, the BFGS update and a BFGS run that
breaks (diagnosed)."""

import numpy as np

from ..contract import ExerciseNotDone
from ..data import load_references
from ..optimizers import gd
from ..problems import Quadratic, course_quadratic, rosenbrock, saddle
from ..second_order import backtracking, bfgs_update, damped_newton, newton, wolfe_line_search
from .engine import Budget, Case, Report, evaluate_function, evaluate_trajectories, printing
from .steps import recognise

# --- Exercise 5.1: the Newton step ----------------------------------------------------------


def _newton_problem(spec):
    """The gradient and Hessian of a lesson-05 reference case's problem."""
    if spec["kind"] == "rosenbrock":
        problem = rosenbrock
    elif spec["kind"] == "quadratic_matrix":
        problem = Quadratic(np.array(spec["A"]), np.array(spec["b"]))
    else:
        raise ValueError(f"unknown problem kind {spec['kind']!r}")
    return problem.grad, {"hess": problem.hess}


def _newton_slip(kind):
    """Newton's step with one slip: H·g for H⁻¹g ("times"), the diagonal of H only
    ("diagonal"), the Hessian of the first point kept ("first")."""

    def newton(x, grad, state, hess, lr=1.0):
        H = state.setdefault("H", hess(x)) if kind == "first" else hess(x)
        if kind == "times":
            return x - lr * H @ grad(x)
        if kind == "diagonal":
            return x - lr * grad(x) / np.diag(H)
        return x - lr * np.linalg.solve(H, grad(x))

    return newton


def _newton(x, grad, state, hess, lr=1.0):
    return x - lr * np.linalg.solve(hess(x), grad(x))


NEWTON_SLIPS = [
    (
        _newton_slip("times"),
        None,
        "you multiplied the gradient by H; Newton multiplies by H⁻¹ "
        "(solve H p = g with np.linalg.solve).",
    ),
    (
        _newton_slip("diagonal"),
        None,
        "that divides by the diagonal of H only: solve with the whole Hessian, "
        "np.linalg.solve(hess(x), grad(x)).",
    ),
    (
        _newton_slip("first"),
        None,
        "the Hessian changes with x: evaluate hess(x) at every step, not once at the start.",
    ),
    (
        _newton,
        lambda hp: {**hp, "lr": 1.0},
        lambda hp: f"η = {hp['lr']:g} in this case: use the argument lr, not a fixed 1.",
    ),
]


def evaluate_newton(fn):
    """Run a Newton step function (it takes ``hess``) on the lesson-05 reference cases."""
    ref = load_references("second_order")["newton"]
    return evaluate_trajectories(fn, ref, _newton_problem, identify=recognise(NEWTON_SLIPS))


check_newton = printing(evaluate_newton)

# --- Exercise 5.2 (derive): Newton's contraction factor on a quadratic ---------------------

NEWTON_FACTOR = (
    "with ∇f(x) = A(x − x*) on the quadratic, one Newton step gives x_{t+1} − x* = "
    "(x_t − x*) − η A⁻¹A (x_t − x*): what is left of the error, in every direction?"
)


def _rotated_quadratic_hessian(eigenvalues, seed):
    """A symmetric matrix with these eigenvalues and random (seeded) eigenvectors."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    return Q @ np.diag(eigenvalues) @ Q.T


def _newton_factor_slips(lr, eigenvalues):
    """diagnose(got, expected) for one case: what the wrong factor is."""
    lam = np.asarray(eigenvalues, dtype=float)
    slips = [
        (
            np.max(np.abs(1 - lr * lam)),
            "that is gradient descent's factor, max|1 − ηλ_i| (lesson 01). Newton multiplies "
            "the gradient by H⁻¹ first, so along each eigenvector the λ_i of the gradient and "
            "the 1/λ_i of H⁻¹ cancel.",
        ),
        (1 - lr, "the norm shrinks by the size of the factor: |1 − η| (here 1 − η < 0)."),
        (
            0.0,
            "one step lands on x* only at η = 1: a step η covers the fraction η of the way, "
            "and leaves the fraction 1 − η of the error.",
        ),
        (lr, "η is the fraction of the error a step removes; what is left is 1 − η, in size."),
    ]

    def diagnose(got, expected):
        if got.size != 1:
            return "return one number, the factor q."
        for value, text in slips:
            if not np.isclose(value, expected, rtol=1e-9) and np.isclose(
                got.ravel()[0], value, rtol=1e-9, atol=1e-12
            ):
                return text
        return ""

    return diagnose


def newton_contraction_cases():
    """fn(lr, eigenvalues) → q; expected: the 2-norm of Newton's iteration matrix
    I − η A⁻¹A on a quadratic whose Hessian A has these eigenvalues (rotated: random
    eigenvectors), computed with numpy.linalg."""
    specs = [  # (name, lr, eigenvalues)
        ("η = 1 on the course quadratic (eigenvalues 0.2 and 4)", 1.0, [0.2, 4.0]),
        ("η = 0.5, eigenvalues 0.2 and 4", 0.5, [0.2, 4.0]),
        ("η = 0.5, κ = 10⁴ (eigenvalues 1, 100, 10⁴)", 0.5, [1.0, 100.0, 1e4]),
        ("η = 0.1, eigenvalues 2 and 3", 0.1, [2.0, 3.0]),
        ("η = 1.5: past the minimum, eigenvalues 2 and 3 (not sorted: 3, 2)", 1.5, [3.0, 2.0]),
        ("η = 2.5: diverges, eigenvalues 1 and 10", 2.5, [1.0, 10.0]),
    ]
    cases = []
    for seed, (name, lr, eigenvalues) in enumerate(specs):
        A = _rotated_quadratic_hessian(eigenvalues, seed)
        M = np.eye(len(A)) - lr * np.linalg.solve(A, A)  # x_{t+1} − x* = M (x_t − x*)
        cases.append(
            Case(
                name,
                (lr, np.array(eigenvalues)),
                float(np.round(np.linalg.norm(M, 2), 12)) + 0.0,  # 0 up to rounding at η = 1
                hint=NEWTON_FACTOR,
                rtol=1e-9,
                atol=1e-12,
                diagnose=_newton_factor_slips(lr, eigenvalues),
            )
        )
    return cases


def evaluate_newton_contraction(fn):
    """Compare fn(lr, eigenvalues) with the norm of Newton's iteration matrix on quadratics."""
    return evaluate_function(fn, newton_contraction_cases())


check_newton_contraction = printing(evaluate_newton_contraction)

# --- Exercise 5.3: backtracking -------------------------------------------------------------

ARMIJO = (
    "accept the first α with f(x + αp) ≤ f(x) + c·α·∇f(x)ᵀp (≤, and both c and α "
    "multiply the slope gᵀp), else α ← shrink·α."
)


def _first_alpha(f, x, g, p, accept, alpha=1.0, c=1e-4, shrink=0.5, tries=60):
    """The first of alpha, alpha·shrink, … that accept(f(x + αp), f(x), α, c, gᵀp) takes."""
    fx, slope = f(x), float(g @ p)
    for _ in range(tries):
        if accept(f(x + alpha * p), fx, alpha, c, slope):
            return alpha
        alpha *= shrink
    return None


def _backtracking_slips(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5):
    """diagnose(got, expected) for one case: the step length of each usual slip."""
    first = lambda accept, **kw: _first_alpha(
        f, x, g, p, accept, **{"alpha": alpha, "c": c, "shrink": shrink, **kw}
    )
    slips = [
        (
            first(lambda fn, f0, a, c_, s: fn < f0 + c_ * a * s),
            "the Armijo condition is ≤, not <: here f(x + αp) = f(x) + c·α·gᵀp exactly, and "
            "that α is accepted.",
        ),
        (
            first(lambda fn, f0, a, c_, s: fn <= f0 + a * s),
            "c multiplies the slope: f(x + αp) ≤ f(x) + c·α·gᵀp.",
        ),
        (
            first(lambda fn, f0, a, c_, s: fn <= f0 + c_ * s),
            "α multiplies the slope too: f(x + αp) ≤ f(x) + c·α·gᵀp.",
        ),
        (
            first(lambda fn, f0, a, c_, s: fn < f0),
            "f(x + αp) < f(x) is not enough: ask for the sufficient decrease "
            "f(x + αp) ≤ f(x) + c·α·gᵀp.",
        ),
        (
            first(lambda fn, f0, a, c_, s: fn <= f0 - c_ * a * s),
            "gᵀp < 0 for a descent direction: the bound f(x) + c·α·gᵀp lies below f(x) (+, not −).",
        ),
        (
            first(lambda fn, f0, a, c_, s: fn >= f0 + c_ * a * s),
            "the test is backwards: keep shrinking while f(x + αp) > f(x) + c·α·gᵀp, and "
            "return the first α for which it is ≤.",
        ),
        (
            first(lambda fn, f0, a, c_, s: fn <= f0 + c_ * a * s, alpha=alpha * shrink),
            "the first α tried is `alpha` itself: shrink only after a failure.",
        ),
    ]
    for name, value, text in [
        ("c", 1e-4, f"use the argument c (c = {c:g} here), not a fixed 1e-4."),
        ("alpha", 1.0, f"start from the argument alpha (alpha = {alpha:g} here), not 1."),
        ("shrink", 0.5, f"multiply by the argument shrink (shrink = {shrink:g} here), not ½."),
    ]:
        if {"c": c, "alpha": alpha, "shrink": shrink}[name] != value:
            slips.append(
                (first(lambda fn, f0, a, c_, s: fn <= f0 + c_ * a * s, **{name: value}), text)
            )
    right = first(lambda fn, f0, a, c_, s: fn <= f0 + c_ * a * s)

    def diagnose(got, expected):  # every slip with this α: one case may not tell them apart
        if got.size != 1:
            return "return one number, the step length α."
        return " Or: ".join(
            text
            for value, text in slips
            if value is not None
            and value != right
            and np.isclose(got.ravel()[0], value, rtol=1e-12)
        )

    return diagnose


def _quadratic_1d():
    """f(x) = x², on which α = 1 along p = −1 from x = 1 meets the Armijo bound with c = ½
    exactly (f(0) = 0 = 1 + ½·1·(−2)), in floating point too."""
    return Quadratic(np.array([[2.0]]), np.zeros(1), x0=np.ones(1), name="f(x) = x²")


def backtracking_cases():
    """fn(f, x, g, p, alpha, c, shrink) → α; expected: the Armijo step lengths, worked out for
    each case as a power of shrink (tests/test_second_order.py checks that each satisfies the
    condition and that the one before it does not)."""
    steepest = lambda x, g, H: -g
    newton = lambda x, g, H: -np.linalg.solve(H, g)
    minus_one = lambda x, g, H: -np.ones(1)
    specs = [  # (name, problem, x, direction, kwargs, expected α, hint)
        (
            "Rosenbrock at (−1.2, 1) along −∇f: α = 1 is far too long",
            rosenbrock,
            [-1.2, 1.0],
            steepest,
            {},
            2.0**-10,
            ARMIJO,
        ),
        (
            "course quadratic along the Newton direction: α = 1 is accepted",
            course_quadratic,
            [-5.0, -2.0],
            newton,
            {},
            1.0,
            "the full Newton step reaches the minimum: it satisfies the Armijo condition. "
            + ARMIJO,
        ),
        (
            "course quadratic along −∇f, c = 0.5",
            course_quadratic,
            [-5.0, -2.0],
            steepest,
            {"c": 0.5},
            2.0**-2,
            "c = 0.5 here: use the argument c. " + ARMIJO,
        ),
        (
            "Rosenbrock near (1, 1) along −∇f, α = 0.01, shrink = 0.8",
            rosenbrock,
            [0.8, 0.6],
            steepest,
            {"alpha": 0.01, "shrink": 0.8},
            0.01 * 0.8**6,
            "start from the argument alpha and multiply by the argument shrink. " + ARMIJO,
        ),
        (
            "Rosenbrock at (0, 0) along −∇f, c = 0.9",
            rosenbrock,
            [0.0, 0.0],
            steepest,
            {"c": 0.9},
            2.0**-5,
            "c = 0.9 here: use the argument c. " + ARMIJO,
        ),
        (
            "f(x) = x² from x = 1 along p = −1, c = ½: α = 1 meets the bound exactly",
            _quadratic_1d(),
            [1.0],
            minus_one,
            {"c": 0.5},
            1.0,
            "equality counts: f(x + αp) ≤ f(x) + c·α·gᵀp holds at α = 1 here. " + ARMIJO,
        ),
    ]
    cases = []
    for name, problem, x, direction, kw, expected, hint in specs:
        x = np.array(x)
        g = problem.grad(x)
        p = direction(x, g, problem.hess(x))
        f = Budget(
            problem.f,
            "f",
            advice="is α shrunk and assigned (alpha = alpha * shrink), and does the "
            "condition use the new α, f(x + α p) > f(x) + c·α·gᵀp?",
        )
        cases.append(
            Case(
                name,
                (f, x, g, p),
                expected,
                kwargs=kw,
                hint=hint,
                rtol=1e-12,
                diagnose=_backtracking_slips(problem.f, x, g, p, **kw),
            )
        )
    return cases


def evaluate_backtracking(fn):
    """Compare a backtracking line search's step lengths with the Armijo rule's."""
    return evaluate_function(fn, backtracking_cases())


check_backtracking = printing(evaluate_backtracking)

# --- Exercise 5.4 (predict): one step at a saddle ------------------------------------------

SADDLE_METHODS = {  # the exercise's keys → (step, hyperparameters), all from saddle.x0
    "Newton": (newton, {}),
    "GD": (gd, {"lr": 0.3}),
    "|H|": (damped_newton, {"modify": "abs", "delta": 1.0}),
    "H + νI": (damped_newton, {"modify": "shift", "delta": 1.0}),
}
SADDLE_HINTS = {
    "Newton": "f = x₁² − x₂² is a quadratic, so its Taylor model is f itself, and the Newton "
    "step goes to the model's only stationary point: the saddle point (0, 0), in one step.",
    "GD": "the gradient is (2x₁, −2x₂), so a GD step multiplies x₁ by 1 − 2η and x₂ by "
    "1 + 2η: with η = 0.3, by 0.4 and 1.6.",
    "|H|": "|H| = diag(2, 2), so the step is −g/2 = (−x₁, x₂): x₁ goes to 0 and x₂ doubles "
    "(and the line search accepts α = 1).",
    "H + νI": "ν = 3 raises the smallest eigenvalue, −2, to the floor 1: H + νI = diag(5, 1), "
    "so the step is (−2x₁/5, 2x₂): x₁ is multiplied by 0.6 and x₂ by 3 (α = 1 is accepted).",
}


def saddle_one_step():
    """{key: x after one step from saddle.x0} for the four methods of Exercise 5.4, measured."""
    out = {}
    for key, (step, hyperparameters) in SADDLE_METHODS.items():
        kwargs = {"hess": saddle.hess} if step is not gd else {}
        if step is damped_newton:
            kwargs["f"] = saddle.f
        out[key] = step(saddle.x0.copy(), saddle.grad, {}, **kwargs, **hyperparameters)
    return out


def _unfinished(exercise, what):
    """The one-line ExerciseNotDone of an answer given as values, not as a function."""
    return ExerciseNotDone(
        f"{exercise} — not finished yet: fill in {what} above, run its cell, then run this "
        "cell again."
    )


def _is_blank(value):
    return value is None or value is Ellipsis or (isinstance(value, str) and value.strip() == "?")


def _point(value):
    """value as a float array of shape (2,), or None if it is not a pair of numbers."""
    if _is_blank(value) or isinstance(value, str):
        return None
    if isinstance(value, (tuple, list)) and any(_is_blank(v) for v in value):
        return None
    try:
        point = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return point if point.shape == (2,) else None


def evaluate_saddle_predictions(after_one_step):
    """Compare {method: (x₁, x₂)} with where each method is after one step from saddle.x0."""
    name = "after_one_step"
    keys = list(SADDLE_METHODS)
    if not isinstance(after_one_step, dict):
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected a dict {{method: (x₁, x₂)}}, got {type(after_one_step).__name__}."
            ],
        )
    given = {k: after_one_step.get(k) for k in keys}
    if all(
        _is_blank(v) or (isinstance(v, (tuple, list)) and all(map(_is_blank, v)))
        for v in given.values()
    ):
        raise _unfinished("Exercise 5.4: one step at a saddle", "each '?' in after_one_step")
    measured = saddle_one_step()
    for i, key in enumerate(keys, 1):
        title = f"{i}/{len(keys)} ({key})"
        point = _point(given[key])
        if point is None:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: {given[key]!r} is not a point (x₁, x₂).",
                    "  hint: write two numbers, e.g. (-0.6, 0.0016), for where this method is "
                    "after one step from saddle.x0.",
                ],
            )
        if not np.allclose(point, measured[key], rtol=1e-6, atol=1e-9):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}",
                    f"  expected {np.round(measured[key], 9).tolist()} (measured: one step from "
                    "saddle.x0 = (−1.5, 0.001))",
                    f"  got      {point.tolist()}",
                    f"  hint: {SADDLE_HINTS[key]}",
                ],
            )
    lines = [f"✔ {name}: 4 methods, each where one step takes it from (−1.5, 0.001):"]
    lines += [f"  · {key}: {SADDLE_HINTS[key]}" for key in keys]
    return Report(name, True, lines)


check_saddle_predictions = printing(evaluate_saddle_predictions)

# --- Exercise 5.5: the trust-region radius --------------------------------------------------

RADIUS = "r < ¼: Δ ← ¼Δ; r > ¾ and ‖p‖ = Δ: Δ ← min(2Δ, Δ_max); otherwise Δ stays."


def _radius_slips(radius, rho, on_boundary, max_radius=1000.0):
    """diagnose(got, expected) for one case: what the wrong new radius says."""

    def diagnose(got, expected):
        if got.size != 1:
            return "return one number, the new radius Δ."
        got = float(got.ravel()[0])
        shrunk, grown = 0.25 * radius, min(2 * radius, max_radius)
        said = [
            text
            for wrong, text in [
                (
                    rho == 0.25 and np.isclose(got, shrunk),
                    "at r = ¼ exactly Δ stays: shrink only when r < ¼ (strict).",
                ),
                (
                    rho == 0.75 and np.isclose(got, grown),
                    "at r = ¾ exactly Δ stays: grow only when r > ¾ (strict).",
                ),
                (
                    np.isclose(got, 0.5 * radius) and np.isclose(expected, shrunk),
                    "shrink to ¼Δ (Nocedal & Wright's Algorithm 4.1), not ½Δ.",
                ),
                (
                    np.isclose(got, 2 * radius) and expected == max_radius < 2 * radius,
                    f"doubling stops at max_radius: min(2Δ, Δ_max) = {max_radius:g} here.",
                ),
                (
                    np.isclose(got, min(2 * radius, 1000.0)) and expected == max_radius != 1000.0,
                    f"use the argument max_radius ({max_radius:g} here), not a fixed 1000.",
                ),
                (
                    expected == max_radius == 1000.0 and got < 2 * radius and got != radius,
                    "min(2Δ, Δ_max) with the default Δ_max: keep the signature's default, "
                    "max_radius=1000.0.",
                ),
                (
                    np.isclose(got, grown) and not on_boundary and rho > 0.75,
                    "grow only when the step reached the boundary (on_boundary, ‖p‖ = Δ): "
                    "inside the region the radius did not limit the step.",
                ),
                (
                    np.isclose(got, shrunk) and rho > 0.25,
                    f"Δ shrinks only when r < ¼; here r = {rho:g}.",
                ),
                (
                    np.isclose(got, 2 * radius) and rho < 0.75,
                    f"Δ grows only when r > ¾ (and ‖p‖ = Δ); here r = {rho:g}.",
                ),
                (
                    np.isclose(got, radius) and expected < radius,
                    f"r = {rho:g} < ¼: the model was poor, shrink Δ ← ¼Δ (the threshold is ¼).",
                ),
                (
                    np.isclose(got, radius) and expected > radius,
                    f"r = {rho:g} > ¾ and the step hit the boundary: grow, Δ ← min(2Δ, Δ_max).",
                ),
            ]
            if wrong
        ]
        return " Or: ".join(said)

    return diagnose


def update_radius_cases():
    """fn(radius, rho, on_boundary, max_radius) → Δ (rho: the ratio r); expected: Nocedal & Wright's Algorithm
    4.1, worked out by hand for each case, at the thresholds ¼ and ¾ too."""
    cap = "doubling stops at max_radius (use the argument). " + RADIUS
    specs = [  # (name, args, kwargs, expected Δ, hint)
        ("r = 0.1: poor agreement, shrink", (1.0, 0.1, True), {}, 0.25, RADIUS),
        ("r = −2 (f went up), shrink", (0.5, -2.0, False), {}, 0.125, RADIUS),
        ("r = 0.9 on the boundary, grow", (1.0, 0.9, True), {}, 2.0, RADIUS),
        (
            "r = 0.9 inside the region: the radius was not limiting, keep it",
            (1.0, 0.9, False),
            {},
            1.0,
            "grow only when the step hit the boundary. " + RADIUS,
        ),
        ("r = 0.5: good enough, keep", (2.0, 0.5, True), {}, 2.0, RADIUS),
        (
            "r = 0.2 < ¼, although above scipy's acceptance threshold 0.15: shrink",
            (2.0, 0.2, False),
            {},
            0.5,
            RADIUS,
        ),
        ("r = ¼ exactly: keep (shrink only below ¼)", (2.0, 0.25, True), {}, 2.0, RADIUS),
        (
            "r = ¾ exactly, on the boundary: keep (grow only above ¾)",
            (2.0, 0.75, True),
            {},
            2.0,
            RADIUS,
        ),
        (
            "r = 1.0 on the boundary at Δ = 600, Δ_max = 1000: capped",
            (600.0, 1.0, True),
            {"max_radius": 1000.0},
            1000.0,
            cap,
        ),
        ("r = 0.8 on the boundary, Δ_max = 3", (2.0, 0.8, True), {"max_radius": 3.0}, 3.0, cap),
        (
            "r = 0.9 on the boundary at Δ = 800, the default Δ_max = 1000",
            (800.0, 0.9, True),
            {},
            1000.0,
            cap,
        ),
    ]
    return [
        Case(name, args, expected, kwargs=kw, hint=hint, diagnose=_radius_slips(*args, **kw))
        for name, args, kw, expected, hint in specs
    ]


def evaluate_update_radius(fn):
    """Compare a trust-region radius update with Nocedal & Wright's Algorithm 4.1."""
    return evaluate_function(fn, update_radius_cases())


check_update_radius = printing(evaluate_update_radius)

# --- Exercise 5.6: the BFGS update ----------------------------------------------------------

BFGS = (
    "with V = I − Δx Δgᵀ / (Δgᵀ Δx): P ← V P Vᵀ + Δx Δxᵀ / (Δgᵀ Δx), where dx = Δx = "
    "x_new − x is the step and dg = Δg = ∇f(x_new) − ∇f(x) the change of gradient."
)


def _bfgs(P, dx, dg, left, right, inv, last=True):
    """(I − inv·left) P (I − inv·right) + inv·Δx Δxᵀ (last: with that last term)."""
    eye = np.eye(len(dx))
    return (eye - inv * left) @ P @ (eye - inv * right) + (inv * np.outer(dx, dx) if last else 0)


def _bfgs_slips(P, dx, dg):
    """diagnose(got, expected) for one update: the usual slips, by value."""
    xg, gx, inv = np.outer(dx, dg), np.outer(dg, dx), 1 / (dg @ dx)
    slips = [
        (
            _bfgs(P, dg, dx, np.outer(dg, dx), np.outer(dx, dg), inv),
            "dx and dg are swapped: dx = Δx = x_new − x is the step, dg = Δg = ∇f(x_new) − ∇f(x) "
            "the change of gradient. " + BFGS,
        ),
        (
            _bfgs(P, dx, dg, gx, xg, inv),
            "the outer products are the other way round: (I − Δx Δgᵀ/(Δgᵀ Δx)) on the left "
            "of P, (I − Δg Δxᵀ/(Δgᵀ Δx)) on the right.",
        ),
        (
            _bfgs(P, dx, dg, xg, gx, 1 / (dx @ dx)),
            "divide by Δgᵀ Δx (the curvature along the step), not by Δxᵀ Δx.",
        ),
        (
            _bfgs(P, dx, dg, xg, gx, inv, last=False),
            "the last term + Δx Δxᵀ / (Δgᵀ Δx) is missing.",
        ),
        (
            P - P @ np.outer(dx, dx) @ P / (dx @ P @ dx) + np.outer(dg, dg) / (dg @ dx),
            "that is BFGS's update of an approximation of H itself, not of P ≈ H⁻¹: " + BFGS,
        ),
    ]

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return the new P, a d×d matrix, {expected.shape}."
        for value, text in slips:
            if np.allclose(got, value, rtol=1e-9, atol=1e-12):
                return text
        return ""

    return diagnose


def evaluate_bfgs_update(fn):
    """Compare fn(P, dx, dg) with scipy.optimize.BFGS's inverse-Hessian updates."""
    ref = load_references("second_order")["bfgs_update"]
    cases = []
    for c in ref["cases"]:
        P, dx, dg = np.array(c["H"]), np.array(c["s"]), np.array(c["y"])
        cases.append(
            Case(
                c["name"],
                (P, dx, dg),
                np.array(c["expected"]),
                hint=BFGS,
                rtol=1e-9,
                diagnose=_bfgs_slips(P, dx, dg),
            )
        )
    return evaluate_function(fn, cases, agree=f" agree. (reference: {ref['source']})")


check_bfgs_update = printing(evaluate_bfgs_update)


# --- Exercise 5.7 (diagnose): a BFGS run that breaks ----------------------------------------

MYSTERY_START = (1.0, 0.1)
CHANGES = {  # the exercise's options → the change to the mystery run's BFGS
    "c1 = 1e-6": {"c": 1e-6},
    "c1 = 0.3": {"c": 0.3},
    "shrink = 0.2": {"shrink": 0.2},
    "shrink = 0.8": {"shrink": 0.8},
    "wolfe": {"wolfe": True},
    "skip": {"skip": True},
}
GUARANTEED = {"wolfe", "skip"}
# Failures (no convergence to (1, 1) within 100 iterations) from 200 random starts in
# [−2, 2] × [−1, 3] (numpy's default_rng(1)): measured by bfgs_armijo_run, and re-measured by
# tests/test_lesson05.py.
FAILURES = {
    "none": 12,
    "c1 = 1e-6": 12,
    "c1 = 0.3": 38,
    "shrink = 0.2": 49,
    "shrink = 0.8": 6,
    "wolfe": 0,
    "skip": 0,
}
WHY = {
    "c1 = 1e-6": "a smaller c₁ accepts longer steps; nothing in Armijo's test looks at the "
    "slope at the new point, so Δgᵀ Δx ≤ 0 can still happen",
    "c1 = 0.3": "a larger c₁ accepts other steps, and Δgᵀ Δx ≤ 0 can still happen",
    "shrink = 0.2": "other trial steps, the same test: Δgᵀ Δx ≤ 0 can still happen",
    "shrink = 0.8": "other trial steps, the same test: Δgᵀ Δx ≤ 0 can still happen",
    "wolfe": "the curvature condition |∇f(x + αp)ᵀp| ≤ c₂|gᵀp| gives "
    "Δgᵀ Δx ≥ (1 − c₂)·α·|gᵀp| > 0: P stays positive definite",
    "skip": "without that update, P stays what it was, positive definite",
}


def bfgs_armijo_run(
    x0=MYSTERY_START, c=1e-4, shrink=0.5, wolfe=False, skip=False, max_iter=100, gtol=1e-5
):
    """BFGS on Rosenbrock from x0 with P_0 = I: the backtracking (Armijo) line search with
    c₁ = c and shrink, or the strong Wolfe one (wolfe); P updated after every step, or only
    when Δgᵀ Δx > 0 (skip). Stops when max|∇f| < gtol, after max_iter steps, or when −P g is
    not a descent direction. Returns {"f": f(x_t), "curvature": Δgᵀ Δx of step t, "slope":
    gᵀp of direction t, "xs", "converged"}, one entry per direction computed."""
    x, P = np.array(x0, dtype=float), np.eye(2)
    g = rosenbrock.grad(x)
    fs, curvatures, slopes, xs = [], [], [], [x.copy()]
    for _ in range(max_iter):
        if np.max(np.abs(g)) < gtol:
            break
        p = -P @ g
        fs.append(rosenbrock.f(x))
        slopes.append(g @ p)
        if slopes[-1] >= 0:  # not a descent direction: the line search cannot go on
            curvatures.append(np.nan)
            break
        if wolfe:
            alpha = wolfe_line_search(rosenbrock.f, rosenbrock.grad, x, p, fs[-1], g)[0]
        else:
            alpha = backtracking(rosenbrock.f, x, g, p, c=c, shrink=shrink)
        x_new = x + alpha * p
        g_new = rosenbrock.grad(x_new)
        dx, dg = x_new - x, g_new - g
        curvatures.append(dg @ dx)
        if not (skip and dg @ dx <= 0):
            P = bfgs_update(P, dx, dg)
        x, g = x_new, g_new
        xs.append(x.copy())
    return {
        "f": np.array(fs),
        "curvature": np.array(curvatures),
        "slope": np.array(slopes),
        "xs": np.array(xs),
        "converged": bool(np.max(np.abs(g)) < gtol),
    }


def bfgs_mystery_run():
    """The run of Exercise 5.7: BFGS with backtracking only, from (1, 0.1) on Rosenbrock."""
    return bfgs_armijo_run()


def _first_bad_iteration():
    curvature = bfgs_mystery_run()["curvature"]
    return int(np.nonzero(curvature <= 0)[0][0])


def evaluate_bfgs_diagnosis(diagnosis):
    """Compare {"iteration": t, "guaranteed": {change, …}} with the mystery run, measured."""
    name = "diagnosis"
    if not isinstance(diagnosis, dict):
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected a dict {{'iteration': …, 'guaranteed': {{…}}}}, got "
                f"{type(diagnosis).__name__}."
            ],
        )
    iteration, guaranteed = diagnosis.get("iteration"), diagnosis.get("guaranteed")
    blank_set = (
        guaranteed is None
        or _is_blank(guaranteed)
        or (isinstance(guaranteed, (set, list, tuple)) and all(map(_is_blank, guaranteed)))
    )
    if _is_blank(iteration) and blank_set:
        raise _unfinished("Exercise 5.7: a BFGS run that breaks", "the '?' in diagnosis")
    bad = _first_bad_iteration()
    run = bfgs_mystery_run()
    uphill = int(np.nonzero(run["slope"] >= 0)[0][0])
    try:
        t = int(iteration)
        ok = t == iteration
    except (TypeError, ValueError):
        ok = False
    if not ok:
        return Report(
            name,
            False,
            [
                f"✘ {name}: case 1/2 (iteration): {iteration!r} is not an iteration number.",
                "  hint: read it off the middle panel: the iteration t whose pair (Δx, Δg) "
                "had Δgᵀ Δx ≤ 0.",
            ],
        )
    if t != bad:
        why = (
            f"iteration {uphill} is where the damage shows, gᵀp ≥ 0: the update that broke P "
            "came from the step before."
            if t == uphill
            else "look at the middle panel: the first iteration whose pair had Δgᵀ Δx ≤ 0 "
            "(the curvature below zero). Its update made P indefinite, and the next direction "
            "−P g could go uphill."
        )
        return Report(
            name,
            False,
            [
                f"✘ {name}: case 1/2 (iteration)",
                f"  expected {bad}",
                f"  got      {t}",
                f"  hint: {why}",
            ],
        )
    if isinstance(guaranteed, str):
        guaranteed = {guaranteed}
    try:
        chosen = {str(c).strip() for c in guaranteed}
    except TypeError:
        chosen = None
    unknown = sorted(chosen - set(CHANGES)) if chosen is not None else None
    if chosen is None or unknown:
        return Report(
            name,
            False,
            [
                f"✘ {name}: case 2/2 (guaranteed): {guaranteed!r} holds "
                f"{'something that is not' if chosen is None else repr(unknown[0]) + ', not'} "
                "one of the changes listed.",
                f"  hint: a set of keys of CHANGES: {', '.join(map(repr, CHANGES))}.",
            ],
        )
    if chosen != GUARANTEED:
        wrong = sorted(chosen - GUARANTEED)
        missing = sorted(GUARANTEED - chosen)
        said = [
            f"{c!r} does not guarantee it: {WHY[c]}; measured from 200 random starts, BFGS "
            f"with it still fails from {FAILURES[c]} (with none of the changes: "
            f"{FAILURES['none']})."
            for c in wrong
        ] + [f"{c!r} guarantees it: {WHY[c]}." for c in missing]
        return Report(
            name,
            False,
            [
                f"✘ {name}: case 2/2 (guaranteed)",
                f"  expected {sorted(GUARANTEED)}",
                f"  got      {sorted(chosen)}",
            ]
            + [f"  hint: {h}" for h in said],
        )
    lines = [
        f"✔ {name}: iteration {bad}'s pair had Δgᵀ Δx ≤ 0; its update made P indefinite, and "
        f"at iteration {uphill} −P g pointed uphill.",
        "  Failures from 200 random starts on Rosenbrock, BFGS with backtracking and …",
    ]
    lines += [
        f"  · {'none (the mystery run)' if change == 'none' else change}: {count}"
        for change, count in FAILURES.items()
    ]
    lines.append("  Only the Wolfe line search and skipping the update guarantee Δgᵀ Δx > 0.")
    return Report(name, True, lines)


check_bfgs_diagnosis = printing(evaluate_bfgs_diagnosis)
