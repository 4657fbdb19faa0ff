"""Lesson 05 (second-order methods): the Newton step, backtracking, the trust-region radius,
the BFGS update, K-FAC's preconditioner and K-FAC with exact damping."""

import numpy as np

from ..data import load_references
from ..problems import Quadratic, course_quadratic, rosenbrock
from ..second_order import kfac_precondition
from .engine import Budget, Case, evaluate_function, evaluate_trajectories, printing
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

# --- Exercise 5.2: backtracking -------------------------------------------------------------

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

# --- Exercise 5.3: the trust-region radius --------------------------------------------------

RADIUS = "ρ < ¼: Δ ← ¼Δ; ρ > ¾ and ‖p‖ = Δ: Δ ← min(2Δ, Δ_max); otherwise Δ stays."


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
                    "at ρ = ¼ exactly Δ stays: shrink only when ρ < ¼ (strict).",
                ),
                (
                    rho == 0.75 and np.isclose(got, grown),
                    "at ρ = ¾ exactly Δ stays: grow only when ρ > ¾ (strict).",
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
                    f"Δ shrinks only when ρ < ¼; here ρ = {rho:g}.",
                ),
                (
                    np.isclose(got, 2 * radius) and rho < 0.75,
                    f"Δ grows only when ρ > ¾ (and ‖p‖ = Δ); here ρ = {rho:g}.",
                ),
                (
                    np.isclose(got, radius) and expected < radius,
                    f"ρ = {rho:g} < ¼: the model was poor, shrink Δ ← ¼Δ (the threshold is ¼).",
                ),
                (
                    np.isclose(got, radius) and expected > radius,
                    f"ρ = {rho:g} > ¾ and the step hit the boundary: grow, Δ ← min(2Δ, Δ_max).",
                ),
            ]
            if wrong
        ]
        return " Or: ".join(said)

    return diagnose


def update_radius_cases():
    """fn(radius, rho, on_boundary, max_radius) → Δ; expected: Nocedal & Wright's Algorithm
    4.1, worked out by hand for each case, at the thresholds ¼ and ¾ too."""
    cap = "doubling stops at max_radius (use the argument). " + RADIUS
    specs = [  # (name, args, kwargs, expected Δ, hint)
        ("ρ = 0.1: poor agreement, shrink", (1.0, 0.1, True), {}, 0.25, RADIUS),
        ("ρ = −2 (f went up), shrink", (0.5, -2.0, False), {}, 0.125, RADIUS),
        ("ρ = 0.9 on the boundary, grow", (1.0, 0.9, True), {}, 2.0, RADIUS),
        (
            "ρ = 0.9 inside the region: the radius was not limiting, keep it",
            (1.0, 0.9, False),
            {},
            1.0,
            "grow only when the step hit the boundary. " + RADIUS,
        ),
        ("ρ = 0.5: good enough, keep", (2.0, 0.5, True), {}, 2.0, RADIUS),
        ("ρ = 0.2 < ¼ although > η = 0.15: shrink", (2.0, 0.2, False), {}, 0.5, RADIUS),
        ("ρ = ¼ exactly: keep (shrink only below ¼)", (2.0, 0.25, True), {}, 2.0, RADIUS),
        (
            "ρ = ¾ exactly, on the boundary: keep (grow only above ¾)",
            (2.0, 0.75, True),
            {},
            2.0,
            RADIUS,
        ),
        (
            "ρ = 1.0 on the boundary at Δ = 600, Δ_max = 1000: capped",
            (600.0, 1.0, True),
            {"max_radius": 1000.0},
            1000.0,
            cap,
        ),
        ("ρ = 0.8 on the boundary, Δ_max = 3", (2.0, 0.8, True), {"max_radius": 3.0}, 3.0, cap),
        (
            "ρ = 0.9 on the boundary at Δ = 800, the default Δ_max = 1000",
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

# --- Exercise 5.4: the BFGS update ----------------------------------------------------------


def _bfgs(H, s, y, left, right, rho, last=True):
    """(I − ρ·left) H (I − ρ·right) + ρ s sᵀ (last: with the ρ s sᵀ term)."""
    eye = np.eye(len(s))
    return (eye - rho * left) @ H @ (eye - rho * right) + (rho * np.outer(s, s) if last else 0)


def _bfgs_slips(H, s, y):
    """diagnose(got, expected) for one update: the usual slips, by value."""
    sy, ys, rho = np.outer(s, y), np.outer(y, s), 1 / (y @ s)
    slips = [
        (
            _bfgs(H, y, s, np.outer(y, s), np.outer(s, y), rho),
            "s and y are swapped: s = x_new − x is the step, y = ∇f(x_new) − ∇f(x) the "
            "change of gradient, and H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ.",
        ),
        (
            _bfgs(H, s, y, ys, sy, rho),
            "the outer products are the other way round: (I − ρ s yᵀ) on the left of H, "
            "(I − ρ y sᵀ) on the right.",
        ),
        (_bfgs(H, s, y, sy, ys, 1 / (s @ s)), "ρ = 1/(yᵀs), not 1/(sᵀs)."),
        (_bfgs(H, s, y, sy, ys, rho, last=False), "the term + ρ s sᵀ is missing."),
        (
            H - H @ np.outer(s, s) @ H / (s @ H @ s) + np.outer(y, y) / (y @ s),
            "that is the update of the Hessian B, not of its inverse H: H ← (I − ρ s yᵀ) H "
            "(I − ρ y sᵀ) + ρ s sᵀ.",
        ),
    ]

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return the new H, an n×n matrix, {expected.shape}."
        for value, text in slips:
            if np.allclose(got, value, rtol=1e-9, atol=1e-12):
                return text
        return ""

    return diagnose


def evaluate_bfgs_update(fn):
    """Compare fn(H, s, y) with scipy.optimize.BFGS's inverse-Hessian updates."""
    ref = load_references("second_order")["bfgs_update"]
    hint = (
        "H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1/(yᵀs): s = x_new − x is the "
        "step, y = ∇f(x_new) − ∇f(x) the change of gradient."
    )
    cases = []
    for c in ref["cases"]:
        H, s, y = np.array(c["H"]), np.array(c["s"]), np.array(c["y"])
        cases.append(
            Case(
                c["name"],
                (H, s, y),
                np.array(c["expected"]),
                hint=hint,
                rtol=1e-9,
                diagnose=_bfgs_slips(H, s, y),
            )
        )
    return evaluate_function(fn, cases, agree=f" agree. (reference: {ref['source']})")


check_bfgs_update = printing(evaluate_bfgs_update)

# --- Exercise 5.5: K-FAC --------------------------------------------------------------------


class KroneckerFormed(Exception):
    """A K-FAC exercise formed a Kronecker product or an inverse it was asked to avoid."""


class Factor(np.ndarray):
    """A factor A or S of a K-FAC case: np.kron (and, where asked, np.linalg.inv) on it
    raise KroneckerFormed, so that the check can enforce "without forming the Kronecker
    product" (and "use np.linalg.solve"). Everything else works as on any array."""

    forbid_inv = False

    def __array_finalize__(self, obj):  # copies and views keep the rule
        self.forbid_inv = getattr(obj, "forbid_inv", False)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.kron:
            raise KroneckerFormed(
                "np.kron forms the Kronecker product, (in·out)² numbers: the exercise asks "
                "for the factors only"
            )
        if func is np.linalg.inv and self.forbid_inv:
            raise KroneckerFormed("np.linalg.inv: the exercise asks for np.linalg.solve")
        return super().__array_function__(func, types, args, kwargs)


def _factor(M, forbid_inv=False):
    view = np.asarray(M, dtype=float).copy().view(Factor)
    view.forbid_inv = forbid_inv
    return view


def _kron_solve(A, S, grad_W, damping=0.0):
    """vec⁻¹((A ⊗ S + λI)⁻¹ vec(∇W)), vec stacking columns (order="F"): numpy.linalg.solve
    on the explicit product, the definition the exercises ask to avoid."""
    K = np.kron(np.asarray(A), np.asarray(S)) + damping * np.eye(len(A) * len(S))
    return np.linalg.solve(K, grad_W.reshape(-1, order="F")).reshape(grad_W.shape, order="F")


def _formed(report):
    if "ValueError" in report.lines[0] and "mismatch" in report.lines[0]:
        return (
            "the shapes tell which factor goes where: S (out×out) multiplies ∇W (out×in) from "
            "the left, A (in×in) from the right: S⁻¹ ∇W A⁻¹."
        )
    if "KroneckerFormed" not in report.lines[0]:
        return ""
    if "inv" in report.lines[0]:
        return (
            "solve, do not invert: S⁻¹ ∇W A⁻¹ is np.linalg.solve(S, ∇W) for S⁻¹∇W, and a "
            "second solve with A for the right factor (A is symmetric: X A⁻¹ = (A⁻¹ Xᵀ)ᵀ)."
        )
    return (
        "(A ⊗ S)⁻¹ vec(∇W) = vec(S⁻¹ ∇W A⁻¹): two solves with the small factors, "
        "O(in³ + out³), never the (in·out)×(in·out) product."
    )


KFAC = (
    "(A ⊗ S)⁻¹ = A⁻¹ ⊗ S⁻¹ and (A ⊗ S) vec(X) = vec(S X Aᵀ) with vec stacking "
    "columns: S (outputs) acts from the left, A (inputs) from the right: S⁻¹ ∇W A⁻¹."
)


def _kfac_slips(grad_W, A, S):
    """diagnose(got, expected) for one case: the usual slips, by value."""
    inv_A, inv_S = np.linalg.inv(A), np.linalg.inv(S)
    slips = [
        (
            grad_W @ inv_S if grad_W.shape[1] == len(S) else None,
            "the factors are the other way round: S (out×out) acts from the left and A "
            "(in×in) from the right, S⁻¹ ∇W A⁻¹.",
        ),
        (
            inv_A @ grad_W @ inv_S
            if grad_W.shape[0] == len(A) and grad_W.shape[1] == len(S)
            else None,
            "the factors are the other way round: S (out×out) acts from the left and A "
            "(in×in) from the right, S⁻¹ ∇W A⁻¹.",
        ),
        (
            np.linalg.solve(np.kron(A, S), grad_W.ravel()).reshape(grad_W.shape),
            'vec stacks the columns (order="F"), not the rows: with columns, '
            "(A ⊗ S) vec(X) = vec(S X Aᵀ).",
        ),
        (S @ grad_W @ A.T, "the factors multiply ∇W, they must be inverted: S⁻¹ ∇W A⁻¹."),
        (S @ grad_W @ A, "the factors multiply ∇W, they must be inverted: S⁻¹ ∇W A⁻¹."),
        (inv_S @ grad_W, "A⁻¹ is missing, on the right: S⁻¹ ∇W A⁻¹."),
        (grad_W @ inv_A, "S⁻¹ is missing, on the left: S⁻¹ ∇W A⁻¹."),
    ]

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return a matrix shaped like ∇W, {expected.shape} (out, in)."
        for value, text in slips:
            if value is not None and np.allclose(got, value, rtol=1e-8, atol=1e-12):
                return text
        return ""

    return diagnose


def kfac_cases():
    """fn(grad_W, A, S); expected: numpy.linalg.solve on the explicit Kronecker product."""
    rng = np.random.default_rng(2015)

    def spd(n):
        M = rng.standard_normal((n, n))
        return M @ M.T / n + 0.5 * np.eye(n)

    cases = []
    for name, d_out, d_in in [
        ("W of shape (3, 5)", 3, 5),
        ("W of shape (2, 4)", 2, 4),
        ("W of shape (3, 3): square, the factors' order matters", 3, 3),
    ]:
        A, S, grad_W = spd(d_in), spd(d_out), rng.standard_normal((d_out, d_in))
        cases.append(
            Case(
                name,
                (grad_W, _factor(A, forbid_inv=True), _factor(S, forbid_inv=True)),
                _kron_solve(A, S, grad_W),
                hint=KFAC,
                rtol=1e-9,
                diagnose=_kfac_slips(grad_W, A, S),
                on_error=_formed,
            )
        )
    return cases


def evaluate_kfac_precondition(fn):
    """Compare fn(grad_W, A, S) with numpy.linalg.solve(np.kron(A, S), vec(grad_W))."""
    return evaluate_function(fn, kfac_cases())


check_kfac_precondition = printing(evaluate_kfac_precondition)

# --- Exercise 5.6: K-FAC with exact damping -------------------------------------------------


def _exact_damping_slips(grad_W, A, S, damping):
    """diagnose(got, expected) for one case: names the result of each usual slip."""
    a, Q_A = np.linalg.eigh(A)
    s, Q_S = np.linalg.eigh(S)
    V = Q_S.T @ grad_W @ Q_A
    root = np.sqrt(damping)
    eye_in, eye_out = np.eye(len(A)), np.eye(len(S))
    slips = [
        (
            kfac_precondition(grad_W, A + root * eye_in, S + root * eye_out),
            "that is the factored damping (A + √λI) ⊗ (S + √λI) = A ⊗ S + √λ(A ⊗ I + I ⊗ S) "
            "+ λI: it damps more than λI. Go through the eigenvectors of A and S instead.",
        ),
        (
            Q_S @ (V / (np.add.outer(s, a) + damping)) @ Q_A.T,
            "the eigenvalues of A ⊗ S are the products sᵢaⱼ of the factors' eigenvalues, "
            "not their sums: divide by sᵢaⱼ + λ.",
        ),
        (
            V / (np.outer(s, a) + damping),
            "that is the answer in the eigenbases: rotate back, Q_S (…) Q_Aᵀ.",
        ),
        (
            kfac_precondition(grad_W, A, S + damping * eye_out),
            "λ is added to one factor only: (A ⊗ (S + λI))⁻¹ is not (A ⊗ S + λI)⁻¹.",
        ),
        (
            kfac_precondition(grad_W, A + damping * eye_in, S),
            "λ is added to one factor only: ((A + λI) ⊗ S)⁻¹ is not (A ⊗ S + λI)⁻¹.",
        ),
    ]

    def diagnose(got, expected):
        for value, text in slips:
            if got.shape == value.shape and np.allclose(got, value, rtol=1e-7, atol=1e-10):
                return text
        return ""

    return diagnose


def kfac_exact_damping_cases():
    """fn(grad_W, A, S, damping); expected: numpy.linalg.solve on A ⊗ S + λI."""
    rng = np.random.default_rng(2019)
    hint = (
        "with A = Q_A Λ_A Q_Aᵀ and S = Q_S Λ_S Q_Sᵀ (np.linalg.eigh), A ⊗ S + λI = "
        "(Q_A ⊗ Q_S)(Λ_A ⊗ Λ_S + λI)(Q_A ⊗ Q_S)ᵀ: rotate ∇W into the eigenbases, "
        "V = Q_Sᵀ ∇W Q_A, divide entry (i, j) by sᵢaⱼ + λ, and rotate back, Q_S V Q_Aᵀ."
    )

    def psd(n):
        M = rng.standard_normal((n, n))
        return M @ M.T / n

    p = rng.dirichlet(np.ones(4))
    specs = [
        ("W of shape (3, 5), λ = 0.1", psd(5), psd(3), 0.1),
        (
            "W of shape (4, 6), S singular as the softmax's (rows sum to 0), λ = 10⁻³",
            psd(6),
            np.diag(p) - np.outer(p, p),
            1e-3,
        ),
        ("W of shape (3, 3): square, the factors' order matters, λ = 1", psd(3), psd(3), 1.0),
    ]
    cases = []
    for name, A, S, damping in specs:
        grad_W = rng.standard_normal((len(S), len(A)))
        expected = _kron_solve(A, S, grad_W, damping)
        diagnose = _exact_damping_slips(grad_W, A, S, damping)
        cases.append(
            Case(
                name,
                (grad_W, _factor(A), _factor(S), damping),
                expected,
                hint=hint,
                diagnose=diagnose,
                rtol=1e-8,
                on_error=_formed,
            )
        )
    return cases


def evaluate_kfac_exact_damping(fn):
    """Compare fn(grad_W, A, S, damping) with numpy.linalg.solve(np.kron(A, S) + λI, vec(∇W))."""
    return evaluate_function(fn, kfac_exact_damping_cases())


check_kfac_exact_damping = printing(evaluate_kfac_exact_damping)
