"""Lesson 05b (Hessian-free methods): the finite-difference Hessian-vector product and its best
step, linear conjugate gradient and the steps it needs, the Gauss–Newton vector product, the
Levenberg–Marquardt damping and three Levenberg–Marquardt runs to diagnose."""

import numpy as np

from ..data import load_digits, load_references
from ..hessian_free import conjugate_gradient, minimize_levenberg_marquardt, update_damping
from ..mlp import MLP, softmax, split_train_validation
from ..problems import beale, quadratic_with_spectrum, rosenbrock
from .engine import Budget, Case, Report, evaluate_function, evaluate_letters, printing

# --- Exercise 5b.1: the finite-difference Hessian-vector product ------------------------------


def _central(grad, x, v, h):
    return (grad(x + h * v) - grad(x - h * v)) / (2 * h)


def _fd_diagnosis(args, h):
    """A diagnose(got, expected) naming the usual slips of a finite-difference product."""
    grad, x, v = args

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return an array shaped like x, {expected.shape}."
        forward = (grad(x + h * v) - grad(x)) / h
        if np.allclose(got, forward, rtol=1e-9, atol=1e-12):
            return (
                "that is the forward difference (∇f(x + hv) − ∇f(x)) / h, error O(h); "
                "use the central one, (∇f(x + hv) − ∇f(x − hv)) / 2h, error O(h²)."
            )
        for factor, slip in (
            (2.0, "divide by 2h (the two points are 2h apart), not by h"),
            (0.5, "divide by 2h, not by 4h or h²"),
            (-1.0, "the sign is reversed: ∇f(x + hv) comes first"),
        ):
            if np.allclose(got, factor * expected, rtol=1e-9, atol=1e-12):
                return slip + "."
        for fixed in (1e-5, 1e-4, 1e-6, 1e-3):
            if fixed != h and np.allclose(got, _central(grad, x, v, fixed), rtol=1e-9, atol=1e-12):
                return f"h = {h:g} in this case: use the argument h, not a fixed {fixed:g}."
        u = v / np.linalg.norm(v)
        if np.allclose(got, _central(grad, x, u, h), rtol=1e-9, atol=1e-12) or np.allclose(
            got, np.linalg.norm(v) * _central(grad, x, u, h), rtol=1e-9, atol=1e-12
        ):
            return "step along v itself (x ± h·v), not along v/‖v‖: H v scales with ‖v‖."
        return ""

    return diagnose


def fd_hvp_cases():
    """fn(grad, x, v, h) → (∇f(x + hv) − ∇f(x − hv)) / 2h, computed here from the problem."""
    hint = "H v ≈ (∇f(x + h v) − ∇f(x − h v)) / (2h): two gradients, along ±v, h = the argument."
    cases = []
    quad = quadratic_with_spectrum([0.5, 2.0, 9.0], seed=4, name="3-D quadratic")
    for name, problem, x, v, h in [
        (
            "Rosenbrock at (−1.2, 1) along (1, 0.5), h = 1e-4",
            rosenbrock,
            [-1.2, 1.0],
            [1.0, 0.5],
            1e-4,
        ),
        ("Beale at (1, 1.4) along (0.3, −1), h = 0.01", beale, [1.0, 1.4], [0.3, -1.0], 1e-2),
        (
            "3-D quadratic along v with ‖v‖ = 3, h = 0.1",
            quad,
            [1.0, -1.0, 2.0],
            [2.0, 1.0, 2.0],
            0.1,
        ),
        (
            "Rosenbrock at (0.5, 0.8) along (−2, 1), h = 1e-3",
            rosenbrock,
            [0.5, 0.8],
            [-2.0, 1.0],
            1e-3,
        ),
    ]:
        args = (problem.grad, np.array(x), np.array(v))
        expected = _central(*args, h)
        cases.append(
            Case(
                name,
                args,
                expected,
                kwargs={"h": h},
                hint=hint,
                rtol=1e-8,
                diagnose=_fd_diagnosis(args, h),
            )
        )
    return cases


def evaluate_fd_hvp(fn):
    """Compare fn(grad, x, v, h) with the central difference of the gradient along v."""
    return evaluate_function(fn, fd_hvp_cases())


check_fd_hvp = printing(evaluate_fd_hvp)

# --- Exercise 5b.2: the best finite-difference step, derived ----------------------------------

SCHEMES = {"central": 2, "forward": 1}  # the power of h in the truncation error


def _error_model(a, b, scheme):
    """The error model e(h) = a·h^q + b/h of a finite difference (q = 2 central, 1 forward)."""
    return lambda h: a * h ** SCHEMES[scheme] + b / h


def minimise_error_model(a, b, scheme):
    """The h > 0 that minimises a·h^q + b/h, found numerically: a log grid over 40 decades
    brackets the minimum, then bisection on the sign of e′(h) = q·a·h^(q−1) − b/h² (no
    closed form assumed)."""
    q = SCHEMES[scheme]
    grid = np.logspace(-30, 10, 4001)
    k = int(np.argmin(_error_model(a, b, scheme)(grid)))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        if q * a * mid ** (q - 1) - b / mid**2 < 0:  # still falling: the minimum is right
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))


def _best_step_diagnosis(a, b, scheme):
    """A diagnose(got, expected) naming the usual slips of the minimisation."""
    slips = {
        "central": [
            (
                (b / a) ** (1 / 2),
                "that is the forward difference's step √(b/a): here the "
                "truncation error is a·h², so e′(h) = 2a·h − b/h².",
            ),
            ((b / a) ** (1 / 3), "the 2 of e′(h) = 2a·h − b/h² is missing: 2a·h³ = b."),
            ((2 * b / a) ** (1 / 3), "2a·h³ = b gives h³ = b/(2a), not 2b/a."),
            ((a / (2 * b)) ** (1 / 3), "upside down: h³ = b/(2a), rounding b on top."),
            (
                b ** (1 / 3),
                "a is missing: h³ = b/(2a), a large truncation constant means a smaller h.",
            ),
        ],
        "forward": [
            (
                (b / (2 * a)) ** (1 / 3),
                "that is the central difference's step: here the "
                "truncation error is a·h, so e′(h) = a − b/h².",
            ),
            ((b / (2 * a)) ** (1 / 2), "e′(h) = a − b/h² has no 2: a·h² = b."),
            ((a / b) ** (1 / 2), "upside down: h² = b/a, rounding b on top."),
            (b ** (1 / 2), "a is missing: h² = b/a."),
        ],
    }[scheme]

    def diagnose(got, expected):
        if got.size != 1:
            return "return one number, the step h."
        for value, text in slips:
            if np.isclose(float(got.ravel()[0]), value, rtol=1e-6):
                return text
        return ""

    return diagnose


def best_step_cases():
    """fn(a, b, scheme) → the h minimising a·h² + b/h ("central") or a·h + b/h ("forward");
    expected: the minimum found numerically (minimise_error_model)."""
    hint = (
        "set the derivative of the error model to zero: central, e(h) = a·h² + b/h; "
        "forward, e(h) = a·h + b/h."
    )
    cases = []
    for a, b, scheme in [
        (0.25, 3e-17, "central"),
        (0.02, 1e-10, "forward"),
        (1.0, 2.2e-16, "central"),
        (1.0, 2.2e-16, "forward"),
        (40.0, 1e-12, "central"),
        (3.0, 3e-17, "forward"),
    ]:
        cases.append(
            Case(
                f"a = {a:g}, b = {b:g}, {scheme}",
                (a, b, scheme),
                minimise_error_model(a, b, scheme),
                hint=hint,
                rtol=1e-6,
                atol=0.0,
                source="the minimum of the error model, found numerically",
                diagnose=_best_step_diagnosis(a, b, scheme),
            )
        )
    return cases


def evaluate_best_step(fn):
    """Compare fn(a, b, scheme) with the numerically found minimiser of the error model."""
    return evaluate_function(fn, best_step_cases())


check_best_step = printing(evaluate_best_step)

# --- Exercise 5b.3: linear conjugate gradient --------------------------------------------------


def _cg(A, b, rtol, max_iter=None, beta="right", alpha="right", stop="relative"):
    """CG's iterates and residual norms, with one slip: β inverted or from the same residuals
    (β = 1), p = r (steepest descent, β = 0), α without A, an absolute stop ‖r‖ < rtol."""
    max_iter = 10 * len(b) if max_iter is None else max_iter
    x, r = np.zeros(len(b)), np.array(b, dtype=float)
    p, rr = r.copy(), r @ r
    xs, norms = [x.copy()], [np.sqrt(rr)]
    limit = rtol * np.linalg.norm(b) if stop == "relative" else rtol
    while norms[-1] >= limit and len(xs) <= max_iter:
        Ap = A @ p
        a = rr / (p @ Ap) if alpha == "right" else rr / (p @ p)
        x, r = x + a * p, r - a * Ap
        rr_new = r @ r
        factor = {"right": rr_new / rr, "inverted": rr / rr_new, "same": 1.0, "zero": 0.0}[beta]
        p, rr = r + factor * p, rr_new
        xs.append(x.copy())
        norms.append(np.sqrt(rr))
    return np.array(xs), np.array(norms)


CG_SLIPS = [
    ({"beta": "inverted"}, "β is upside down: β = r_newᵀr_new / r_oldᵀr_old (new over old)."),
    (
        {"beta": "same"},
        "β = 1: the old rᵀr was overwritten before β was computed. Keep it: "
        "β = r_newᵀr_new / r_oldᵀr_old.",
    ),
    (
        {"beta": "zero"},
        "that is steepest descent (p = r): CG's direction is p = r + βp, "
        "β = r_newᵀr_new / r_oldᵀr_old, conjugate to the ones before.",
    ),
    ({"alpha": "no A"}, "α = rᵀr / pᵀAp: the curvature along p, not pᵀp."),
    (
        {"stop": "absolute"},
        "stop as soon as ‖r‖ < rtol·‖b‖, a relative test, checked before each step (as "
        "scipy does), not ‖r‖ < rtol.",
    ),
]


def _cg_slips(A, b, rtol, max_iter):
    """diagnose for xs and residual_norms: the usual slips, by their iterates."""
    n = len(b)

    def for_xs(got, expected):
        one_short = got.ndim == 2 and got.shape[1] == n and len(got) == len(expected) - 1
        if one_short and np.allclose(got, expected[1:], rtol=1e-7, atol=1e-9):
            return "xs starts with x_0 = 0: return every iterate, x_0 first (k + 1 rows)."
        if got.ndim != 2 or got.shape[1:] != (n,):
            return f"xs is an array with one row per iterate, shape (k + 1, {n}), x_0 = 0 first."
        if max_iter is not None:
            right = _cg(A, b, rtol)
            if got.shape == right[0].shape and np.allclose(got, right[0], rtol=1e-7, atol=1e-9):
                return f"max_iter = {max_iter} in this case: stop after max_iter steps."
        for slip, text in CG_SLIPS:
            value = _cg(A, b, rtol, max_iter, **slip)[0]
            if got.shape == value.shape and np.allclose(got, value, rtol=1e-7, atol=1e-9):
                return text
        return ""

    def for_norms(got, expected):
        if got.shape != expected.shape:
            return f"one residual norm per iterate, shape {expected.shape}, ‖r_0‖ = ‖b‖ first."
        if np.allclose(got, expected**2, rtol=1e-6):
            return "‖r_k‖ = √(r_kᵀr_k), not rᵀr."
        return ""

    return for_xs, for_norms


def _hvp(A, n):
    return Budget(
        lambda v: A @ v,
        "hvp",
        limit=20 * n + 20,
        advice="is the loop's test ‖r‖ ≥ rtol·‖b‖ (with max_iter as a bound), and is r "
        "updated in the loop?",
    )


CG_RULE = (
    "r = b − Ax, p = r; α = rᵀr / pᵀAp; x += αp; r −= αAp; β = r_newᵀr_new / r_oldᵀr_old "
    "(keep the old rᵀr before overwriting it); p = r + βp."
)


def _cg_case(name, A, b, rtol, expected, hint, source, max_iter=None):
    kwargs = {"rtol": rtol} if max_iter is None else {"rtol": rtol, "max_iter": max_iter}
    return Case(
        name,
        (_hvp(A, len(b)), b),
        expected,
        kwargs=kwargs,
        hint=" ".join(filter(None, [hint, CG_RULE])),
        parts=("xs", "residual_norms"),
        rtol=(1e-7, 1e-6),
        atol=(1e-9, 1e-9 * np.linalg.norm(b)),
        source=source,
        diagnose=_cg_slips(A, b, rtol, max_iter),
    )


def cg_cases():
    """fn(hvp, b, rtol, max_iter) → (xs, residual norms); expected: scipy.sparse.linalg.cg's
    iterates, cut after max_iter steps where it is given."""
    ref = load_references("hessian_free")["cg"]
    source = (ref["source"], "‖b − A x_k‖")
    cases = []
    for c in ref["cases"]:
        A, b = np.array(c["A"]), np.array(c["b"])
        expected = (np.array(c["expected"]), np.array(c["residual_norms"]))
        cases.append(_cg_case(c["name"], A, b, c["rtol"], expected, c["hint"], source))
    # max_iter given: a run cut short is the first max_iter steps of scipy's run.
    first = ref["cases"][0]
    A, b = np.array(first["A"]), np.array(first["b"])
    n, steps = len(b), 2
    cut = (np.array(first["expected"])[: steps + 1], np.array(first["residual_norms"])[: steps + 1])
    assert len(first["expected"]) > steps + 1  # the run is longer than the cut
    cases.append(
        _cg_case(
            f"{n}×{n}, max_iter = {steps}: the first {steps} steps of the run above",
            A,
            b,
            first["rtol"],
            cut,
            f"use the argument max_iter: at most {steps} steps, so {steps + 1} iterates.",
            source,
            max_iter=steps,
        )
    )
    # The default max_iter: rtol = 0 is never met, so CG runs its 10·d steps (scipy's default
    # maxiter). After d steps the iterates sit on the solution, to rounding, so course_lib's
    # own CG, which matches scipy above, gives the expected rows.
    cases.append(
        _cg_case(
            f"{n}×{n}, rtol = 0 (never met): the default max_iter, 10·d = {10 * n} steps",
            A,
            b,
            0.0,
            conjugate_gradient(lambda v: A @ v, b, rtol=0.0),
            f"max_iter=None means 10·d steps, d = len(b) (scipy's default maxiter), so "
            f"{10 * n + 1} iterates with x_0, not d: in floating point CG can need more than d "
            "steps "
            "(in section 2, κ = 10⁴ needs about three times the dimension).",
            "course_lib's CG, run to max_iter",
        )
    )
    return cases


def evaluate_conjugate_gradient(fn):
    """Compare fn(hvp, b, rtol, max_iter) with scipy.sparse.linalg.cg: every iterate and
    residual norm, max_iter given and by default."""
    return evaluate_function(
        fn,
        cg_cases(),
        agree=" agree with scipy.sparse.linalg.cg, with max_iter given and by default.",
    )


check_conjugate_gradient = printing(evaluate_conjugate_gradient)


# --- Exercise 5b.4: how many CG steps? A prediction ------------------------------------------

CG_DIMENSION = 100
CG_RTOL = 1e-8


def cg_spectra(d=CG_DIMENSION):
    """The eigenvalues of the quadratics of Exercise 5b.4 and section 2's figure, by name."""
    rng = np.random.default_rng(2)
    return {
        "2 values": np.repeat([1.0, 100.0], d // 2),
        "5 values": np.repeat([1.0, 3.0, 10.0, 30.0, 100.0], d // 5),
        "3 clusters": np.concatenate(
            [c * (1 + 1e-3 * rng.uniform(-1, 1, k)) for c, k in ((1, 40), (10, 30), (100, 30))]
        ),
        "spread, κ = 100": np.geomspace(1, 100, d),
        "spread, κ = 10⁴": np.geomspace(1, 1e4, d),
    }


PREDICTED = ("2 values", "5 values", "3 clusters", "spread, κ = 100")


def cg_right_hand_side(d=CG_DIMENSION):
    """The right-hand side b of section 2's systems (seeded)."""
    return np.random.default_rng(1).standard_normal(d)


def cg_steps(spectrum, rtol=CG_RTOL):
    """CG's steps to ‖r‖ < rtol·‖b‖ on A x = b, A with these eigenvalues in a random basis."""
    A = quadratic_with_spectrum(spectrum, seed=0).A
    b = cg_right_hand_side(len(spectrum))
    return len(conjugate_gradient(lambda v: A @ v, b, rtol=rtol, max_iter=10 * len(b))[0]) - 1


def measured_cg_steps():
    """{name of PREDICTED: the steps CG takes}, measured with course_lib's CG."""
    spectra = cg_spectra()
    return {name: cg_steps(spectra[name]) for name in PREDICTED}


CG_STEP_HINTS = {
    "2 values": "with k distinct eigenvalues the polynomial ∏(1 − t/λ_j) of degree k vanishes "
    "on all of them: k steps, whatever the dimension.",
    "5 values": "with k distinct eigenvalues the polynomial ∏(1 − t/λ_j) of degree k vanishes "
    "on all of them: k steps, whatever the dimension.",
    "3 clusters": "a tight cluster is not one eigenvalue: the polynomial must be small across "
    "each cluster, which costs a few steps per cluster, more as the tolerance tightens.",
    "spread, κ = 100": "neither one step per eigenvalue nor √κ steps: the bound 2q^k, "
    "q = (√κ − 1)/(√κ + 1) ≈ 1 − 2/√κ, reaches 10⁻⁸ after about (√κ/2)·ln(2·10⁸) ≈ 96 steps; "
    "CG does a little better.",
}


def _steps_ok(predicted, measured):
    """Within one step, or within a factor 1.5."""
    return abs(predicted - measured) <= 1 or measured / 1.5 <= predicted <= 1.5 * measured


def evaluate_cg_steps(prediction):
    """Compare a prediction {name of PREDICTED: CG's steps} with the steps CG takes (within one
    step or a factor 1.5)."""
    name = "predicted_steps"
    keys = ", ".join(f'"{k}"' for k in PREDICTED)
    if not isinstance(prediction, dict) or set(prediction) != set(PREDICTED):
        got = sorted(prediction) if isinstance(prediction, dict) else type(prediction).__name__
        return Report(
            name,
            False,
            [
                f"✘ {name}: expected a dict with the keys {keys}; got {got}.",
                '  hint: one number of steps for each, e.g. {"2 values": …, "5 values": …, '
                '"3 clusters": …, "spread, κ = 100": …}.',
            ],
        )
    measured = measured_cg_steps()
    for key in PREDICTED:
        try:
            value = float(prediction[key])
        except (TypeError, ValueError):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {key!r} → {prediction[key]!r} is not a number.",
                    "  hint: a number of CG steps.",
                ],
            )
        if not _steps_ok(value, measured[key]):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: {key}: you predicted {value:g} steps; CG took {measured[key]} "
                    f"(to ‖r‖ < 10⁻⁸‖b‖, d = {CG_DIMENSION}).",
                    f"  hint: {CG_STEP_HINTS[key]}",
                ],
            )
    return Report(
        name,
        True,
        [
            f"✔ {name}: each within one step or a factor 1.5 of the steps CG took (d = "
            f"{CG_DIMENSION}, to ‖r‖ < 10⁻⁸‖b‖); the figure below counts them."
        ],
    )


check_cg_steps = printing(evaluate_cg_steps)

# --- Exercise 5b.5: the Gauss–Newton vector product -------------------------------------------


def _network(sizes, activation, n, seed):
    X, y = load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    return MLP(X_train[:n], y_train[:n], sizes=sizes, activation=activation, seed=seed)


def _ggn_diagnosis(logits, jvp, vjp, v):
    """A diagnose(got, expected) naming the usual slips of a Gauss–Newton product."""
    Jv, p, n = jvp(v), softmax(logits), len(logits)  # p: the probabilities ŷ

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return (
                f"return a vector shaped like v, {expected.shape}: H_ℓ (J v) has the logits' "
                f"shape {Jv.shape} until vjp pulls it back."
            )
        slips = {
            "Jᵀ J v: the loss Hessian H_ℓ in the logits is missing between J and Jᵀ": vjp(Jv),
            "the mean's 1/n is missing: H_ℓ = (diag(ŷ_i) − ŷ_i ŷ_iᵀ)/n": n * expected,
            "H_ℓ = diag(ŷ_i) − ŷ_i ŷ_iᵀ: the outer product ŷ_i ŷ_iᵀ term is missing": vjp(
                p * Jv / n
            ),
            "the sign of ŷ_i ŷ_iᵀ: H_ℓ = diag(ŷ_i) − ŷ_i ŷ_iᵀ, minus": vjp(
                p * (Jv + np.sum(p * Jv, axis=1, keepdims=True)) / n
            ),
        }
        for slip, value in slips.items():
            if np.allclose(got, value, rtol=1e-7, atol=1e-12):
                return slip + "."
        return ""

    return diagnose


def gauss_newton_cases():
    """fn(logits, jvp, vjp, v) → Jᵀ H_ℓ J v; expected: torch (the reference network) and the
    explicit Jacobian and loss Hessian, built here column by column, for two other networks."""
    ref = load_references("hessian_free")["network"]
    hint = (
        "G v = Jᵀ (H_ℓ (J v)): jvp(v) gives J v, shape (n, C); multiply each row u_i by "
        "H_ℓ = (diag(ŷ_i) − ŷ_i ŷ_iᵀ)/n with ŷ_i = softmax(logits_i), i.e. "
        "ŷ_i ⊙ (u_i − ŷ_iᵀu_i)/n; then vjp pulls the result back to the parameters."
    )
    cases = []
    net = _network(ref["sizes"], "tanh", ref["examples"], 0)
    rng = np.random.default_rng(ref["seed"])
    w, v = 0.3 * rng.standard_normal(net.dim), rng.standard_normal(net.dim)
    specs = [
        (
            f"tanh network {ref['sizes']}, {ref['examples']} digits",
            net,
            w,
            v,
            np.array(ref["loss_gauss_newton_vp"]),
            ref["source"],
        )
    ]
    for name, sizes, activation, n, seed in [
        ("ReLU network (64, 6, 10), 30 digits", (64, 6, 10), "relu", 30, 1),
        ("tanh network (64, 5, 4, 10), 25 digits", (64, 5, 4, 10), "tanh", 25, 2),
    ]:
        other = _network(sizes, activation, n, seed)
        rng = np.random.default_rng(seed)
        w_, v_ = other.x0 + 0.1 * rng.standard_normal(other.dim), rng.standard_normal(other.dim)
        J = np.stack([other.jvp(w_, e).ravel() for e in np.eye(other.dim)], axis=1)
        p = softmax(other.logits(w_, other.X))
        H = np.zeros((J.shape[0], J.shape[0]))
        C = p.shape[1]
        for i, p_i in enumerate(p):  # block i: (diag(ŷ_i) − ŷ_i ŷ_iᵀ) / n
            H[i * C : (i + 1) * C, i * C : (i + 1) * C] = (np.diag(p_i) - np.outer(p_i, p_i)) / n
        specs.append((name, other, w_, v_, J.T @ H @ J @ v_, "explicit J and H_L"))
    for name, model, w_, v_, expected, source in specs:
        logits = model.logits(w_, model.X)
        jvp = lambda u, model=model, w_=w_: model.jvp(w_, u)
        vjp = lambda u, model=model, w_=w_: model.vjp(w_, u)
        args = (logits, jvp, vjp, v_)
        cases.append(
            Case(
                name,
                args,
                expected,
                hint=hint,
                rtol=1e-8,
                atol=1e-12,
                source=source,
                diagnose=_ggn_diagnosis(*args),
            )
        )
    return cases


def evaluate_gauss_newton_vp(fn):
    """Compare fn(logits, jvp, vjp, v) with Jᵀ H_ℓ J v (torch, and explicit matrices)."""
    return evaluate_function(fn, gauss_newton_cases())


check_gauss_newton_vp = printing(evaluate_gauss_newton_vp)

# --- Exercise 5b.6: the Levenberg–Marquardt damping -------------------------------------------


DAMPING = "r < ¼: ν ← boost·ν; r > ¾: ν ← drop·ν; otherwise ν stays."


def update_damping_cases():
    """fn(nu, r, boost, drop) → ν; expected: Martens's rule (2010, §4.1), worked out by
    hand for each case, at the thresholds ¼ and ¾ too."""
    specs = [  # (name, (ν, r), kwargs, expected ν, hint)
        ("r = 0.1: the model promised too much, more damping", (1.0, 0.1), {}, 1.5, DAMPING),
        ("r = −3 (the loss went up), more damping", (0.2, -3.0), {}, 0.3, DAMPING),
        ("r = 0.9: a good model, less damping", (1.0, 0.9), {}, 2 / 3, DAMPING),
        ("r = 0.5: keep ν", (2.0, 0.5), {}, 2.0, DAMPING),
        ("r = 0.2 < ¼: more damping", (0.5, 0.2), {}, 0.75, DAMPING),
        ("r = 0.3, just above ¼: keep ν", (1.0, 0.3), {}, 1.0, DAMPING),
        ("r = 0.7, just below ¾: keep ν", (1.0, 0.7), {}, 1.0, DAMPING),
        ("r = ¼ exactly: keep ν (more damping only below ¼)", (1.0, 0.25), {}, 1.0, DAMPING),
        ("r = ¾ exactly: keep ν (less damping only above ¾)", (1.0, 0.75), {}, 1.0, DAMPING),
        (
            "r = 0.8, drop = 0.5",
            (4.0, 0.8),
            {"drop": 0.5},
            2.0,
            "use the arguments boost and drop. " + DAMPING,
        ),
        (
            "r = 0.0, boost = 3",
            (1e-3, 0.0),
            {"boost": 3.0},
            3e-3,
            "use the arguments boost and drop. " + DAMPING,
        ),
    ]
    return [
        Case(
            name,
            args,
            expected,
            kwargs=kw,
            hint=hint,
            diagnose=_damping_diagnosis(*args, **kw),
        )
        for name, args, kw, expected, hint in specs
    ]


def _damping_diagnosis(nu, r, boost=1.5, drop=2 / 3):
    """A diagnose(got, expected) naming the usual slips of a damping update."""

    def diagnose(got, expected):
        if got.size != 1:
            return "return one number, the new ν."
        got = float(got.ravel()[0])
        if r == 0.25 and np.isclose(got, boost * nu):
            return "at r = ¼ exactly ν stays: more damping only when r < ¼ (strict)."
        if r == 0.75 and np.isclose(got, drop * nu):
            return "at r = ¾ exactly ν stays: less damping only when r > ¾ (strict)."
        if (np.isclose(got, drop * nu) and r < 0.25) or (np.isclose(got, boost * nu) and r > 0.75):
            return "boost and drop are swapped: a poor model (small r) needs MORE damping."
        custom = (boost, drop) != (1.5, 2 / 3)
        if custom and (np.isclose(got, 1.5 * nu) or np.isclose(got, 2 / 3 * nu)):
            return "use the arguments boost and drop, not the fixed 3/2 and 2/3."
        if np.isclose(got, nu) and not np.isclose(expected, nu):
            change = (
                f"r = {r:g} < ¼ asks for more damping: return boost·nu (is the threshold ¼?)"
                if r < 0.25
                else f"r = {r:g} > ¾ asks for less damping: return drop·nu (is the threshold ¾?)"
            )
            return (
                f"ν must change here: {change}. A damping that never adapts is plain "
                "Gauss–Newton + νI."
            )
        if np.isclose(got, boost * nu) and r >= 0.25:
            return f"more damping only when r < ¼; here r = {r:g} (is the threshold ¼?)."
        if np.isclose(got, drop * nu) and r <= 0.75:
            return f"less damping only when r > ¾; here r = {r:g} (is the threshold ¾?)."
        return ""

    return diagnose


def evaluate_update_damping(fn):
    """Compare a Levenberg–Marquardt damping update with Martens's rule (¼, ¾; ×3/2, ×2/3)."""
    return evaluate_function(fn, update_damping_cases())


check_update_damping = printing(evaluate_update_damping)


# --- Exercise 5b.7: three Levenberg–Marquardt runs, diagnosed ---------------------------------

LM_SLIPS = ("Jacobian never updated", "boost and drop swapped", "ν₀ far too large")
LM_BROKEN = {"A": "ν₀ far too large", "B": "Jacobian never updated", "C": "boost and drop swapped"}


def _lm_with(slip, residuals, jacobian, theta0, max_iter):
    """A Levenberg–Marquardt run (ν₀ = 1, Martens's factors) with one slip of LM_SLIPS."""
    nu0, jac, update = 1.0, jacobian, update_damping
    if slip == "Jacobian never updated":
        first = np.array(jacobian(np.array(theta0, dtype=float)))
        jac = lambda theta: first  # the slip: J computed once
    elif slip == "boost and drop swapped":
        update = lambda nu, r: update_damping(nu, r, boost=2 / 3, drop=1.5)
    elif slip == "ν₀ far too large":
        nu0 = 1e5
    return minimize_levenberg_marquardt(
        residuals, jac, theta0, lam=nu0, update=update, max_iter=max_iter, label=slip
    )


def mystery_lm_runs(residuals, jacobian, theta0, max_iter=40):
    """Three Levenberg–Marquardt runs, {"A": Run, "B": Run, "C": Run}, from theta0: each has
    one slip of LM_SLIPS (which one is for Exercise 5b.7 to find)."""
    runs = {}
    for letter, slip in LM_BROKEN.items():
        runs[letter] = _lm_with(slip, residuals, jacobian, theta0, max_iter)
        runs[letter].label = f"run {letter}"
    return runs


LM_TELLS = {
    "Jacobian never updated": (
        "a Jacobian computed once is right at the start and wrong later: the model's "
        "predicted decrease stops matching the actual one, so r strays far from one, ν climbs "
        "without end, and the cost stalls above the minimum the others reach."
    ),
    "boost and drop swapped": (
        "with the factors swapped a rejected step (r < 0) lowers ν, so the next trial step is "
        "longer still and is rejected again: the cost never moves while ν falls."
    ),
    "ν₀ far too large": (
        "with a huge ν every step is a short gradient step that the quadratic model predicts "
        "almost exactly: r ≈ 1 at every iteration, ν falls by the same factor each time, and "
        "the cost moves only once ν has come down."
    ),
}


def evaluate_lm_diagnosis(diagnosis):
    """Compare a diagnosis {slip of LM_SLIPS: "A", "B" or "C"} with mystery_lm_runs()'s slips."""
    return evaluate_letters(
        "diagnosis",
        diagnosis,
        LM_BROKEN,
        LM_TELLS,
        example="Jacobian never updated",
        solved="The ratio r tells them apart: always ≈ 1, always below zero, or far from one "
        "while the cost stalls.",
    )


check_lm_diagnosis = printing(evaluate_lm_diagnosis)
