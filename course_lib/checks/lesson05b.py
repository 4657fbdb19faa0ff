"""Lesson 05b (Hessian-free methods): the finite-difference Hessian-vector product, linear
conjugate gradient, the Gauss–Newton vector product and the Levenberg–Marquardt damping."""

import numpy as np

from ..data import load_digits, load_references
from ..hessian_free import conjugate_gradient
from ..mlp import MLP, softmax, split_train_validation
from ..problems import beale, quadratic_with_spectrum, rosenbrock
from .engine import Budget, Case, evaluate_function, printing

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

# --- Exercise 5b.2: linear conjugate gradient --------------------------------------------------


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
    # The default max_iter: rtol = 0 is never met, so CG runs its 10n steps (scipy's default
    # maxiter). After n steps the iterates sit on the solution, to rounding, so course_lib's
    # own CG, which matches scipy above, gives the expected rows.
    cases.append(
        _cg_case(
            f"{n}×{n}, rtol = 0 (never met): the default max_iter, 10n = {10 * n} steps",
            A,
            b,
            0.0,
            conjugate_gradient(lambda v: A @ v, b, rtol=0.0),
            f"max_iter=None means 10·n steps (scipy's default maxiter), so {10 * n + 1} "
            f"iterates with x_0, not n: in floating point CG can need more than n steps "
            "(section 2's κ = 10⁴ needs about 3n).",
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

# --- Exercise 5b.3: the Gauss–Newton vector product -------------------------------------------


def _network(sizes, activation, n, seed):
    X, y = load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    return MLP(X_train[:n], y_train[:n], sizes=sizes, activation=activation, seed=seed)


def _ggn_diagnosis(logits, jvp, vjp, v):
    """A diagnose(got, expected) naming the usual slips of a Gauss–Newton product."""
    Jv, p, n = jvp(v), softmax(logits), len(logits)

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return (
                f"return a vector shaped like v, {expected.shape}: H_L (J v) has the logits' "
                f"shape {Jv.shape} until vjp pulls it back."
            )
        slips = {
            "Jᵀ J v: the loss Hessian H_L in the logits is missing between J and Jᵀ": vjp(Jv),
            "the mean's 1/N is missing: H_L = (diag(p_i) − p_i p_iᵀ)/N": n * expected,
            "H_L = diag(p_i) − p_i p_iᵀ: the outer product p_i p_iᵀ term is missing": vjp(
                p * Jv / n
            ),
            "the sign of p_i p_iᵀ: H_L = diag(p_i) − p_i p_iᵀ, minus": vjp(
                p * (Jv + np.sum(p * Jv, axis=1, keepdims=True)) / n
            ),
        }
        for slip, value in slips.items():
            if np.allclose(got, value, rtol=1e-7, atol=1e-12):
                return slip + "."
        return ""

    return diagnose


def gauss_newton_cases():
    """fn(logits, jvp, vjp, v) → Jᵀ H_L J v; expected: torch (the reference network) and the
    explicit Jacobian and loss Hessian, built here column by column, for two other networks."""
    ref = load_references("hessian_free")["network"]
    hint = (
        "G v = Jᵀ (H_L (J v)): jvp(v) gives J v, shape (N, C); multiply each row u_i by "
        "H_L = (diag(p_i) − p_i p_iᵀ)/N with p_i = softmax(logits_i), i.e. "
        "p_i ⊙ (u_i − p_iᵀu_i)/N; then vjp pulls the result back to the parameters."
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
        for i, p_i in enumerate(p):  # block i: (diag(p_i) − p_i p_iᵀ) / N
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
    """Compare fn(logits, jvp, vjp, v) with Jᵀ H_L J v (torch, and explicit matrices)."""
    return evaluate_function(fn, gauss_newton_cases())


check_gauss_newton_vp = printing(evaluate_gauss_newton_vp)

# --- Exercise 5b.4: the Levenberg–Marquardt damping -------------------------------------------


DAMPING = "ρ < ¼: λ ← boost·λ; ρ > ¾: λ ← drop·λ; otherwise λ stays."


def update_damping_cases():
    """fn(lam, rho, boost, drop) → λ; expected: Martens's rule (2010, §4.1), worked out by
    hand for each case, at the thresholds ¼ and ¾ too."""
    specs = [  # (name, (λ, ρ), kwargs, expected λ, hint)
        ("ρ = 0.1: the model promised too much, more damping", (1.0, 0.1), {}, 1.5, DAMPING),
        ("ρ = −3 (the loss went up), more damping", (0.2, -3.0), {}, 0.3, DAMPING),
        ("ρ = 0.9: a good model, less damping", (1.0, 0.9), {}, 2 / 3, DAMPING),
        ("ρ = 0.5: keep λ", (2.0, 0.5), {}, 2.0, DAMPING),
        ("ρ = 0.2 < ¼: more damping", (0.5, 0.2), {}, 0.75, DAMPING),
        ("ρ = 0.3, just above ¼: keep λ", (1.0, 0.3), {}, 1.0, DAMPING),
        ("ρ = 0.7, just below ¾: keep λ", (1.0, 0.7), {}, 1.0, DAMPING),
        ("ρ = ¼ exactly: keep λ (more damping only below ¼)", (1.0, 0.25), {}, 1.0, DAMPING),
        ("ρ = ¾ exactly: keep λ (less damping only above ¾)", (1.0, 0.75), {}, 1.0, DAMPING),
        (
            "ρ = 0.8, drop = 0.5",
            (4.0, 0.8),
            {"drop": 0.5},
            2.0,
            "use the arguments boost and drop. " + DAMPING,
        ),
        (
            "ρ = 0.0, boost = 3",
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


def _damping_diagnosis(lam, rho, boost=1.5, drop=2 / 3):
    """A diagnose(got, expected) naming the usual slips of a damping update."""

    def diagnose(got, expected):
        if got.size != 1:
            return "return one number, the new λ."
        got = float(got.ravel()[0])
        if rho == 0.25 and np.isclose(got, boost * lam):
            return "at ρ = ¼ exactly λ stays: more damping only when ρ < ¼ (strict)."
        if rho == 0.75 and np.isclose(got, drop * lam):
            return "at ρ = ¾ exactly λ stays: less damping only when ρ > ¾ (strict)."
        if (np.isclose(got, drop * lam) and rho < 0.25) or (
            np.isclose(got, boost * lam) and rho > 0.75
        ):
            return "boost and drop are swapped: a poor model (small ρ) needs MORE damping."
        custom = (boost, drop) != (1.5, 2 / 3)
        if custom and (np.isclose(got, 1.5 * lam) or np.isclose(got, 2 / 3 * lam)):
            return "use the arguments boost and drop, not the fixed 3/2 and 2/3."
        if np.isclose(got, lam) and not np.isclose(expected, lam):
            change = (
                f"ρ = {rho:g} < ¼ asks for more damping: return boost·lam (is the threshold ¼?)"
                if rho < 0.25
                else f"ρ = {rho:g} > ¾ asks for less damping: return drop·lam (is the threshold ¾?)"
            )
            return (
                f"λ must change here: {change}. A damping that never adapts is plain "
                "Gauss–Newton + λI."
            )
        if np.isclose(got, boost * lam) and rho >= 0.25:
            return f"more damping only when ρ < ¼; here ρ = {rho:g} (is the threshold ¼?)."
        if np.isclose(got, drop * lam) and rho <= 0.75:
            return f"less damping only when ρ > ¾; here ρ = {rho:g} (is the threshold ¾?)."
        return ""

    return diagnose


def evaluate_update_damping(fn):
    """Compare a Levenberg–Marquardt damping update with Martens's rule (¼, ¾; ×3/2, ×2/3)."""
    return evaluate_function(fn, update_damping_cases())


check_update_damping = printing(evaluate_update_damping)
