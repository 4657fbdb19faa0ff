"""Lesson 05 (second-order methods): the Newton step, backtracking, the trust-region radius,
the BFGS update, K-FAC's preconditioner and K-FAC with exact damping."""

import numpy as np

from ..data import load_references
from ..problems import Quadratic, course_quadratic, rosenbrock
from ..second_order import backtracking, kfac_precondition, unvec, update_radius, vec
from .engine import Case, evaluate_function, evaluate_trajectories, printing

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


def _newton_hint(x, x_new, grad, extras, hyperparameters):
    step = -hyperparameters["lr"] * extras["hess"](x) @ grad(x)
    if np.allclose(x_new - x, step, rtol=1e-6, atol=1e-12):
        return (
            "you multiplied the gradient by H; Newton multiplies by H⁻¹ "
            "(solve H p = g with np.linalg.solve)."
        )
    return ""


def evaluate_newton(fn):
    """Run a Newton step function (it takes ``hess``) on the lesson-05 reference cases."""
    ref = load_references("second_order")["newton"]
    return evaluate_trajectories(fn, ref, _newton_problem, _newton_hint)


check_newton = printing(evaluate_newton)

# --- Exercise 5.2: backtracking -------------------------------------------------------------


def backtracking_cases():
    """fn(f, x, g, p, alpha, c, shrink) → α; expected: second_order.backtracking (Armijo)."""
    armijo = (
        "accept the first α with f(x + αp) ≤ f(x) + c·α·∇f(x)ᵀp (≤, and both c and α "
        "multiply the slope gᵀp), else α ← shrink·α."
    )
    steepest = lambda x, g, H: -g
    cases = []
    for name, problem, x, direction, kw, hint in [
        (
            "Rosenbrock at (−1.2, 1) along −∇f: α = 1 is far too long",
            rosenbrock,
            [-1.2, 1.0],
            steepest,
            {},
            armijo,
        ),
        (
            "course quadratic along the Newton direction: α = 1 is accepted",
            course_quadratic,
            [-5.0, -2.0],
            lambda x, g, H: -np.linalg.solve(H, g),
            {},
            "the full Newton step reaches the minimum: it satisfies the Armijo condition. "
            + armijo,
        ),
        (
            "course quadratic along −∇f, c = 0.5",
            course_quadratic,
            [-5.0, -2.0],
            steepest,
            {"c": 0.5},
            "c = 0.5 here: use the argument c. " + armijo,
        ),
        (
            "Rosenbrock near (1, 1) along −∇f, α = 0.01, shrink = 0.8",
            rosenbrock,
            [0.8, 0.6],
            steepest,
            {"alpha": 0.01, "shrink": 0.8},
            "start from the argument alpha and multiply by the argument shrink. " + armijo,
        ),
        (
            "Rosenbrock at (0, 0) along −∇f, c = 0.9",
            rosenbrock,
            [0.0, 0.0],
            steepest,
            {"c": 0.9},
            "c = 0.9 here: use the argument c. " + armijo,
        ),
    ]:
        x = np.array(x)
        g = problem.grad(x)
        p = direction(x, g, problem.hess(x))
        expected = backtracking(problem.f, x, g, p, **kw)
        args = (CallBudget(problem.f), x, g, p)  # fresh for every case: a loop cannot hang
        cases.append(Case(name, args, expected, kwargs=kw, hint=hint))
    return cases


class LoopNeverEnds(RuntimeError):
    """A loop under check called f far more often than the right answer needs."""


class CallBudget:
    """f, counting its calls: past ``limit`` it raises LoopNeverEnds, so that a search loop
    that never stops fails its check with one line instead of hanging the notebook."""

    def __init__(self, f, limit=200):
        self.f, self.limit, self.calls = f, limit, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls > self.limit:
            raise LoopNeverEnds(
                f"f was called {self.limit} times without the search stopping: is α shrunk "
                "and assigned (alpha = alpha * shrink), and does the condition use the new α, "
                "f(x + α p) > f(x) + c·α·gᵀp?"
            )
        return self.f(x)


def evaluate_backtracking(fn):
    """Compare a backtracking line search's step lengths with the Armijo rule's."""
    return evaluate_function(fn, backtracking_cases())


check_backtracking = printing(evaluate_backtracking)

# --- Exercise 5.3: the trust-region radius --------------------------------------------------


def update_radius_cases():
    """fn(radius, rho, on_boundary, max_radius) → Δ; expected: second_order.update_radius."""
    rule = "ρ < ¼: Δ ← ¼Δ; ρ > ¾ and ‖p‖ = Δ: Δ ← min(2Δ, Δ_max); otherwise Δ stays."
    cap = "doubling stops at max_radius (use the argument). " + rule
    specs = [
        ("ρ = 0.1: poor agreement, shrink", (1.0, 0.1, True), {}, rule),
        ("ρ = −2 (f went up), shrink", (0.5, -2.0, False), {}, rule),
        ("ρ = 0.9 on the boundary, grow", (1.0, 0.9, True), {}, rule),
        (
            "ρ = 0.9 inside the region: the radius was not limiting, keep it",
            (1.0, 0.9, False),
            {},
            "grow only when the step hit the boundary. " + rule,
        ),
        (
            "ρ = 0.5: good enough, keep",
            (2.0, 0.5, True),
            {},
            "between ¼ and ¾ nothing changes: are the two thresholds swapped? " + rule,
        ),
        (
            "ρ = 0.2 < ¼ although > η = 0.15: shrink",
            (2.0, 0.2, False),
            {},
            "the shrink threshold is ¼, not the acceptance threshold η. " + rule,
        ),
        (
            "ρ = 1.0 on the boundary at Δ = 600, Δ_max = 1000: capped",
            (600.0, 1.0, True),
            {"max_radius": 1000.0},
            cap,
        ),
        ("ρ = 0.8 on the boundary, Δ_max = 3", (2.0, 0.8, True), {"max_radius": 3.0}, cap),
    ]
    return [
        Case(name, args, update_radius(*args, **kw), kwargs=kw, hint=hint)
        for name, args, kw, hint in specs
    ]


def evaluate_update_radius(fn):
    """Compare a trust-region radius update with Nocedal & Wright's Algorithm 4.1."""
    return evaluate_function(fn, update_radius_cases())


check_update_radius = printing(evaluate_update_radius)

# --- Exercise 5.4: the BFGS update ----------------------------------------------------------


def evaluate_bfgs_update(fn):
    """Compare fn(H, s, y) with scipy.optimize.BFGS's inverse-Hessian updates."""
    ref = load_references("second_order")["bfgs_update"]
    hint = (
        "H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1/(yᵀs): s = x_new − x is the "
        "step, y = ∇f(x_new) − ∇f(x) the change of gradient; are s and y swapped, or "
        "the outer products s yᵀ and y sᵀ in the wrong places?"
    )
    cases = [
        Case(
            c["name"],
            (np.array(c["H"]), np.array(c["s"]), np.array(c["y"])),
            np.array(c["expected"]),
            hint=hint,
            rtol=1e-9,
        )
        for c in ref["cases"]
    ]
    return evaluate_function(fn, cases, agree=f" agree. (reference: {ref['source']})")


check_bfgs_update = printing(evaluate_bfgs_update)

# --- Exercise 5.5: K-FAC --------------------------------------------------------------------


def kfac_cases():
    """fn(grad_W, A, S); expected: numpy.linalg.solve on the explicit Kronecker product."""
    rng = np.random.default_rng(2015)
    hint = (
        "(A ⊗ S)⁻¹ = A⁻¹ ⊗ S⁻¹ and (A ⊗ S) vec(X) = vec(S X Aᵀ) with vec stacking "
        "columns: S (outputs) acts from the left, A (inputs) from the right: S⁻¹ ∇W A⁻¹."
    )

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
        expected = unvec(np.linalg.solve(np.kron(A, S), vec(grad_W)), grad_W.shape)
        cases.append(Case(name, (grad_W, A, S), expected, hint=hint, rtol=1e-9))
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
        K = np.kron(A, S) + damping * np.eye(len(A) * len(S))
        expected = unvec(np.linalg.solve(K, vec(grad_W)), grad_W.shape)
        diagnose = _exact_damping_slips(grad_W, A, S, damping)
        cases.append(
            Case(name, (grad_W, A, S, damping), expected, hint=hint, diagnose=diagnose, rtol=1e-8)
        )
    return cases


def evaluate_kfac_exact_damping(fn):
    """Compare fn(grad_W, A, S, damping) with numpy.linalg.solve(np.kron(A, S) + λI, vec(∇W))."""
    return evaluate_function(fn, kfac_exact_damping_cases())


check_kfac_exact_damping = printing(evaluate_kfac_exact_damping)
