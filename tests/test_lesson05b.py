"""Lesson 05b (Hessian-free methods): the checks accept the right answers and reject the
usual wrong ones (a forward or mis-scaled finite difference, a best step off by the 2 of the
derivative, CG with β from the wrong residuals or α without A, a Gauss–Newton product without
the loss Hessian, a damping that never adapts, predictions and diagnoses that miss), each with
its hint; the notebook's own answers pass. Then the lesson's claims, measured: the numbers
that left its prose, with margins that separate each conclusion from its alternative."""

import inspect

import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import (
    beale,
    checks,
    data,
    hessian_free,
    himmelblau,
    optimizers,
    quadratic_with_spectrum,
    rates,
    rosenbrock,
    train_minibatch,
)
from course_lib.checks import (
    evaluate_best_step,
    evaluate_cg_steps,
    evaluate_conjugate_gradient,
    evaluate_fd_hvp,
    evaluate_gauss_newton_vp,
    evaluate_lm_diagnosis,
    evaluate_update_damping,
)
from course_lib.data import load_references
from course_lib.mlp import MLP, relative_error, softmax, split_train_validation
from course_lib.runners import tune
from course_lib.second_order import minimize_lbfgs

LESSON = "05b-hessian-free.ipynb"

# --- Exercise 5b.1: finite-difference HVP --------------------------------------------------


def fd_forward(grad, x, v, h=1e-5):
    return (grad(x + h * v) - grad(x)) / h


def fd_over_h(grad, x, v, h=1e-5):
    return (grad(x + h * v) - grad(x - h * v)) / h


def fd_reversed(grad, x, v, h=1e-5):
    return (grad(x - h * v) - grad(x + h * v)) / (2 * h)


def fd_normalised(grad, x, v, h=1e-5):
    u = v / np.linalg.norm(v)
    return (grad(x + h * u) - grad(x - h * u)) / (2 * h)


def fd_fixed_h(grad, x, v, h=1e-5):
    return (grad(x + 1e-5 * v) - grad(x - 1e-5 * v)) / 2e-5


# --- Exercise 5b.2: conjugate gradient -----------------------------------------------------


def make_cg(beta="right", alpha="right", stop="relative", first=True):
    """CG with one deliberate slip."""

    def conjugate_gradient(hvp, b, rtol=1e-5, max_iter=None):
        max_iter = 10 * len(b) if max_iter is None else max_iter
        x, r = np.zeros(len(b)), np.array(b, dtype=float)
        p, rr = r.copy(), r @ r
        xs, norms = [x.copy()], [np.sqrt(rr)]
        limit = rtol * np.linalg.norm(b) if stop == "relative" else rtol
        while norms[-1] >= limit and len(xs) <= max_iter:
            Ap = hvp(p)
            a = rr / (p @ Ap) if alpha == "right" else rr / (p @ p)
            x = x + a * p
            r = r - a * Ap
            rr_new = r @ r
            if beta == "right":
                p = r + (rr_new / rr) * p
            elif beta == "inverted":
                p = r + (rr / rr_new) * p
            elif beta == "same residuals":  # the old rᵀr overwritten first: β = 1
                rr = rr_new
                p = r + (rr_new / rr) * p
            else:  # steepest descent
                p = r
            rr = rr_new
            xs.append(x.copy())
            norms.append(np.sqrt(rr))
        if not first:
            return np.array(xs[1:]), np.array(norms[1:])
        return np.array(xs), np.array(norms)

    return conjugate_gradient


def cg_never_stops(hvp, b, rtol=1e-5, max_iter=None):
    x, r = np.zeros(len(b)), np.array(b, dtype=float)
    p, xs = r.copy(), [x.copy()]
    while True:
        Ap = hvp(p)
        a = (r @ r) / (p @ Ap)
        x, r_new = x + a * p, r - a * Ap
        p, r = r_new + (r_new @ r_new) / (r @ r) * p, r_new
        xs.append(x.copy())


def cg_max_iter_n(hvp, b, rtol=1e-5, max_iter=None):
    """Right, except that max_iter defaults to n ("CG is exact in n steps")."""
    return hessian_free.conjugate_gradient(hvp, b, rtol=rtol, max_iter=max_iter or len(b))


def cg_ignores_max_iter(hvp, b, rtol=1e-5, max_iter=None):
    return hessian_free.conjugate_gradient(hvp, b, rtol=rtol)


def cg_aliases_b(hvp, b, rtol=1e-5, max_iter=None):
    """r = b without a copy: r -= … changes the caller's b."""
    max_iter = 10 * len(b) if max_iter is None else max_iter
    x, r = np.zeros(len(b)), b
    limit = rtol * np.linalg.norm(b)
    p, rr = r.copy(), r @ r
    xs, norms = [x.copy()], [np.sqrt(rr)]
    while norms[-1] >= limit and len(xs) <= max_iter:
        Ap = hvp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        p, rr = r + (rr_new / rr) * p, rr_new
        xs.append(x.copy())
        norms.append(np.sqrt(rr))
    return np.array(xs), np.array(norms)


def cg_library(hvp, b, rtol=1e-5, max_iter=None):
    return hessian_free.conjugate_gradient(hvp, b, rtol=rtol, max_iter=max_iter)


# --- Exercise 5b.3: Gauss–Newton product ---------------------------------------------------


def ggn_right(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return vjp(p * (u - np.sum(p * u, axis=1, keepdims=True)) / len(p))


def ggn_no_loss_hessian(logits, jvp, vjp, v):
    return vjp(jvp(v))


def ggn_no_mean(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return vjp(p * (u - np.sum(p * u, axis=1, keepdims=True)))


def ggn_diagonal_only(logits, jvp, vjp, v):
    p = softmax(logits)
    return vjp(p * jvp(v) / len(p))


def ggn_sign(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return vjp(p * (u + np.sum(p * u, axis=1, keepdims=True)) / len(p))


def ggn_not_pulled_back(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return p * (u - np.sum(p * u, axis=1, keepdims=True)) / len(p)


# --- Exercise 5b.4: damping ----------------------------------------------------------------


def damping_never_adapts(nu, r, boost=1.5, drop=2 / 3):
    return nu


def damping_swapped(nu, r, boost=1.5, drop=2 / 3):
    if r < 0.25:
        return drop * nu
    if r > 0.75:
        return boost * nu
    return nu


def damping_eta_threshold(nu, r, boost=1.5, drop=2 / 3):
    if r < 0.15:
        return boost * nu
    if r > 0.75:
        return drop * nu
    return nu


def damping_threshold_half_low(nu, r, boost=1.5, drop=2 / 3):
    if r < 0.5:
        return boost * nu
    if r > 0.75:
        return drop * nu
    return nu


def damping_threshold_half_high(nu, r, boost=1.5, drop=2 / 3):
    if r < 0.25:
        return boost * nu
    if r > 0.5:
        return drop * nu
    return nu


def damping_inclusive(nu, r, boost=1.5, drop=2 / 3):
    """≤ and ≥ at the thresholds: ν changes at r = ¼ and ¾ exactly."""
    if r <= 0.25:
        return boost * nu
    if r >= 0.75:
        return drop * nu
    return nu


def damping_inclusive_high(nu, r, boost=1.5, drop=2 / 3):
    if r < 0.25:
        return boost * nu
    if r >= 0.75:
        return drop * nu
    return nu


def damping_thresholds_near(nu, r, boost=1.5, drop=2 / 3):
    """Thresholds of 0.15 and 0.85: right at ρ = 0.1, 0.5, 0.9."""
    if r < 0.15:
        return boost * nu
    if r > 0.85:
        return drop * nu
    return nu


def damping_hard_coded(nu, r, boost=1.5, drop=2 / 3):
    if r < 0.25:
        return 1.5 * nu
    if r > 0.75:
        return 2 / 3 * nu
    return nu


SOLUTIONS = solution_functions(LESSON)
EXERCISES = {
    "fd_hvp": Exercise(
        evaluate_fd_hvp,
        right=[SOLUTIONS["fd_hvp"], hessian_free.fd_hvp],
        wrong={
            "forward difference": (fd_forward, "forward difference"),
            "divided by h": (fd_over_h, "divide by 2h"),
            "reversed": (fd_reversed, "sign is reversed"),
            "v normalised": (fd_normalised, "not along v/‖v‖"),
            "h ignored": (fd_fixed_h, "use the argument h, not a fixed 1e-05"),
        },
    ),
    "conjugate_gradient": Exercise(
        evaluate_conjugate_gradient,
        right=[SOLUTIONS["conjugate_gradient"], cg_library],
        wrong={
            "β inverted": (make_cg(beta="inverted"), "β is upside down"),
            "β from the same residuals": (make_cg(beta="same residuals"), "β = 1: the old rᵀr"),
            "steepest descent": (make_cg(beta="zero"), "that is steepest descent (p = r)"),
            "α without A": (make_cg(alpha="no A"), "α = rᵀr / pᵀAp: the curvature along p"),
            "absolute stop": (make_cg(stop="absolute"), "a relative test"),
            "x_0 missing": (make_cg(first=False), "xs starts with x_0 = 0"),
            "never stops": (cg_never_stops, "did not stop: it called hvp()"),
            "max_iter defaults to n": (cg_max_iter_n, "max_iter=None means 10·d steps"),
            "max_iter ignored": (cg_ignores_max_iter, "max_iter = 2 in this case"),
            "r = b, then r −= …": (cg_aliases_b, "changed its argument `b` in place"),
        },
    ),
    "gauss_newton_vp": Exercise(
        evaluate_gauss_newton_vp,
        right=[SOLUTIONS["gauss_newton_vp"], ggn_right],
        wrong={
            "no loss Hessian": (ggn_no_loss_hessian, "H_ℓ in the logits is missing"),
            "no 1/N": (ggn_no_mean, "1/n is missing"),
            "diagonal only": (ggn_diagonal_only, "outer product ŷ_i ŷ_iᵀ term is missing"),
            "sign": (ggn_sign, "the sign of ŷ_i ŷ_iᵀ"),
            "not pulled back": (ggn_not_pulled_back, "vjp pulls the result back"),
        },
    ),
    "update_damping": Exercise(
        evaluate_update_damping,
        right=[SOLUTIONS["update_damping"], hessian_free.update_damping],
        wrong={
            "never adapts": (damping_never_adapts, "ν must change here"),
            "swapped": (damping_swapped, "boost and drop are swapped"),
            "threshold η": (damping_eta_threshold, "r = 0.2 < ¼ asks for more damping"),
            "lower threshold ½": (damping_threshold_half_low, "here r = 0.3 (is the threshold ¼?)"),
            "upper threshold ½": (
                damping_threshold_half_high,
                "here r = 0.7 (is the threshold ¾?)",
            ),
            "≤ ¼ and ≥ ¾": (damping_inclusive, "at r = ¼ exactly ν stays"),
            "≥ ¾": (damping_inclusive_high, "at r = ¾ exactly ν stays"),
            "thresholds 0.15 and 0.85": (damping_thresholds_near, "r = 0.2 < ¼ asks for more"),
            "hard-coded factors": (damping_hard_coded, "use the arguments boost and drop"),
        },
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_solutions_match_course_lib_signatures():
    for name in ("fd_hvp", "conjugate_gradient", "update_damping"):
        ours = inspect.signature(SOLUTIONS[name]).parameters
        lib = inspect.signature(getattr(hessian_free, name)).parameters
        for p in ours:  # same names and defaults as course_lib.hessian_free
            assert p in lib and ours[p].default == lib[p].default, (name, p)


def test_solution_answers_pass_their_checks():
    assert evaluate_best_step(SOLUTIONS["best_step"])
    assert evaluate_cg_steps(SOLUTIONS["predicted_steps"])
    assert evaluate_lm_diagnosis(SOLUTIONS["diagnosis"])


# --- Exercise 5b.2: the best step, derived ---------------------------------------------------


def _named(fn):
    fn.__name__ = "best_step"
    return fn


def best_step_by_search(a, b, scheme="central"):
    """Right by another road: bisection on the sign of e(h·(1 + 10⁻⁹)) − e(h), no formula."""
    q = 2 if scheme == "central" else 1
    e = lambda h: a * h**q + b / h
    lo, hi = 1e-30, 1e10
    for _ in range(300):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if e(mid * (1 + 1e-9)) < e(mid) else (lo, mid)
    return np.sqrt(lo * hi)


BEST_STEP_WRONG = {
    "√(b/a) for both": (_named(lambda a, b, scheme="central": (b / a) ** 0.5), "forward"),
    "the 2 forgotten": (
        _named(
            lambda a, b, scheme="central": (
                (b / a) ** (1 / 3) if scheme == "central" else (b / a) ** 0.5
            )
        ),
        "the 2 of e′(h) = 2a·h − b/h² is missing",
    ),
    "cube root for both": (
        _named(lambda a, b, scheme="central": (b / (2 * a)) ** (1 / 3)),
        "that is the central difference's step",
    ),
    "upside down": (
        _named(
            lambda a, b, scheme="central": (
                (a / (2 * b)) ** (1 / 3) if scheme == "central" else (a / b) ** 0.5
            )
        ),
        "upside down",
    ),
    "a ignored": (
        _named(lambda a, b, scheme="central": b ** (1 / 3) if scheme == "central" else b**0.5),
        "a is missing",
    ),
    "the machine epsilon, always": (
        _named(lambda a, b, scheme="central": np.finfo(float).eps ** (1 / 3)),
        "set the derivative of the error model to zero",
    ),
}

(
    test_best_step_right_passes,
    test_best_step_mistake_fails,
    test_best_step_unfinished,
) = exercise_tests(
    {
        "best_step": Exercise(
            evaluate_best_step,
            right=[SOLUTIONS["best_step"], best_step_by_search],
            wrong=BEST_STEP_WRONG,
        )
    }
)


def test_the_numerical_minimiser_is_the_closed_form():
    # the check's expected values come from a search; they are the derivation's formulas
    for a, b in [(1.0, 2.2e-16), (40.0, 1e-12), (0.02, 1e-10)]:
        found = checks.lesson05b.minimise_error_model(a, b, "central")
        assert found == pytest.approx((b / (2 * a)) ** (1 / 3), rel=1e-9)
        found = checks.lesson05b.minimise_error_model(a, b, "forward")
        assert found == pytest.approx((b / a) ** 0.5, rel=1e-9)


# --- Exercise 5b.4 and 5b.7: a prediction and a diagnosis, judged ----------------------------

PREDICTIONS_RIGHT = [
    {"2 values": 2, "5 values": 5, "3 clusters": 12, "spread, κ = 100": 90},
    {"2 values": 2, "5 values": 5, "3 clusters": 10, "spread, κ = 100": 100},
]
PREDICTIONS_WRONG = {
    "one step per cluster": (
        {"2 values": 2, "5 values": 5, "3 clusters": 3, "spread, κ = 100": 90},
        "a tight cluster is not one eigenvalue",
    ),
    "√κ steps": (
        {"2 values": 2, "5 values": 5, "3 clusters": 12, "spread, κ = 100": 10},
        "neither one step per eigenvalue nor √κ steps",
    ),
    "d steps for everything": (
        {"2 values": 100, "5 values": 100, "3 clusters": 100, "spread, κ = 100": 100},
        "k steps, whatever the dimension",
    ),
    "a key missing": ({"2 values": 2, "5 values": 5, "3 clusters": 12}, "expected a dict"),
    "not a number": (
        {"2 values": "two", "5 values": 5, "3 clusters": 12, "spread, κ = 100": 90},
        "is not a number",
    ),
}
DIAGNOSIS_RIGHT = {
    "Jacobian never updated": "B",
    "boost and drop swapped": "C",
    "ν₀ far too large": "A",
}
DIAGNOSES_WRONG = {
    "stale J and swapped factors exchanged": (
        {"Jacobian never updated": "C", "boost and drop swapped": "B", "ν₀ far too large": "A"},
        "a rejected step (r < 0) lowers ν",
    ),
    "large ν₀ taken for the stale Jacobian": (
        {"Jacobian never updated": "A", "boost and drop swapped": "C", "ν₀ far too large": "B"},
        "r ≈ 1 at every iteration",
    ),
    "a letter twice": (
        {"Jacobian never updated": "B", "boost and drop swapped": "B", "ν₀ far too large": "A"},
        "a different letter",
    ),
    "a slip misnamed": (
        {"stale Jacobian": "B", "boost and drop swapped": "C", "ν₀ far too large": "A"},
        "keys",
    ),
}


test_cg_steps_prediction_right_passes, test_cg_steps_prediction_mistake_fails_with_its_hint = (
    answer_tests(evaluate_cg_steps, "predicted_steps", PREDICTIONS_RIGHT, PREDICTIONS_WRONG)
)


test_lm_diagnosis_right_passes, test_lm_diagnosis_mistake_fails_with_its_hint = answer_tests(
    evaluate_lm_diagnosis, "diagnosis", [DIAGNOSIS_RIGHT], DIAGNOSES_WRONG
)


# --- the lesson's claims, measured (the numbers left the prose) -----------------------------

REF = load_references("hessian_free")


def diabetes_regression():
    """Section 4's exponential model: residuals, Jacobian, cost, gradient (as the lesson's)."""
    X_d, y_d = data.load_diabetes(standardize=False)
    A = np.hstack([(X_d - X_d.mean(0)) / X_d.std(0), np.ones((len(X_d), 1))])
    residuals = lambda t: np.exp(A @ t) - y_d / 100
    jacobian = lambda t: np.exp(A @ t)[:, None] * A
    cost = lambda t: 0.5 * np.sum(residuals(t) ** 2)
    gradient = lambda t: jacobian(t).T @ residuals(t)
    return residuals, jacobian, cost, gradient


POOR_START = np.r_[np.zeros(10), -3.0]


def test_finite_differences_bottom_out_near_the_derived_steps():
    # Section 1: the V's bottoms lie within a factor 10 of best_step(1, ε) for both schemes,
    # and the central difference's best error is over 100 times below the forward one's.
    X, y = data.load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    net = MLP(X_train, y_train, sizes=(64, 32, 10), activation="tanh", seed=0)
    idx = np.arange(256)
    v_net = np.random.default_rng(0).standard_normal(net.dim)
    x0, v0 = np.array([-1.2, 1.0]), np.array([1.0, 0.5])
    eps = np.finfo(float).eps
    marks = {"central": (eps / 2) ** (1 / 3), "forward": eps**0.5}
    hs = np.logspace(-12, -1, 45)
    for grad, x, v, exact in [
        (rosenbrock.grad, x0, v0, rosenbrock.hvp(x0, v0)),
        (lambda w: net.grad(w, idx), net.x0, v_net, net.hvp(net.x0, v_net, idx)),
    ]:
        central = [relative_error(hessian_free.fd_hvp(grad, x, v, h), exact) for h in hs]
        forward = [relative_error((grad(x + h * v) - grad(x)) / h, exact) for h in hs]
        for scheme, err in (("central", central), ("forward", forward)):
            assert 0.1 < hs[np.argmin(err)] / marks[scheme] < 10, scheme
        assert min(forward) > 100 * min(central)


def test_fd_hvp_agrees_with_torch_to_its_truncation():
    r = REF["network"]
    X, y = data.load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    net = MLP(
        X_train[: r["examples"]],
        y_train[: r["examples"]],
        sizes=r["sizes"],
        weight_decay=r["weight_decay"],
    )
    rng = np.random.default_rng(r["seed"])
    w, v = 0.3 * rng.standard_normal(net.dim), rng.standard_normal(net.dim)
    assert relative_error(hessian_free.fd_hvp(net.grad, w, v), r["hvp"]) < 1e-8


def _cg_steps(eigenvalues, seed=0, rtol=1e-8):
    A = quadratic_with_spectrum(eigenvalues, seed=seed).A
    b = np.random.default_rng(seed + 1).standard_normal(len(eigenvalues))
    return len(hessian_free.conjugate_gradient(lambda v: A @ v, b, rtol=rtol, max_iter=2000)[0]) - 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k_distinct_eigenvalues_take_k_steps_until_rounding_steps_in(seed):
    # Section 2: k distinct values within two decades, exactly k steps; ten values spread over
    # four decades, a few more than ten (rounding); κ = 10⁴ spread, several times d.
    for k in (1, 2, 3, 5, 7):
        values = np.geomspace(1, 100, k) if k > 1 else np.ones(1)
        assert _cg_steps(np.resize(np.repeat(values, 100 // k + 1), 100), seed) == k
    ten_wide = np.resize(np.repeat(np.geomspace(1, 1e4, 10), 10), 100)
    assert 11 <= _cg_steps(ten_wide, seed) <= 20
    assert _cg_steps(np.geomspace(1, 1e4, 100), seed) > 2.5 * 100


def test_the_prediction_spectra_take_the_steps_the_lesson_says():
    steps = checks.lesson05b.measured_cg_steps()
    assert steps["2 values"] == 2 and steps["5 values"] == 5
    assert 3 < steps["3 clusters"] <= 20  # a few per cluster, not one
    kappa = 100
    bound = np.log(2 / 1e-8) / -np.log((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1))
    assert np.sqrt(kappa) < steps["spread, κ = 100"] < bound  # neither √κ nor beyond the bound


def _race(eigenvalues, seed):
    # steps of CG and of heavy ball with its optimal (λ_min, λ_max) tuning to 10⁻⁶‖b‖
    A = quadratic_with_spectrum(eigenvalues, seed=seed).A
    b = np.random.default_rng(seed + 1).standard_normal(len(eigenvalues))
    lr, gamma = rates.heavy_ball_tuning(eigenvalues.min(), eigenvalues.max())
    x = x_prev = np.zeros(len(b))
    for k in range(1, 20_001):  # noqa: B007 (k: the steps taken)
        x, x_prev = x - lr * (A @ x - b) + gamma * (x - x_prev), x
        if np.linalg.norm(b - A @ x) < 1e-6 * np.linalg.norm(b):
            break
    cg = len(hessian_free.conjugate_gradient(lambda v: A @ v, b, rtol=1e-6)[0]) - 1
    return cg, k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cg_keeps_up_with_tuned_heavy_ball_then_pulls_ahead(seed):
    # Section 2, right panel: heavy ball / CG ≈ 1 at κ = 10 (1.05–1.09 measured), growing
    # with κ to ≈ 3 at κ = 10⁴ (2.9–3.4); on evenly spread eigenvalues far more (14–16).
    kappas = [10, 100, 1000, 10_000]
    ratios = [hb / cg for cg, hb in (_race(np.geomspace(1, k, 100), seed) for k in kappas)]
    assert ratios[0] < 1.25 and ratios[-1] > 2.5
    assert np.all(np.diff(ratios) > 0)
    cg, hb = _race(np.linspace(1, 1e4, 100), seed)
    assert hb > 8 * cg


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cg_does_at_least_as_well_as_its_bound(seed):
    def bound(kappa):  # the steps at which 2q^k reaches 10⁻⁶
        return np.log(2 / 1e-6) / -np.log((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1))

    for kappa in (10, 100, 1000, 10_000):
        assert _cg_steps(np.geomspace(1, kappa, 100), seed, rtol=1e-6) <= bound(kappa)


def test_fletcher_reeves_jams_in_the_race_polak_ribiere_does_not():
    # Section 3's race: 30 steps from (−1.2, 1)
    from course_lib import make_runs

    def fletcher_reeves_cg(x, grad, state, f, c2=0.1):
        return hessian_free.nonlinear_cg(
            x, grad, state, f, beta=hessian_free.fletcher_reeves, c2=c2
        )

    runs = make_runs(
        [
            ("momentum", optimizers.momentum, {"lr": 1e-3, "gamma": 0.9}),
            ("FR", fletcher_reeves_cg, {}),
            ("PR+", hessian_free.nonlinear_cg, {}),
        ],
        rosenbrock,
        steps=30,
        x0=[-1.2, 1.0],
    )
    momentum, fr, pr = (r.losses[-1] for r in runs)
    assert pr < 1e-10 and fr > 1.0 and momentum > 1.0
    assert fr > 0.5 * momentum  # "no better than momentum"


def test_fletcher_reeves_needs_more_evaluations_from_most_starts():
    # Going further: from random starts FR needs more evaluations than PR+ from nine starts
    # in ten (0.87–0.98 measured over 60 per function), typically two to three times
    # (medians 1.6–2.7); Beale from (1, 1.4): about twenty times (18.6).
    boxes = {
        beale: [(-2, 4), (-1.5, 1.5)],
        himmelblau: [(-5, 5), (-5, 5)],
        rosenbrock: [(-2, 2), (-1, 3)],
    }
    ratios = []
    rng = np.random.default_rng(0)
    for problem, box in boxes.items():
        for _ in range(12):
            x0 = np.array([rng.uniform(*box[0]), rng.uniform(*box[1])])
            fr, pr = (
                hessian_free.minimize_nonlinear_cg(
                    problem.f, problem.grad, x0, beta=b, max_iter=150
                )
                for b in (hessian_free.fletcher_reeves, hessian_free.polak_ribiere_plus)
            )
            if fr.success and pr.success:
                ratios.append(fr.grad_evals[-1] / pr.grad_evals[-1])
    ratios = np.array(ratios)
    assert len(ratios) >= 30
    assert np.mean(ratios > 1) >= 0.8 and 1.5 < np.median(ratios) < 3.5
    s = REF["nonlinear_cg"]["Beale"]
    fr, pr = (
        hessian_free.minimize_nonlinear_cg(beale.f, beale.grad, s["x0"], beta=b)
        for b in (hessian_free.fletcher_reeves, hessian_free.polak_ribiere_plus)
    )
    assert fr.grad_evals[-1] > 10 * pr.grad_evals[-1]


def test_polak_ribiere_spends_more_evaluations_per_iteration_than_scipy():
    # Going further: our line search 3–4 evaluations an iteration, scipy's 2–2.5
    for name, problem in (("Rosenbrock", rosenbrock), ("Beale", beale), ("Himmelblau", himmelblau)):
        s = REF["nonlinear_cg"][name]
        pr = hessian_free.minimize_nonlinear_cg(problem.f, problem.grad, s["x0"])
        assert 2.6 < pr.grad_evals[-1] / (len(pr.xs) - 1) < 4.5
        assert 1.8 < s["njev"] / s["nit"] < 2.6


def test_gauss_newton_pays_on_the_exponential_regression():
    # Section 4's figure: from θ = 0, Gauss–Newton, LM and L-BFGS within 10⁻⁸ of the lowest
    # cost in under 60 evaluations (22, 37, 43 measured); from the poor start LM and L-BFGS in
    # under 70 (38, 61); Adam, η tuned on (0.01 … 1), after 150 steps still above 10⁻³ from
    # θ = 0 (7e-3), above 10⁻⁵ from the poor start (3e-4), at an η inside its grid;
    # Gauss–Newton climbs past 10⁴⁰ from the poor start.
    residuals, jacobian, cost, gradient = diabetes_regression()
    best = REF["least_squares"]["fun"]
    for theta0, limit, adam_above in ((np.zeros(11), 60, 1e-3), (POOR_START, 70, 1e-5)):
        lm = hessian_free.minimize_levenberg_marquardt(residuals, jacobian, theta0, lam=1.0)
        evals = lm.metrics["nfev"] + lm.metrics["njev"]
        assert evals[np.argmax(lm.losses - best < 1e-8)] < limit
        lb = minimize_lbfgs(cost, gradient, theta0, gtol=1e-6)
        assert lb.grad_evals[np.argmax(lb.losses - best < 1e-8)] < limit
        finals = {}
        for lr in (0.01, 0.03, 0.1, 0.3, 1.0):
            theta, state = theta0.copy(), {}
            with np.errstate(all="ignore"):
                for _ in range(150):
                    theta = optimizers.adam(theta, gradient, state, lr=lr)
                finals[lr] = np.nan_to_num(cost(theta), nan=np.inf)
        best_lr = min(finals, key=finals.get)
        assert best_lr not in (0.01, 1.0) and finals[best_lr] - best > adam_above
    gn = hessian_free.minimize_levenberg_marquardt(residuals, jacobian, np.zeros(11), lam=0.0)
    evals = gn.metrics["nfev"] + gn.metrics["njev"]
    assert evals[np.argmax(gn.losses - best < 1e-8)] < 60
    assert gn.losses[0] < gn.losses[1] < 2 * gn.losses[0]  # its first step: up a little
    gn = hessian_free.minimize_levenberg_marquardt(residuals, jacobian, POOR_START, lam=0.0)
    assert gn.success and gn.losses.max() > 1e40


def test_levenberg_marquardt_in_numbers():
    # Going further: every run (Gauss–Newton, ×3/2 and ×2/3, ×10 and ×1/3; both starts) ends
    # at scipy's cost, within 10⁻⁵ of its θ; from θ = 0 the ×10 rule takes fewer iterations.
    residuals, jacobian, _, _ = diabetes_regression()
    s = REF["least_squares"]
    iterations = {}
    for theta0 in (np.zeros(11), POOR_START):
        for name, nu, rule in (
            ("GN", 0.0, hessian_free.update_damping),
            ("gentle", 1.0, hessian_free.update_damping),
            ("harsh", 1.0, lambda nu, r: hessian_free.update_damping(nu, r, 10.0, 1 / 3)),
        ):
            run_ = hessian_free.minimize_levenberg_marquardt(
                residuals, jacobian, theta0, lam=nu, update=rule, max_iter=100
            )
            assert run_.success and run_.losses[-1] <= s["fun"] + 1e-9
            np.testing.assert_allclose(run_.x, s["x"], atol=1e-5)
            iterations[name, theta0[-1]] = len(run_.xs) - 1
    assert iterations["harsh", 0.0] < iterations["gentle", 0.0]


def test_the_mystery_runs_leave_the_traces_the_hints_describe():
    residuals, jacobian, _, _ = diabetes_regression()
    best = REF["least_squares"]["fun"]
    runs = checks.mystery_lm_runs(residuals, jacobian, np.zeros(11))
    by_slip = {slip: runs[letter] for letter, slip in checks.lesson05b.LM_BROKEN.items()}
    big = by_slip["ν₀ far too large"]  # r ≈ 1 throughout, ν falling, converges late
    assert np.all(np.abs(big.metrics["rho"][1:] - 1) < 0.15)
    assert np.all(np.diff(big.metrics["lam"]) < 0) and big.success
    stale = by_slip["Jacobian never updated"]  # ν climbing, cost stalled above the minimum
    assert stale.metrics["lam"][-1] > 1e3 and stale.losses[-1] - best > 0.1
    assert stale.losses[-1] < 0.5 * stale.losses[0]  # it did go down at first
    swapped = by_slip["boost and drop swapped"]  # every step rejected, ν falling
    assert np.all(swapped.metrics["rho"][1:] < 0) and np.all(swapped.losses == swapped.losses[0])
    assert np.all(np.diff(swapped.metrics["lam"]) < 0)


def test_the_four_matrices_and_their_zero_eigenvalues():
    # Section 5: H has negative eigenvalues, G and F none; F = G to rounding; F̂ ≠ G. G's 49
    # zero eigenvalues: 11 input directions the 100 images miss × 4 hidden units = 44, and
    # 5 from the softmax's shift; F̂ has rank at most n = 100.
    X, y = data.load_digits()
    X_train, y_train, _, _ = split_train_validation(X, y, validation=0.2, seed=0)
    tiny = MLP(X_train[:100], y_train[:100], sizes=(64, 4, 10), activation="tanh", seed=1)
    M = hessian_free.curvature_matrices(tiny, tiny.x0)
    eig = {k: np.linalg.eigvalsh(0.5 * (m + m.T)) for k, m in M.items()}
    tol = {k: 1e-10 * np.abs(e).max() for k, e in eig.items()}
    assert np.sum(eig["H"] < -tol["H"]) > 50
    for k in ("G", "F", "F̂"):
        assert eig[k][0] > -tol[k]
    assert relative_error(M["F"], M["G"]) < 1e-12
    assert np.linalg.norm(M["F̂"] - M["G"]) > 0.5 * np.linalg.norm(M["G"])  # 1.09 measured
    missing = 65 - np.linalg.matrix_rank(np.hstack([tiny.X, np.ones((100, 1))]))
    assert missing == 11
    assert np.sum(np.abs(eig["G"]) <= tol["G"]) == missing * 4 + 5 == 49
    assert np.sum(eig["F̂"] > tol["F̂"]) == 100
    # the 5 shift directions: the output bias, and each hidden unit's outgoing weights, raised
    # by the same amount for every class, leave every softmax unchanged
    for j in range(5):
        u = np.zeros(tiny.dim)
        (W2, b2) = tiny.unpack(u)[1]
        (b2 if j == 4 else W2[j])[...] = 1.0
        assert np.linalg.norm(M["G"] @ u) < 1e-12


@pytest.fixture(scope="module")
def hessian_free_race():
    """Section 6's runs: tuned Adam, Hessian-free (ν₀ tuned; also ≤ 10 and ≤ 25 CG steps) and
    L-BFGS, 30 passes, three seeds, on lesson 06's network."""
    X, y = data.load_digits()
    X_train, y_train, X_val, y_val = split_train_validation(X, y, validation=0.2, seed=0)
    net = MLP(X_train, y_train, sizes=(64, 32, 10), activation="tanh", seed=0)
    seeds, budget = (0, 1, 2), 30

    def adam(lr, seed):
        return train_minibatch(
            optimizers.adam,
            net,
            x0=net.init_params(seed),
            epochs=budget,
            batch_size=128,
            seed=seed,
            keep_iterates=True,
            lr=lr,
        )

    def hf(cg_iters):
        return lambda nu, seed: hessian_free.minimize_hessian_free(
            net,
            x0=net.init_params(seed),
            iterations=100,
            max_evals=budget * net.n,
            lam=nu,
            cg_iters=cg_iters,
            curvature_batch=0.1,
            seed=seed,
            update=hessian_free.update_damping,
        )

    return dict(
        net=net,
        val=net.on(X_val, y_val),
        adam=tune(adam, [1e-2, 3e-2, 1e-1], seeds=seeds),
        hf={
            5: tune(hf(5), [0.01, 0.03, 0.1], seeds=seeds),
            10: tune(hf(10), [0.03, 0.1, 0.3], seeds=seeds),
            25: tune(hf(25), [0.03, 0.1, 0.3], seeds=seeds),
        },
        lbfgs=[
            hessian_free.minimize_lbfgs_full_batch(
                net, net.init_params(s), max_evals=budget * net.n
            )
            for s in seeds
        ],
    )


def test_lbfgs_beats_adam_beats_hessian_free_on_every_seed(hessian_free_race):
    # Section 6 (L-BFGS 1e-7, Adam 1.0e-3, HF 1.1e-2, means): the worst seed of each is below
    # the best seed of the next, by a factor, and every tuned value lies inside its grid.
    race = hessian_free_race
    final = {
        name: np.array([r.losses[-1] for r in runs])
        for name, runs in (
            ("L-BFGS", race["lbfgs"]),
            ("Adam", race["adam"].best_runs),
            ("HF", race["hf"][5].best_runs),
        )
    }
    assert final["L-BFGS"].max() < final["Adam"].min() / 100
    assert final["Adam"].max() < final["HF"].min() / 3
    assert not race["adam"].at_edge and not race["hf"][5].at_edge
    assert 8 <= race["hf"][5].best_runs[0].steps[-1] <= 16  # about a dozen iterations
    accuracies = [
        np.mean([race["val"].accuracy(r.xs[-1]) for r in runs])
        for runs in (race["lbfgs"], race["adam"].best_runs, race["hf"][5].best_runs)
    ]
    assert max(accuracies) - min(accuracies) < 5 / race["val"].n  # within a few images


def test_an_hf_iteration_does_far_more_than_an_adam_update(hessian_free_race):
    race = hessian_free_race
    net, hf = race["net"], race["hf"][5].best_runs[0]
    iterations = hf.steps[-1]
    adam = train_minibatch(
        optimizers.adam,
        net,
        x0=net.init_params(0),
        epochs=1,
        batch_size=128,
        seed=0,
        record_every=1,
        lr=race["adam"].best_lr,
    )
    assert hf.losses[-1] < adam.losses[iterations] / 5


def test_more_cg_steps_per_iteration_made_hessian_free_worse(hessian_free_race):
    means = [
        np.mean([r.losses[-1] for r in hessian_free_race["hf"][k].best_runs]) for k in (5, 10, 25)
    ]
    assert means[0] < means[1] < means[2]
    assert not any(hessian_free_race["hf"][k].at_edge for k in (10, 25))
