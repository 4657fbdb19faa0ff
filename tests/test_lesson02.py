"""Lesson 02 (momentum and Nesterov): the checks reject the usual wrong answers and accept
the right ones (the step rules, the bisection, the tuning, the overshoot prediction and the
diagnosis); course_lib.rates agrees with the spectral radius of the iteration matrices; the
raw torch.optim.SGD reference maps onto the course's form as the lesson states; and every
measured claim the lesson makes in words (sections 1–5 and Going further) holds, with a
margin that separates it from its alternative."""

import inspect

import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import checks, optimizers, quadratic_with_spectrum, rates, run
from course_lib.problems import course_quadratic
from course_lib.runners import run_stack

# --- Exercises 2.1 and 2.2: right versions, written as a student would ------------------


def momentum(x, grad, state, lr=0.01, gamma=0.9):
    v = state.get("v", np.zeros_like(x))
    v = gamma * v + lr * grad(x)
    state["v"] = v
    return x - v


def nesterov(x, grad, state, lr=0.01, gamma=0.9):
    v = state.get("v", np.zeros_like(x))
    v = gamma * v + lr * grad(x - gamma * v)
    state["v"] = v
    return x - v


def momentum_in_place(x, grad, state, lr=0.01, gamma=0.9):
    # v *= γ; v += η g on a buffer the step owns is fine: nothing outside sees it.
    v = state.setdefault("v", np.zeros_like(x))
    v *= gamma
    v += lr * grad(x)
    return x - v


# --- wrong versions -------------------------------------------------------------------


def _global_velocity_steps():
    """A momentum and a Nesterov step that keep v in a module-level variable."""
    box = {}

    def momentum(x, grad, state, lr=0.01, gamma=0.9):
        box["v"] = gamma * box.get("v", np.zeros_like(x)) + lr * grad(x)
        return x - box["v"]

    def nesterov(x, grad, state, lr=0.01, gamma=0.9):
        v = box.get("v", np.zeros_like(x))
        box["v"] = gamma * v + lr * grad(x - gamma * v)
        return x - box["v"]

    return momentum, nesterov


def wrong_momentum():
    def sign_error(x, grad, state, lr=0.01, gamma=0.9):
        v = gamma * state.get("v", np.zeros_like(x)) + lr * grad(x)
        state["v"] = v
        return x + v

    def one_minus_gamma(x, grad, state, lr=0.01, gamma=0.9):  # EMA form, η forgotten
        v = gamma * state.get("v", np.zeros_like(x)) + (1 - gamma) * grad(x)
        state["v"] = v
        return x - v

    def ema_times_lr(x, grad, state, lr=0.01, gamma=0.9):  # x ← x − η·EMA(g)
        v = gamma * state.get("v", np.zeros_like(x)) + (1 - gamma) * grad(x)
        state["v"] = v
        return x - lr * v

    def gamma_hard_coded(x, grad, state, lr=0.01, gamma=0.9):
        v = 0.9 * state.get("v", np.zeros_like(x)) + lr * grad(x)
        state["v"] = v
        return x - v

    def fresh_v(x, grad, state, lr=0.01, gamma=0.9):  # state not carried
        v = gamma * np.zeros_like(x) + lr * grad(x)
        return x - v

    def v_not_stored(x, grad, state, lr=0.01, gamma=0.9):
        v = state.get("v", np.zeros_like(x))
        v = gamma * v + lr * grad(x)
        return x - v

    def lr_twice(x, grad, state, lr=0.01, gamma=0.9):  # PyTorch's b mixed with v
        v = gamma * state.get("v", np.zeros_like(x)) + lr * grad(x)
        state["v"] = v
        return x - lr * v

    def stale_v(x, grad, state, lr=0.01, gamma=0.9):  # steps with the old v
        v = state.get("v", np.zeros_like(x))
        state["v"] = gamma * v + lr * grad(x)
        return x - v

    def x_in_place(x, grad, state, lr=0.01, gamma=0.9):
        v = gamma * state.get("v", np.zeros_like(x)) + lr * grad(x)
        state["v"] = v
        x -= v
        return x

    def two_coordinates(x, grad, state, lr=0.01, gamma=0.9):
        g, v = grad(x), state.get("v", np.zeros_like(x))
        v = state["v"] = np.array([gamma * v[i] + lr * g[i] for i in (0, 1)])
        return np.array([x[0] - v[0], x[1] - v[1]])

    global_v = _global_velocity_steps()[0]
    return {
        "sign error": (sign_error, "wrong sign"),
        "(1 − γ) instead of η": (one_minus_gamma, "(1 − γ) multiplies ∇f instead of η"),
        "η × EMA of g": (ema_times_lr, "that is η times an average of the gradients"),
        "γ hard-coded": (gamma_hard_coded, "γ = 0.5 in this case: use the argument gamma"),
        "fresh v each call": (fresh_v, "nothing is carried from one call to the next"),
        "v not stored": (v_not_stored, "nothing is carried from one call to the next"),
        "η twice": (lr_twice, "η is applied twice"),
        "old v applied": (stale_v, "x moves by the old velocity"),
        "global velocity": (global_v, "keeps something between calls outside `state`"),
        "x changed in place": (x_in_place, "leave x as it is"),
        "x[0], x[1] only": (two_coordinates, "x has shape (3, 2) in this case"),
    }


def wrong_nesterov():
    def gradient_at_x(x, grad, state, lr=0.01, gamma=0.9):  # that is the heavy ball
        v = gamma * state.get("v", np.zeros_like(x)) + lr * grad(x)
        state["v"] = v
        return x - v

    def look_ahead_wrong_sign(x, grad, state, lr=0.01, gamma=0.9):
        v = state.get("v", np.zeros_like(x))
        v = gamma * v + lr * grad(x + gamma * v)
        state["v"] = v
        return x - v

    def look_ahead_without_gamma(x, grad, state, lr=0.01, gamma=0.9):
        v = state.get("v", np.zeros_like(x))
        v = gamma * v + lr * grad(x - v)
        state["v"] = v
        return x - v

    def sign_error(x, grad, state, lr=0.01, gamma=0.9):
        v = state.get("v", np.zeros_like(x))
        v = gamma * v + lr * grad(x - gamma * v)
        state["v"] = v
        return x + v

    def gamma_hard_coded(x, grad, state, lr=0.01, gamma=0.9):
        v = state.get("v", np.zeros_like(x))
        v = 0.9 * v + lr * grad(x - 0.9 * v)
        state["v"] = v
        return x - v

    def fresh_v(x, grad, state, lr=0.01, gamma=0.9):
        v = np.zeros_like(x)
        v = gamma * v + lr * grad(x - gamma * v)
        return x - v

    def one_minus_gamma(x, grad, state, lr=0.01, gamma=0.9):
        v = state.get("v", np.zeros_like(x))
        v = gamma * v + (1 - gamma) * grad(x - gamma * v)
        state["v"] = v
        return x - v

    def returns_look_ahead(x, grad, state, lr=0.01, gamma=0.9):  # PyTorch's parameter
        v = state.get("v", np.zeros_like(x))
        v = gamma * v + lr * grad(x - gamma * v)
        state["v"] = v
        return x - v - gamma * v

    global_v = _global_velocity_steps()[1]
    return {
        "gradient at x": (gradient_at_x, "that is plain momentum"),
        "look-ahead x + γv": (look_ahead_wrong_sign, "not x + γv"),
        "look-ahead x − v": (look_ahead_without_gamma, "the look-ahead point is x − γv, with γ"),
        "sign error": (sign_error, "wrong sign"),
        "γ hard-coded": (gamma_hard_coded, "γ = 0.5 in this case: use the argument gamma"),
        "fresh v each call": (fresh_v, "nothing is carried from one call to the next"),
        "(1 − γ) instead of η": (one_minus_gamma, "(1 − γ) multiplies the gradient instead of η"),
        "returns y = x − γv": (returns_look_ahead, "that returns the look-ahead point"),
        "global velocity": (global_v, "keeps something between calls outside `state`"),
    }


def wrong_state():
    """Steps whose iterates are right but whose state["v"] is not the course's velocity."""

    def torch_buffer(x, grad, state, lr=0.01, gamma=0.9):  # PyTorch's b = v/η in "v"
        b = gamma * state.get("v", np.zeros_like(x)) + grad(x)
        state["v"] = b
        return x - lr * b

    def other_key(x, grad, state, lr=0.01, gamma=0.9):
        v = gamma * state.get("velocity", np.zeros_like(x)) + lr * grad(x)
        state["velocity"] = v
        return x - v

    def negated(x, grad, state, lr=0.01, gamma=0.9):  # keeps −v
        u = gamma * state.get("v", np.zeros_like(x)) - lr * grad(x)
        state["v"] = u
        return x + u

    def nesterov_torch_buffer(x, grad, state, lr=0.01, gamma=0.9):
        b = state.get("v", np.zeros_like(x))
        b = gamma * b + grad(x - gamma * lr * b)
        state["v"] = b
        return x - lr * b

    return {
        "momentum": {
            "PyTorch's buffer b in state['v']": (torch_buffer, "PyTorch's buffer b = v/η"),
            "velocity under another key": (other_key, "nothing (no key 'v')"),
            "−v in state['v']": (negated, 'state["v"] must hold the velocity'),
        },
        "nesterov": {"PyTorch's buffer b in state['v']": (nesterov_torch_buffer, "appendix")},
    }


def _renamed(fn, name):
    fn.__name__ = name
    return fn


def test_reports_point_at_the_mistake():
    text = str(checks.evaluate_step(_renamed(wrong_nesterov()["gradient at x"][0], "nesterov")))
    assert "step 2 is the first that disagrees" in text and "look-ahead point" in text
    text = str(checks.evaluate_step(_renamed(wrong_momentum()["sign error"][0], "momentum")))
    assert "wrong sign" in text
    text = str(
        checks.evaluate_step(_renamed(wrong_momentum()["(1 − γ) instead of η"][0], "momentum"))
    )
    assert "case 2/4" in text and "(1 − γ)" in text
    text = str(checks.evaluate_step(_renamed(wrong_momentum()["fresh v each call"][0], "momentum")))
    assert "step 2 is the first" in text and "state" in text


def test_global_velocity_fails_even_when_the_first_case_passes():
    momentum_global, _ = _global_velocity_steps()
    momentum_global.__name__ = "momentum"
    first = checks.evaluate_step(momentum_global)
    assert not first
    # Running the check again (a student re-running the cell) fails at once.
    again = checks.evaluate_step(momentum_global)
    assert not again and "case 1/4" in str(again)


# --- Exercise 2.5: heavy-ball tuning ----------------------------------------------------


def heavy_ball_tuning(lam_min, lam_max):
    sqrt_kappa = np.sqrt(lam_max / lam_min)
    return 4 / (np.sqrt(lam_max) + np.sqrt(lam_min)) ** 2, (
        (sqrt_kappa - 1) / (sqrt_kappa + 1)
    ) ** 2


WRONG_TUNINGS = {
    "γ not squared": (
        lambda lo, hi: (heavy_ball_tuning(lo, hi)[0], np.sqrt(heavy_ball_tuning(lo, hi)[1])),
        "γ is a square",
    ),
    "GD's η*": (
        lambda lo, hi: (2 / (lo + hi), heavy_ball_tuning(lo, hi)[1]),
        "that is gradient descent's best η",
    ),
    "κ instead of √κ": (
        lambda lo, hi: (heavy_ball_tuning(lo, hi)[0], ((hi / lo - 1) / (hi / lo + 1)) ** 2),
        "γ uses √κ, not κ",
    ),
    "(γ, η) swapped": (
        lambda lo, hi: heavy_ball_tuning(lo, hi)[::-1],
        "(η, γ) in that order",
    ),
    "Nesterov's η = 1/λ_max": (
        lambda lo, hi: (1 / hi, heavy_ball_tuning(lo, hi)[1]),
        "that is Nesterov's η = 1/λ_max",
    ),
    "sum of squares": (
        lambda lo, hi: (4 / (hi + lo), heavy_ball_tuning(lo, hi)[1]),
        "sum the square roots, then square",
    ),
    "returns only η": (
        lambda lo, hi: heavy_ball_tuning(lo, hi)[0],
        "return the pair (lr, gamma)",
    ),
}


def largest_stable_lr(stable, lo, hi, tol=1e-4):
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if stable(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _wrong_bisections():
    def returns_hi(stable, lo, hi, tol=1e-4):
        while hi - lo > tol:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
        return hi

    def returns_midpoint(stable, lo, hi, tol=1e-4):
        while hi - lo > tol:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
        return (lo + hi) / 2

    def branches_swapped(stable, lo, hi, tol=1e-4):
        while hi - lo > tol:
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if stable(mid) else (mid, hi)
        return lo

    def twenty_halvings(stable, lo, hi, tol=1e-4):  # ignores tol
        for _ in range(20):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
        return lo

    def linear_scan(stable, lo, hi, tol=1e-4):  # right, but a run per tol
        lr = lo
        while stable(lr + tol) and lr + tol < hi:
            lr += tol
        return lr

    def midpoint_without_brackets(stable, lo, hi, tol=1e-4):  # never stops once lo > 0
        while hi - lo > tol:
            mid = lo + hi / 2
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
        return lo

    def geometric_midpoint(stable, lo, hi, tol=1e-4):  # √(0·hi) = 0 for ever
        while hi - lo > tol:
            mid = np.sqrt(lo * hi)
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
        return lo

    return {
        "returns hi": (returns_hi, "return the end of the interval that is known"),
        "returns the last midpoint": (returns_midpoint, "stable(η) is False"),
        "branches swapped": (branches_swapped, "stable(η) is False there"),
        "20 halvings, tol ignored": (twenty_halvings, "called stable() 20 times"),
        "linear scan": (linear_scan, "it tries η = lo + tol, lo + 2·tol"),
        "mid = lo + hi / 2 (hangs)": (midpoint_without_brackets, "lo + hi / 2 is not"),
        "mid = √(lo·hi) from lo = 0 (hangs)": (geometric_midpoint, "√(lo·hi) stays 0"),
    }


EXERCISES = {
    # Exercises 2.1 and 2.2
    "momentum": Exercise(
        checks.evaluate_step,
        right=[momentum, momentum_in_place, optimizers.momentum],
        wrong={
            k: (_renamed(f, "momentum"), w)
            for k, (f, w) in (wrong_momentum() | wrong_state()["momentum"]).items()
        },
        args=("momentum",),
    ),
    "nesterov": Exercise(
        checks.evaluate_step,
        right=[nesterov, optimizers.nesterov],
        wrong={
            k: (_renamed(f, "nesterov"), w)
            for k, (f, w) in (wrong_nesterov() | wrong_state()["nesterov"]).items()
        },
        args=("nesterov",),
    ),
    # Exercise 2.4
    "largest stable η": Exercise(
        checks.evaluate_largest_stable_lr,
        right=[largest_stable_lr],
        wrong={
            k: (_renamed(f, "largest_stable_lr"), w) for k, (f, w) in _wrong_bisections().items()
        },
    ),
    # Exercise 2.5
    "heavy-ball tuning": Exercise(
        checks.evaluate_heavy_ball_tuning,
        right=[heavy_ball_tuning, rates.heavy_ball_tuning],
        wrong={k: (_renamed(f, "heavy_ball_tuning"), w) for k, (f, w) in WRONG_TUNINGS.items()},
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_the_rule_is_found_by_name_and_every_reference_case_is_run():
    for fn in (momentum, nesterov, optimizers.momentum, optimizers.nesterov):
        assert str(checks.evaluate_step(fn)).startswith(f"✔ {fn.__name__}: 4 cases")


# --- course_lib.rates against the iteration matrices (numpy.linalg) -------------------


def iteration_matrix(method, h, gamma):
    """One step on an eigendirection with ηλ = h, acting on (x, v); see lesson 02 §3."""
    if method == "gd":
        return np.array([[1 - h]])
    damp = 1 - h if method == "nesterov" else 1.0
    return np.array([[1 - h, -gamma * damp], [h, gamma * damp]])


def worst_radius(method, lr, gamma, eigenvalues):
    return max(
        np.abs(np.linalg.eigvals(iteration_matrix(method, lr * lam, gamma))).max()
        for lam in eigenvalues
    )


SPECTRA = [np.array([0.2, 4.0]), np.geomspace(1, 100, 15), np.linspace(0.5, 30, 9)]


@pytest.mark.parametrize("eigs", SPECTRA, ids=["course", "geom-100", "lin-60"])
def test_tunings_reach_their_predicted_rates_and_are_optimal(eigs):
    lo, hi = eigs.min(), eigs.max()
    kappa = hi / lo
    lr = rates.gd_tuning(lo, hi)
    assert worst_radius("gd", lr, 0, eigs) == pytest.approx(rates.gd_rate(kappa), rel=1e-12)
    for f in (0.98, 1.02):  # any other η is worse
        assert worst_radius("gd", lr * f, 0, eigs) > rates.gd_rate(kappa)

    lr, gamma = rates.heavy_ball_tuning(lo, hi)
    # Double roots at λ_min and λ_max: eigvals is accurate to ~√ε there.
    assert worst_radius("momentum", lr, gamma, eigs) == pytest.approx(
        rates.heavy_ball_rate(kappa), abs=1e-6
    )
    for df, dg in [(0.97, 1), (1.03, 1), (1, 0.97), (1, 1.03)]:
        assert (
            worst_radius("momentum", lr * df, gamma * dg, eigs)
            > rates.heavy_ball_rate(kappa) + 1e-4
        )

    lr, gamma = rates.nesterov_tuning(lo, hi)
    assert lr == pytest.approx(1 / hi) and gamma == pytest.approx(
        np.sqrt(rates.heavy_ball_tuning(lo, hi)[1])
    )
    assert worst_radius("nesterov", lr, gamma, eigs) == pytest.approx(
        rates.nesterov_rate(kappa), abs=1e-6
    )


def test_the_tuning_check_expects_polyaks_optimum():
    # the check's (η, γ), typed from their closed forms, put both ends of the spectrum on the
    # floor ρ = √γ of the iteration matrices, and any nearby (η, γ) does worse
    for case in checks.lesson02.heavy_ball_tuning_cases():
        lo, hi = case.args
        lr, gamma = case.expected
        eigs = np.array([lo, hi])
        assert worst_radius("momentum", lr, gamma, eigs) == pytest.approx(np.sqrt(gamma), abs=1e-6)
        assert (lr, gamma) == pytest.approx(rates.heavy_ball_tuning(lo, hi), rel=1e-14)
        if gamma > 0:
            for df, dg in [(0.97, 1), (1.03, 1), (1, 0.97), (1, 1.03)]:
                nearby = worst_radius("momentum", lr * df, gamma * dg, eigs)
                assert nearby > np.sqrt(gamma) + 1e-4, case.name


def test_theory_rates_order_and_limits():
    k = np.array([1.0, 2.0, 20.0, 1e4])
    assert np.allclose(rates.gd_rate(k)[0], 0) and np.allclose(rates.heavy_ball_rate(k)[0], 0)
    assert np.all(rates.heavy_ball_rate(k[1:]) < rates.nesterov_rate(k[1:]))
    assert np.all(rates.nesterov_rate(k[2:]) < rates.gd_rate(k[2:]))


def test_convergence_rate_on_exact_geometric_sequences():
    rho, x_star = 0.8, np.array([1.0, -2.0])
    xs = x_star + rho ** np.arange(60)[:, None] * np.array([3.0, 4.0])
    assert rates.convergence_rate(xs, x_star) == pytest.approx(rho, rel=1e-9)
    # Oscillating sign, any shape: the norm ratio is still ρ.
    xs = (-0.5) ** np.arange(40)[:, None, None] * np.ones((1, 2, 3))
    assert rates.convergence_rate(xs, np.zeros((2, 3))) == pytest.approx(0.5, rel=1e-12)
    # Below the floor the steps are ignored: the window ends where noise begins.
    xs = np.concatenate([0.9 ** np.arange(50), np.full(30, 1e-17)])[:, None] + 1.0
    assert rates.convergence_rate(xs, np.ones(1)) == pytest.approx(0.9, rel=1e-6)


def test_convergence_rate_rejects_too_few_steps():
    with pytest.raises(ValueError, match="usable steps"):
        rates.convergence_rate(np.array([[1.0], [0.5]]), np.zeros(1))
    with pytest.raises(ValueError, match="usable steps"):  # x0 is x*
        rates.convergence_rate(np.zeros((10, 2)), np.zeros(2))


def test_measured_rates_match_theory_on_a_quadratic():
    q = quadratic_with_spectrum(np.geomspace(1, 50, 10), seed=3)
    lo, hi = q.eigenvalues[0], q.eigenvalues[-1]
    r = run(optimizers.gd, q, steps=1500, lr=rates.gd_tuning(lo, hi))
    assert rates.convergence_rate(r, q.minima[0]) == pytest.approx(rates.gd_rate(hi / lo), abs=2e-4)
    lr, gamma = rates.heavy_ball_tuning(lo, hi)
    r = run(optimizers.momentum, q, steps=1500, lr=lr, gamma=gamma)
    assert rates.convergence_rate(r, q.minima[0]) == pytest.approx(
        rates.heavy_ball_rate(hi / lo), abs=3e-3
    )


# --- the raw torch.optim.SGD reference (section "sgd") --------------------------------


def test_torch_sgd_state_maps_onto_the_course_form():
    runs = checks.load_references("sgd")["runs"]
    for name in ("momentum", "nesterov"):
        ref = runs[name]
        hp = ref["hyperparameters"]
        grad = checks.problem_from_spec(ref["problem"])
        x, state = np.array(ref["params"][0]), {}
        for k in range(1, len(ref["params"])):
            x = optimizers.STEPS[name](x, grad, state, **hp)
            p = x - hp["gamma"] * state["v"] if name == "nesterov" else x
            np.testing.assert_allclose(p, ref["params"][k], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(
                state["v"] / hp["lr"], ref["buffers"][k], rtol=1e-12, atol=1e-14
            )
    # and the course's x is not torch's parameter for Nesterov: the mapping matters
    assert not np.allclose(
        runs["nesterov"]["params"][2],
        checks.load_references("steps")["rules"]["nesterov"]["cases"][0]["expected"][2],
    )
    assert course_quadratic.x0.tolist() == runs["momentum"]["params"][0]


# (tests/test_references.py regenerates the 'sgd' section from torch like every other.)


# --- the lesson's own solutions -------------------------------------------------------


def test_solution_exercises_pass_and_match_course_lib_signatures():
    namespace = solution_functions("02-momentum.ipynb")
    for name in ("momentum", "nesterov"):
        fn = namespace[name]
        assert checks.evaluate_step(fn), name
        assert inspect.signature(fn) == inspect.signature(optimizers.STEPS[name]), name
    assert checks.evaluate_heavy_ball_tuning(namespace["heavy_ball_tuning"])
    assert list(inspect.signature(namespace["heavy_ball_tuning"]).parameters) == list(
        inspect.signature(rates.heavy_ball_tuning).parameters
    )


def test_too_few_halvings_are_told_to_go_on():
    def ten_halvings(stable, lo, hi, tol=1e-4):
        for _ in range(10):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
        return lo

    ten_halvings.__name__ = "largest_stable_lr"
    text = str(checks.evaluate_largest_stable_lr(ten_halvings))
    assert "case 1/4" in text and "more than tol below the threshold" in text


# --- the contraction factor of section 3 (rates.momentum_contraction) ------------------


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("method", ["momentum", "nesterov"])
def test_momentum_contraction_is_the_spectral_radius_of_the_step(method, gamma):
    lr_lam = np.linspace(0.0, 4.5, 91)
    q = rates.momentum_contraction(lr_lam, gamma, nesterov=(method == "nesterov"))
    expected = [np.abs(np.linalg.eigvals(iteration_matrix(method, a, gamma))).max() for a in lr_lam]
    # where the two roots meet, eigvals is accurate to ~√ε only
    np.testing.assert_allclose(q, expected, rtol=0, atol=1e-7)


def test_the_floor_and_the_stability_limits_of_section_3():
    for gamma in (0.3, 0.5, 0.9):
        lo, hi = (1 - np.sqrt(gamma)) ** 2, (1 + np.sqrt(gamma)) ** 2
        inside = np.linspace(lo, hi, 50)[1:-1]  # complex roots: q = √γ, whatever ηλ
        np.testing.assert_allclose(rates.momentum_contraction(inside, gamma), np.sqrt(gamma))
        outside = np.r_[np.linspace(0.0, lo, 20)[1:-1], np.linspace(hi, 2 * (1 + gamma), 20)[1:-1]]
        assert np.all(rates.momentum_contraction(outside, gamma) > np.sqrt(gamma))
        for nesterov, limit in [
            (False, 2 * (1 + gamma)),
            (True, 2 * (1 + gamma) / (1 + 2 * gamma)),
        ]:
            q = rates.momentum_contraction(limit * np.array([0.999, 1.001]), gamma, nesterov)
            assert q[0] < 1 < q[1], (gamma, nesterov)
    # GD is γ = 0: the V of lesson 01
    a = np.linspace(0, 3, 31)
    np.testing.assert_allclose(rates.momentum_contraction(a, 0.0), np.abs(1 - a), atol=1e-15)


# --- claims of sections 1–4 that left the prose ------------------------------------------


def _x1_sign_changes(r):
    return np.flatnonzero(np.sign(r.xs[1:, 0]) * np.sign(r.xs[:-1, 0]) < 0)


def test_section_1_the_four_gammas_in_the_ravine():
    runs = {
        g: run(optimizers.momentum, course_quadratic, steps=20, lr=0.1, gamma=g)
        for g in (0.0, 0.5, 0.9, 0.99)
    }
    f20 = {g: r.losses[-1] for g, r in runs.items()}
    # γ = 0.5 is nearer than GD (in f and in distance) and has not passed the minimum
    assert f20[0.5] < 0.6 * f20[0.0]
    assert np.linalg.norm(runs[0.5].x) < 0.8 * np.linalg.norm(runs[0.0].x)
    assert _x1_sign_changes(runs[0.5]).size == 0
    # γ = 0.9 overshoots, and its loss rises and falls
    assert _x1_sign_changes(runs[0.9]).size >= 1 and np.sum(np.diff(runs[0.9].losses) > 0) >= 3
    # γ = 0.99 swings: after 20 steps worse than GD
    assert f20[0.99] > 3 * f20[0.0]


def test_section_2_nesterov_brakes_earlier_than_the_heavy_ball():
    hb = run(optimizers.momentum, course_quadratic, steps=30, lr=0.1, gamma=0.9)
    nag = run(optimizers.nesterov, course_quadratic, steps=30, lr=0.1, gamma=0.9)
    # x2's swings: after step 10, about 1 for the heavy ball, below 0.1 for Nesterov
    assert np.abs(hb.xs[10:, 1]).max() > 0.8 and np.abs(nag.xs[10:, 1]).max() < 0.15
    # a smaller overshoot along x1, and a lower loss at steps 10 and 30
    assert nag.xs[:, 0].max() < 0.85 * hb.xs[:, 0].max()
    assert nag.losses[10] < 0.2 * hb.losses[10] and nag.losses[30] < 0.6 * hb.losses[30]


@pytest.mark.parametrize("gamma, expected", [(0.5, "no"), (0.7, "no"), (0.8, "yes"), (0.9, "yes")])
def test_section_3_overshoot_is_complex_roots(gamma, expected):
    """Exercise 2.3: x1 passes the minimum exactly when ηλ_min lies in the band of complex roots."""
    complex_roots = (1 - np.sqrt(gamma)) ** 2 < 0.1 * 0.2
    assert ("yes" if complex_roots else "no") == expected == checks.lesson02.overshoot(gamma)


def test_section_3_bisection_finds_the_predicted_limits():
    def converges(step, gamma):
        def stable(lr):  # the notebook's test: still shrinking over the last 100 steps
            x, state, size = course_quadratic.x0, {}, []
            with np.errstate(all="ignore"):
                for _ in range(300):
                    x = step(x, course_quadratic.grad, state, lr=lr, gamma=gamma)
                    size.append(np.linalg.norm(x))
            return bool(np.max(size[200:]) < np.max(size[100:200]))

        return stable

    for gamma in (0.0, 0.3, 0.6, 0.9):
        for step, limit in [
            (optimizers.momentum, 2 * (1 + gamma) / 4),
            (optimizers.nesterov, 2 * (1 + gamma) / ((1 + 2 * gamma) * 4)),
        ]:
            lr = largest_stable_lr(converges(step, gamma), 0.01, 2.0, 1e-3)
            assert limit - 1e-3 <= lr < limit, (step.__name__, gamma, lr, limit)


def test_section_3_momentum_is_stable_where_gd_diverges():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gd = run(optimizers.gd, course_quadratic, steps=20, lr=0.6)
    hb = run(optimizers.momentum, course_quadratic, steps=20, lr=0.6, gamma=0.5)
    assert gd.diverged_at is not None or np.abs(gd.x[1]) > 1e3
    assert np.abs(hb.x).max() < 0.01


def test_section_4_race_and_rates():
    lr, gamma = rates.heavy_ball_tuning(0.2, 4.0)
    hb = run(optimizers.momentum, course_quadratic, steps=100, lr=lr, gamma=gamma)
    gd = run(optimizers.gd, course_quadratic, steps=100, lr=rates.gd_tuning(0.2, 4.0))
    # the tuned heavy ball swings out wide (its loss rises at first), yet arrives long before
    assert hb.losses[1] > hb.losses[0] and np.abs(hb.xs[:, 1]).max() > 1.5 * abs(hb.xs[0, 1])
    first = {name: int(np.argmax(r.losses < 1e-6)) for name, r in [("hb", hb), ("gd", gd)]}
    assert 0 < first["hb"] < first["gd"] / 2
    # steps ∝ κ for GD, ∝ √κ for the heavy ball: κ 100× larger costs ~100× and ~10× the steps
    steps = lambda q: -1 / np.log(q)
    assert 80 < steps(rates.gd_rate(1000)) / steps(rates.gd_rate(10)) < 120
    assert 8 < steps(rates.heavy_ball_rate(1000)) / steps(rates.heavy_ball_rate(10)) < 12


def test_section_4_measured_rates_sit_on_and_just_above_the_theory():
    """The κ sweep of section 4: GD on its curve; momentum's excess positive and < 0.005
    (the double roots of Going further)."""
    for kappa in (3, 30, 1000):
        problem = quadratic_with_spectrum(np.geomspace(1.0, kappa, 20), seed=0)
        lo, hi = problem.eigenvalues[0], problem.eigenvalues[-1]
        steps_gd, steps_momentum = min(2000, 20 * kappa), min(1000, int(100 * np.sqrt(kappa)))
        [r] = run_stack(optimizers.gd, problem, steps=steps_gd, lr=[rates.gd_tuning(lo, hi)])
        assert rates.convergence_rate(r, problem.minima[0]) == pytest.approx(
            rates.gd_rate(kappa), abs=5e-4
        )
        for step, tuning, rate in [
            (optimizers.momentum, rates.heavy_ball_tuning, rates.heavy_ball_rate),
            (optimizers.nesterov, rates.nesterov_tuning, rates.nesterov_rate),
        ]:
            lr, gamma = tuning(lo, hi)
            [r] = run_stack(step, problem, steps=steps_momentum, lr=[lr], gamma=gamma)
            excess = rates.convergence_rate(r, problem.minima[0]) - rate(kappa)
            assert 0 < excess < 5e-3, (step.__name__, kappa, excess)


# --- Exercise 2.3 (predict) and 2.6 (diagnose) ------------------------------------------

RIGHT_OVERSHOOTS = {0.5: "no", 0.7: "no", 0.8: "yes", 0.9: "yes"}


OVERSHOOTS_WRONG = {
    "γ = 0.5 overshoots (its roots are real)": (
        {**RIGHT_OVERSHOOTS, 0.5: "yes"},
        "is below (1 − √γ)² = 0.0858: both roots are real",
        "case 1/4 (γ = 0.5)",
    ),
    "γ = 0.7 overshoots (momentum, yet real roots)": (  # the near miss
        {**RIGHT_OVERSHOOTS, 0.7: "yes"},
        "is below (1 − √γ)² = 0.0267",
        "case 2/4 (γ = 0.7)",
    ),
    "γ = 0.8 does not (its roots are complex)": (
        {**RIGHT_OVERSHOOTS, 0.8: "no"},
        "is above (1 − √γ)² = 0.0111: the roots are complex",
        "case 3/4 (γ = 0.8)",
    ),
    "γ = 0.9 does not": ({**RIGHT_OVERSHOOTS, 0.9: "no"}, "so x1 spirals", "case 4/4 (γ = 0.9)"),
    "'maybe'": ({**RIGHT_OVERSHOOTS, 0.8: "maybe"}, "neither 'yes' nor 'no'", "case 3/4 (γ = 0.8)"),
    "one left at '?'": ({**RIGHT_OVERSHOOTS, 0.9: "?"}, "no prediction yet", "case 4/4 (γ = 0.9)"),
    "a list": (["no", "no", "yes", "yes"], "expected a dict"),
}

test_overshoot_predictions_right_passes, test_overshoot_mistakes_fail_with_their_hint = (
    answer_tests(
        checks.evaluate_overshoot_predictions,
        "overshoots",
        [RIGHT_OVERSHOOTS, {0.5: False, 0.7: "No", 0.8: True, 0.9: " yes"}],
        OVERSHOOTS_WRONG,
        right_says="4 values of γ",
    )
)


def test_overshoot_unfinished_says_so():
    from course_lib.contract import ExerciseNotDone

    with pytest.raises(ExerciseNotDone, match=r"Exercise 2\.3: overshoot or not\? — not finished"):
        checks.evaluate_overshoot_predictions(dict.fromkeys(RIGHT_OVERSHOOTS, "?"))


RIGHT_DIAGNOSIS = {
    "A": "momentum too small",
    "B": "learning rate too large",
    "C": "well tuned",
    "D": "momentum too large",
}


DIAGNOSIS_WRONG = {
    "too small a γ taken for too large": (
        {**RIGHT_DIAGNOSIS, "A": "momentum too large"},
        "along a slow straight line",
        "case 1/4 (run A)",
    ),
    "too large a γ taken for too small": (
        {**RIGHT_DIAGNOSIS, "D": "momentum too small"},
        "waves up and down",
        "case 4/4 (run D)",
    ),
    "the well-tuned run taken for too small a γ": (
        {**RIGHT_DIAGNOSIS, "C": "momentum too small"},
        "falls fastest",
        "case 3/4 (run C)",
    ),
    "too large an η taken for too large a γ": (
        {**RIGHT_DIAGNOSIS, "B": "momentum too large"},
        "it grows",
        "case 2/4 (run B)",
    ),
    "a cause not in the list": (
        {**RIGHT_DIAGNOSIS, "A": "too small"},
        "is not one of",
        "case 1/4 (run A)",
    ),
}

test_diagnosis_right_passes, test_diagnosis_mistakes_fail_with_the_signature = answer_tests(
    checks.evaluate_momentum_diagnosis,
    "diagnosis",
    [RIGHT_DIAGNOSIS],
    DIAGNOSIS_WRONG,
    right_says="4 runs",
)


def test_diagnosis_unfinished_says_so():
    from course_lib.contract import ExerciseNotDone

    with pytest.raises(ExerciseNotDone, match=r"Exercise 2\.6: four momentum runs — not finished"):
        checks.evaluate_momentum_diagnosis(dict.fromkeys("ABCD", "?"))


def test_mystery_runs_show_the_signatures_the_hints_describe():
    runs = checks.momentum_mystery_runs()
    rises = {k: int(np.sum(np.diff(np.log(g)) > 0)) for k, g in runs.items()}
    # A: smooth, never rises; slow (still above 1e-5 at the end)
    assert rises["A"] == 0 and runs["A"][-1] > 1e-5
    # B: grows by orders of magnitude
    assert runs["B"][-1] > 1e6 * runs["B"][0]
    # C: the fastest, far below every other run
    assert runs["C"][-1] < 1e-12 and runs["C"][-1] < 1e-6 * min(runs["A"][-1], runs["D"][-1])
    # D: waves (rises at many steps) while its envelope falls slowly, like γ^t
    assert rises["D"] > 30 and 1e-4 < runs["D"][-1] / runs["D"][0] < 0.1
    # the tuned η sits about 1 % below the stability limit 2(1 + γ)/λ_max: 2 % more diverges
    lr, gamma = rates.heavy_ball_tuning(1.0, 100.0)
    assert 0.98 < lr / (2 * (1 + gamma) / 100.0) < 1.0


def test_solution_answers_pass_their_checks():
    namespace = {"np": np}
    import nbformat
    from lessons import SOLUTIONS

    for cell in nbformat.read(SOLUTIONS / "02-momentum.ipynb", as_version=4).cells:
        if cell.cell_type == "code" and cell.source.startswith(("overshoots =", "diagnosis =")):
            exec(cell.source, namespace)
    assert namespace["overshoots"] == RIGHT_OVERSHOOTS
    assert checks.evaluate_overshoot_predictions(namespace["overshoots"])
    assert checks.evaluate_momentum_diagnosis(namespace["diagnosis"])


# --- section 5: momentum under noise (LeastSquares.sgd_runs with gammas) -----------------


def _diabetes():
    from course_lib import LeastSquares
    from course_lib.data import load_diabetes

    return LeastSquares(*load_diabetes())


def test_sgd_runs_with_momentum_is_the_heavy_ball_on_the_same_batches():
    d = _diabetes()
    plain = d.sgd_runs(d.x0, [0.05, 0.02], [0, 1], 32, 60, replace=True)
    same = d.sgd_runs(d.x0, [0.05, 0.02], [0, 1], 32, 60, replace=True, gammas=0.0)
    np.testing.assert_array_equal(plain, same)
    # γ per run: the course's heavy ball, fed the batches sgd_runs draws (same seed, same order)
    xs = d.sgd_runs(d.x0, [0.01, 0.01], [3, 3], 32, 40, replace=True, gammas=[0.9, 0.0])
    rng, x, state = np.random.default_rng(3), d.x0.copy(), {}
    t = 0
    while t < 40:
        order = rng.integers(0, d.n, -(-d.n // 32) * 32)
        for start in range(0, d.n, 32):
            idx = order[start : start + 32]
            x = optimizers.momentum(x, lambda w, idx=idx: d.grad(w, idx), state, lr=0.01, gamma=0.9)
            np.testing.assert_allclose(xs[t, 0], x, rtol=1e-10, atol=1e-12)
            t += 1
            if t == 40:
                break
    assert not np.allclose(xs[:, 0], xs[:, 1])
    with pytest.raises(ValueError, match="momenta"):
        d.sgd_runs(d.x0, [0.1, 0.1], [0, 1], 32, 5, gammas=[0.9, 0.5, 0.0])


def test_section_5_the_effective_learning_rate_under_noise():
    """Three seeds per setting: momentum with η/(1 − γ) = 0.05 descends and settles like SGD
    with η = 0.05; γ = 0.9 with η = 0.05 (effective 0.5) settles ten times higher; the floors
    follow η/(1 − γ)·σ*²/(4|B|) within 20 %."""
    d = _diabetes()
    settings = [(0.05, 0.0), (0.005, 0.9), (0.025, 0.5), (0.05, 0.9)]
    lrs, gammas = np.repeat([s[0] for s in settings], 3), np.repeat([s[1] for s in settings], 3)
    seeds = [0, 1, 2] * len(settings)
    gaps = d.excess_loss(d.sgd_runs(d.x0, lrs, seeds, 32, 1400, replace=True, gammas=gammas))
    mean = lambda a: a.reshape(len(a), len(settings), 3).mean(axis=2)
    at_140, at_1400 = mean(gaps[[139]])[0], mean(gaps[-200:]).mean(axis=0)
    for j in (1, 2):  # same descent and floor as SGD with η = 0.05, within 35 %
        assert at_140[j] == pytest.approx(at_140[0], rel=0.35)
        assert at_1400[j] == pytest.approx(at_1400[0], rel=0.35)
    # the floors, measured from x* over 1,000 updates, and the formula
    floors = mean(
        d.excess_loss(
            d.sgd_runs(
                d.minima[0], lrs, [s + 10 for s in seeds], 32, 2000, replace=True, gammas=gammas
            )
        )[1000:]
    ).mean(axis=0)
    sigma2 = np.mean(np.sum(d.example_grads(d.minima[0]) ** 2, axis=1))
    predicted = lrs[::3] / (1 - gammas[::3]) * sigma2 / (4 * 32)
    np.testing.assert_allclose(floors, predicted, rtol=0.2)
    assert 7 < floors[3] / floors[0] < 13


# --- Going further: saddles, barriers, curved valleys; Lessard–Recht–Packard --------------


def test_going_further_saddle_barrier_and_valley():
    from course_lib import double_well, rosenbrock, saddle

    def first_escape(r):
        out = np.flatnonzero(np.abs(r.xs[:, 1]) > 1)
        return out[0] if out.size else None

    gd = run(optimizers.gd, saddle, steps=30, lr=0.1)
    hb = run(optimizers.momentum, saddle, steps=30, lr=0.1, gamma=0.9)
    nag = run(optimizers.nesterov, saddle, steps=30, lr=0.1, gamma=0.9)
    assert first_escape(gd) is None and abs(gd.x[1]) < 0.5
    assert first_escape(hb) < 25 and first_escape(nag) < 25
    assert np.any(hb.xs[:, 0] > 0) and np.any(nag.xs[:, 0] > 0)  # they swing across x1 = 0

    wells = {
        g: run(optimizers.momentum, double_well, steps=100, lr=0.02, gamma=g)
        for g in (0.0, 0.5, 0.9)
    }
    nag = run(optimizers.nesterov, double_well, steps=100, lr=0.02, gamma=0.9)
    shallow, deep = double_well.minima[1, 0], double_well.minima[0, 0]
    assert abs(wells[0.0].x[0] - shallow) < 0.01 and abs(wells[0.5].x[0] - shallow) < 0.01
    assert abs(wells[0.9].x[0] - deep) < 0.05 and abs(nag.x[0] - deep) < 0.05
    barrier = np.sort(np.roots([4.0, 0.0, -4.0, 0.3]).real)[1]
    assert barrier == pytest.approx(0.075, abs=0.001)
    assert double_well.grad(double_well.x0)[0] == pytest.approx(24, abs=0.5)
    xs = wells[0.9].xs
    assert abs(xs[2, 0] - shallow) < 0.1 and 0.45 < np.linalg.norm(xs[3] - xs[2]) < 0.6
    assert xs[3, 0] > barrier > xs[4, 0]  # over the top between steps 3 and 4

    gd = run(optimizers.gd, rosenbrock, steps=300, lr=1e-3)
    for step in (optimizers.momentum, optimizers.nesterov):
        r = run(step, rosenbrock, steps=300, lr=1e-3, gamma=0.9)
        assert r.losses[-1] < gd.losses[-1] / 100


def test_going_further_lessard_recht_packard():
    from course_lib.problems import lessard_counterexample as lrp

    mu, M = 1.0, 25.0
    starts = np.linspace(-5.0, 5.0, 1001)[:, None]
    paths = {}
    for name, step, hp in [
        ("hb", optimizers.momentum, rates.heavy_ball_tuning(mu, M)),
        ("nag", optimizers.nesterov, rates.nesterov_tuning(mu, M)),
        ("gd", optimizers.gd, (rates.gd_tuning(mu, M),)),
    ]:
        x, state, path = starts.copy(), {}, [starts[:, 0]]
        for _ in range(500):
            x = step(x, lrp.grad, state, **dict(zip(("lr", "gamma"), hp)))
            path.append(x[:, 0])
        paths[name] = np.array(path)
    done = {k: np.abs(p[-1]) < 1e-8 for k, p in paths.items()}
    # the heavy ball fails from about one start in eight; Nesterov and GD from none
    assert 0.10 < 1 - done["hb"].mean() < 0.15 and done["nag"].all() and done["gd"].all()
    at = np.argmin(np.abs(starts[:, 0] - 3.3))
    cycle = paths["hb"][-7:, at]  # period 3, far from the minimum
    np.testing.assert_allclose(cycle[3:6], cycle[:3], atol=1e-9)
    assert np.abs(cycle).min() > 0.5
    # Nesterov's guarantee at every step, from every start; 2 steps from x0 = 3.3
    gap = lrp.f(paths["nag"][..., None])
    bound = (1 - 1 / np.sqrt(M / mu)) ** np.arange(501)[:, None] * (
        lrp.f(starts) + mu / 2 * starts[:, 0] ** 2
    )
    assert np.all(gap <= bound)
    assert np.argmax(np.abs(paths["nag"][:, at]) < 1e-12) == 2
