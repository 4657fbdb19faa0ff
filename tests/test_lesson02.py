"""Lesson 02 (momentum and Nesterov): the checks reject the usual wrong answers and accept
the right ones; course_lib.rates agrees with the spectral radius of the iteration matrices;
the raw torch.optim.SGD reference maps onto the course's form as the lesson states."""

import inspect

import numpy as np
import pytest
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import checks, optimizers, quadratic_with_spectrum, rates, run
from course_lib.problems import course_quadratic

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


# --- Exercise 2.4: heavy-ball tuning ----------------------------------------------------


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
    # Exercise 2.3
    "largest stable η": Exercise(
        checks.evaluate_largest_stable_lr,
        right=[largest_stable_lr],
        wrong={
            k: (_renamed(f, "largest_stable_lr"), w) for k, (f, w) in _wrong_bisections().items()
        },
    ),
    # Exercise 2.4
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
    """One step on an eigendirection with ηλ = h, acting on (x, v); see lesson 02 §4."""
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
