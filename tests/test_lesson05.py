"""Lesson 05 (second-order methods): the checks accept the right answers and reject the usual
wrong ones, each with its hint (Newton's step and contraction factor, backtracking, one step at
a saddle, the trust-region radius, the BFGS update, a BFGS run that breaks); the notebook's own
answers pass; and the claims the lesson's prose makes without printing them hold, with margins
that separate each from its alternative."""

import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import Problem, checks, optimizers, rosenbrock, run, saddle
from course_lib import second_order as so
from course_lib.contract import ExerciseNotDone

LESSON = "05-second-order-methods.ipynb"
X0 = np.array([-1.2, 1.0])  # the lesson's Rosenbrock start

# --- Exercises 5.1, 5.3, 5.5, 5.6: Newton, backtracking, the radius, the BFGS update ---------


def newton_h_times_g(x, grad, state, hess, lr=1.0):
    return x - lr * hess(x) @ grad(x)


def newton_wrong_sign(x, grad, state, hess, lr=1.0):
    return x + lr * np.linalg.solve(hess(x), grad(x))


def newton_no_lr(x, grad, state, hess, lr=1.0):
    return x - np.linalg.solve(hess(x), grad(x))


def newton_diagonal(x, grad, state, hess, lr=1.0):
    return x - lr * grad(x) / np.diag(hess(x))


def newton_hess_once(x, grad, state, hess, lr=1.0):
    H = state.setdefault("H", hess(x))
    return x - lr * np.linalg.solve(H, grad(x))


def newton_inverse_in_place(x, grad, state, hess, lr=1.0):
    x -= lr * np.linalg.solve(hess(x), grad(x))
    return x


NEWTON_WRONG = {
    "H·g": (newton_h_times_g, "you multiplied the gradient by H"),
    "sign": (newton_wrong_sign, "wrong sign"),
    "lr ignored": (newton_no_lr, "use the argument lr, not a fixed 1"),
    "diagonal only": (newton_diagonal, "the diagonal of H only"),
    "Hessian of the first point": (newton_hess_once, "evaluate hess(x) at every step"),
    "x changed in place": (newton_inverse_in_place, "leave x as it is"),
}
for _fn, _ in NEWTON_WRONG.values():
    _fn.__name__ = "newton"


def armijo_variant(condition, name="backtracking"):
    def backtracking(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5):
        while not condition(f(x + alpha * p), f(x), alpha, c, float(g @ p)):
            alpha *= shrink
        return alpha

    backtracking.__name__ = name
    return backtracking


def shrinks_first(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5):
    while True:
        alpha *= shrink
        if f(x + alpha * p) <= f(x) + c * alpha * (g @ p):
            return alpha


def fixed_start(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5):
    return so.backtracking(f, x, g, p, alpha=1.0, c=c, shrink=shrink)


def fixed_shrink(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5):
    return so.backtracking(f, x, g, p, alpha=alpha, c=c, shrink=0.5)


def alpha_missing_from_the_condition(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5):
    fx, slope = f(x), g @ p
    while f(x + alpha * p) > fx + c * slope:
        alpha = alpha * shrink
    return alpha


def shrink_not_assigned(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5):
    fx, slope = f(x), g @ p
    while f(x + alpha * p) > fx + c * alpha * slope:
        alpha * shrink  # the slip under test: not assigned
    return alpha


BACKTRACKING_WRONG = {
    "wrong inequality": (
        armijo_variant(lambda fn, f0, a, c, s: fn >= f0 + c * a * s),
        "the test is backwards",
    ),
    "strict inequality": (
        armijo_variant(lambda fn, f0, a, c, s: fn < f0 + c * a * s),
        "the Armijo condition is ≤, not <",
    ),
    "without the factor c": (
        armijo_variant(lambda fn, f0, a, c, s: fn <= f0 + a * s),
        "c multiplies the slope",
    ),
    "without α": (
        armijo_variant(lambda fn, f0, a, c, s: fn <= f0 + c * s),
        "does the condition use the new α",
    ),
    "simple decrease": (
        armijo_variant(lambda fn, f0, a, c, s: fn < f0),
        "f(x + αp) < f(x) is not enough",
    ),
    "wrong sign of the slope": (
        armijo_variant(lambda fn, f0, a, c, s: fn <= f0 - c * a * s),
        "the bound f(x) + c·α·gᵀp lies below f(x)",
    ),
    "c fixed at 1e-4": (
        armijo_variant(lambda fn, f0, a, c, s: fn <= f0 + 1e-4 * a * s),
        "use the argument c (c = 0.5 here), not a fixed 1e-4",
    ),
    "alpha fixed at 1": (fixed_start, "start from the argument alpha (alpha = 0.01 here)"),
    "shrink fixed at ½": (fixed_shrink, "multiply by the argument shrink (shrink = 0.8 here)"),
    "shrinks before the first try": (shrinks_first, "the first α tried is `alpha` itself"),
    "α missing, never stops": (
        alpha_missing_from_the_condition,
        "did not stop: it called f() 200 times",
    ),
    "shrink not assigned, never stops": (shrink_not_assigned, "alpha = alpha * shrink"),
}


def radius_variant(shrink_below=0.25, grow_above=0.75, need_boundary=True, cap=True, **kw):
    def update_radius(radius, rho, on_boundary, max_radius=1000.0):
        shrink = rho <= shrink_below if kw.get("inclusive_low") else rho < shrink_below
        grow = rho >= grow_above if kw.get("inclusive_high") else rho > grow_above
        if shrink:
            return kw.get("factor", 0.25) * radius
        if grow and (on_boundary or not need_boundary):
            return min(2 * radius, max_radius) if cap else 2 * radius
        return radius

    return update_radius


def radius_swapped_comparisons(radius, rho, on_boundary, max_radius=1000.0):
    if rho > 0.25:
        return 0.25 * radius
    if rho < 0.75 and on_boundary:
        return min(2 * radius, max_radius)
    return radius


def radius_fixed_cap(radius, rho, on_boundary, max_radius=1000.0):
    return so.update_radius(radius, rho, on_boundary)


def radius_other_default(radius, rho, on_boundary, max_radius=100.0):
    return so.update_radius(radius, rho, on_boundary, max_radius)


RADIUS_WRONG = {
    "thresholds swapped": (
        radius_variant(shrink_below=0.75, grow_above=0.25),
        "Δ shrinks only when r < ¼; here r = 0.5",
    ),
    "grows inside the region": (radius_variant(need_boundary=False), "grow only when the step"),
    "no cap": (radius_variant(cap=False), "doubling stops at max_radius"),
    "shrink threshold 0.15": (radius_variant(shrink_below=0.15), "the threshold is ¼"),
    "≤ ¼": (radius_variant(inclusive_low=True), "at r = ¼ exactly Δ stays"),
    "≥ ¾": (radius_variant(inclusive_high=True), "at r = ¾ exactly Δ stays"),
    "halves": (radius_variant(factor=0.5), "not ½Δ"),
    "comparisons swapped": (radius_swapped_comparisons, "Δ grows only when r > ¾"),
    "max_radius fixed at 1000": (radius_fixed_cap, "use the argument max_radius (3 here)"),
    "max_radius defaults to 100": (radius_other_default, "keep the signature's default"),
}
for _fn, _ in RADIUS_WRONG.values():
    _fn.__name__ = "update_radius"


def inverse_update(P, dx, dg, left, right, c):
    """(I − c·left) P (I − c·right) + c Δx Δxᵀ: the BFGS form with pieces swapped by the mutants."""
    eye = np.eye(len(dx))
    return (eye - c * left) @ P @ (eye - c * right) + c * np.outer(dx, dx)


BFGS_WRONG = {
    "dx and dg swapped": (lambda P, dx, dg: so.bfgs_update(P, dg, dx), "dx and dg are swapped"),
    "outer products swapped": (
        lambda P, dx, dg: inverse_update(
            P, dx, dg, np.outer(dg, dx), np.outer(dx, dg), 1 / (dg @ dx)
        ),
        "the outer products are the other way round",
    ),
    "divided by ΔxᵀΔx": (
        lambda P, dx, dg: inverse_update(
            P, dx, dg, np.outer(dx, dg), np.outer(dg, dx), 1 / (dx @ dx)
        ),
        "divide by Δgᵀ Δx (the curvature along the step), not by Δxᵀ Δx",
    ),
    "no ΔxΔxᵀ term": (
        lambda P, dx, dg: so.bfgs_update(P, dx, dg) - np.outer(dx, dx) / (dg @ dx),
        "the last term + Δx Δxᵀ / (Δgᵀ Δx) is missing",
    ),
    "update of H instead of P": (
        lambda P, dx, dg: (
            P - P @ np.outer(dx, dx) @ P / (dx @ P @ dx) + np.outer(dg, dg) / (dg @ dx)
        ),
        "that is BFGS's update of an approximation of H itself",
    ),
}
for _fn, _ in BFGS_WRONG.values():
    _fn.__name__ = "bfgs_update"

(
    test_right_passes,
    test_mistake_fails,
    test_unfinished,
) = exercise_tests(
    {
        "newton": Exercise(checks.evaluate_newton, right=[so.newton], wrong=NEWTON_WRONG),
        "backtracking": Exercise(
            checks.evaluate_backtracking,
            right=[
                armijo_variant(lambda fn, f0, a, c, s: fn <= f0 + c * a * s),
                so.backtracking,
            ],
            wrong=BACKTRACKING_WRONG,
        ),
        "update_radius": Exercise(
            checks.evaluate_update_radius,
            right=[radius_variant(), so.update_radius],
            wrong=RADIUS_WRONG,
        ),
        "bfgs_update": Exercise(
            checks.evaluate_bfgs_update, right=[so.bfgs_update], wrong=BFGS_WRONG
        ),
    }
)

# --- Exercise 5.2 (derive): Newton's contraction factor --------------------------------------


def contraction_gd(lr, eigenvalues):  # lesson 01's factor, not Newton's
    return float(np.max(np.abs(1 - lr * np.asarray(eigenvalues))))


def contraction_signed(lr, eigenvalues):
    return 1.0 - lr


def contraction_zero(lr, eigenvalues):  # "Newton is exact in one step"
    return 0.0


def contraction_lr(lr, eigenvalues):
    return float(lr)


def contraction_kappa(lr, eigenvalues):
    e = np.asarray(eigenvalues)
    return abs(1 - lr * e.min() / e.max())


CONTRACTION_WRONG = {
    "GD's factor": (contraction_gd, "that is gradient descent's factor"),
    "1 − η without the size": (contraction_signed, "|1 − η|"),
    "always 0": (contraction_zero, "one step lands on x* only at η = 1"),
    "η": (contraction_lr, "what is left is 1 − η"),
    "κ left in": (contraction_kappa, "what is left of the error, in every direction?"),
}
for _fn, _ in CONTRACTION_WRONG.values():
    _fn.__name__ = "newton_contraction"


def contraction_right(lr, eigenvalues):
    return abs(1.0 - lr)


contraction_right.__name__ = "newton_contraction"

(
    test_contraction_right_passes,
    test_contraction_mistake_fails,
    test_contraction_unfinished,
) = exercise_tests(
    {
        "newton_contraction": Exercise(
            checks.evaluate_newton_contraction, right=[contraction_right], wrong=CONTRACTION_WRONG
        )
    }
)


def test_newton_contracts_by_one_minus_eta_in_every_direction():
    # the check's expected values, from numpy.linalg, are |1 − η| whatever the eigenvalues
    for case in checks.lesson05.newton_contraction_cases():
        lr, _ = case.args
        assert case.expected == pytest.approx(abs(1 - lr), abs=1e-12), case.name


def test_the_armijo_step_lengths_the_check_expects_are_the_first_to_satisfy_it():
    # typed in the check as powers of shrink: each satisfies the Armijo condition, evaluated
    # here, and the one before it (if any) does not
    for case in checks.lesson05.backtracking_cases():
        f, x, g, p = case.args
        kw = {"alpha": 1.0, "c": 1e-4, "shrink": 0.5, **case.kwargs}
        armijo = lambda a: f.fn(x + a * p) <= f.fn(x) + kw["c"] * a * (g @ p)
        alpha = case.expected
        k = round(np.log(alpha / kw["alpha"]) / np.log(kw["shrink"]))
        assert alpha == pytest.approx(kw["alpha"] * kw["shrink"] ** k, rel=1e-14), case.name
        assert armijo(alpha), case.name
        assert k == 0 or not armijo(alpha / kw["shrink"]), case.name


def test_one_case_meets_the_armijo_bound_with_equality_in_floating_point():
    case = next(c for c in checks.lesson05.backtracking_cases() if "exactly" in c.name)
    f, x, g, p = case.args
    assert f.fn(x + p) == f.fn(x) + case.kwargs["c"] * 1.0 * (g @ p)


def test_the_radius_check_expects_algorithm_4_1():
    for case in checks.lesson05.update_radius_cases():  # typed values, checked by the rule
        radius, rho, on_boundary = case.args
        cap = case.kwargs.get("max_radius", 1000.0)
        rule = (
            0.25 * radius
            if rho < 0.25
            else min(2 * radius, cap)
            if rho > 0.75 and on_boundary
            else radius
        )
        assert case.expected == rule, case.name
    assert {0.25, 0.75} <= {case.args[1] for case in checks.lesson05.update_radius_cases()}


# --- Exercise 5.4 (predict): one step at a saddle ----------------------------------------------

RIGHT_SADDLE = {"Newton": (0.0, 0.0), "GD": (-0.6, 0.0016), "|H|": (0.0, 0.002),
                "H + νI": (-0.9, 0.003)}  # fmt: skip


SADDLE_WRONG = {
    "Newton stays put": (
        {**RIGHT_SADDLE, "Newton": (-1.5, 0.001)},
        "the saddle point (0, 0), in one step",
        "case 1/4 (Newton)",
    ),
    "GD's factors swapped": (
        {**RIGHT_SADDLE, "GD": (-0.6, 0.0004)},
        "multiplies x₁ by 1 − 2η and x₂ by 1 + 2η",
        "case 2/4 (GD)",
    ),
    "|H| taken for H": (
        {**RIGHT_SADDLE, "|H|": (0.0, -0.001)},
        "x₁ goes to 0 and x₂ doubles",
        "case 3/4 (|H|)",
    ),
    "H + νI taken for Newton": (
        {**RIGHT_SADDLE, "H + νI": (0.0, 0.002)},
        "ν = 3 raises the smallest eigenvalue",
        "case 4/4 (H + νI)",
    ),
    "H + νI's x₂ shrinks": (
        {**RIGHT_SADDLE, "H + νI": (-0.9, 0.0006)},
        "H + νI = diag(5, 1)",
        "case 4/4 (H + νI)",
    ),
    "a word, not a point": ({**RIGHT_SADDLE, "GD": "left"}, "is not a point", "case 2/4 (GD)"),
    "a point with a '?' left": (
        {**RIGHT_SADDLE, "GD": ("?", 0.0016)},
        "is not a point",
        "case 2/4 (GD)",
    ),
    "a list": ([(0, 0)] * 4, "expected a dict"),
}

test_saddle_predictions_right_pass, test_saddle_predictions_wrong_fail_with_the_reason = (
    answer_tests(
        checks.evaluate_saddle_predictions,
        "after_one_step",
        [RIGHT_SADDLE],
        SADDLE_WRONG,
        right_says="4 methods",
    )
)


def test_the_right_saddle_answers_are_what_the_methods_do():
    # worked out by hand, and each what the methods' code does in one step from saddle.x0
    for key, point in checks.lesson05.saddle_one_step().items():
        np.testing.assert_allclose(point, RIGHT_SADDLE[key], atol=1e-15)


def test_saddle_predictions_unfinished_says_so():
    with pytest.raises(ExerciseNotDone, match=r"Exercise 5\.4"):
        checks.evaluate_saddle_predictions(dict.fromkeys(RIGHT_SADDLE, ("?", "?")))


# --- Exercise 5.7 (diagnose): a BFGS run that breaks -------------------------------------------

RIGHT_DIAGNOSIS = {"iteration": 7, "guaranteed": {"wolfe", "skip"}}


def test_the_mystery_run_breaks_as_the_exercise_says():
    r = checks.bfgs_mystery_run()
    bad = np.nonzero(r["curvature"] <= 0)[0]
    assert list(bad) == [7]  # one pair with Δgᵀ Δx ≤ 0 …
    assert np.all(r["slope"][:8] < 0) and r["slope"][8] > 0  # … then an uphill direction
    assert not r["converged"] and np.linalg.norm(r["xs"][-1] - 1) > 1  # far from (1, 1)


def _changed(**change):
    return {**RIGHT_DIAGNOSIS, **change}


DIAGNOSIS_WRONG = {
    "where the damage shows (8)": (
        _changed(iteration=8),
        "where the damage shows",
        "case 1/2 (iteration)",
    ),
    "an earlier iteration (5)": (
        _changed(iteration=5),
        "the first iteration whose pair had Δgᵀ Δx ≤ 0",
        "case 1/2 (iteration)",
    ),
    "a word for the iteration": (
        _changed(iteration="seven"),
        "is not an iteration number",
        "case 1/2 (iteration)",
    ),
    "'skip' left out": (
        _changed(guaranteed={"wolfe"}),
        "'skip' guarantees it",
        "case 2/2 (guaranteed)",
    ),
    "'wolfe' left out": (
        _changed(guaranteed={"skip"}),
        "'wolfe' guarantees it: the curvature condition",
        "case 2/2 (guaranteed)",
    ),
    "a stricter Armijo constant": (
        _changed(guaranteed={"wolfe", "skip", "c1 = 0.3"}),
        "still fails from 38",
        "case 2/2 (guaranteed)",
    ),
    "a gentler backtracking": (
        _changed(guaranteed={"wolfe", "skip", "shrink = 0.8"}),
        "'shrink = 0.8' does not guarantee",
        "case 2/2 (guaranteed)",
    ),
    "a change not in the list": (
        _changed(guaranteed={"wolfe", "Wolfe"}),
        "'Wolfe', not one of the changes",
        "case 2/2 (guaranteed)",
    ),
    "a list": ([7, "wolfe"], "expected a dict"),
}

test_diagnosis_right_passes, test_diagnosis_mistakes_fail_with_a_reason = answer_tests(
    checks.evaluate_bfgs_diagnosis,
    "diagnosis",
    [RIGHT_DIAGNOSIS, {"iteration": 7, "guaranteed": ["skip", "wolfe"]}],
    DIAGNOSIS_WRONG,
    right_says="iteration 7",
)


def test_diagnosis_unfinished_says_so():
    with pytest.raises(ExerciseNotDone, match=r"Exercise 5\.7"):
        checks.evaluate_bfgs_diagnosis({"iteration": "?", "guaranteed": {"?"}})


def test_the_failure_counts_the_check_reports_are_measured():
    # 200 random starts, as the check says; each change to the Armijo BFGS, rerun
    starts = np.random.default_rng(1).uniform([-2, -1], [2, 3], size=(200, 2))
    changes = {"none": {}, **checks.lesson05.CHANGES}
    for name, change in changes.items():
        failures = sum(
            not checks.lesson05.bfgs_armijo_run(s, **change)["converged"] for s in starts
        )
        assert failures == checks.lesson05.FAILURES[name], name
    assert {n for n, k in checks.lesson05.FAILURES.items() if k == 0} == checks.lesson05.GUARANTEED


# --- the notebook's own answers pass ----------------------------------------------------------


def test_the_lessons_answers_pass_their_checks():
    ns = solution_functions(LESSON)
    assert checks.evaluate_newton(ns["newton"])
    assert checks.evaluate_newton_contraction(ns["newton_contraction"])
    assert checks.evaluate_backtracking(ns["backtracking"])
    assert checks.evaluate_saddle_predictions(ns["after_one_step"])
    assert checks.evaluate_update_radius(ns["update_radius"])
    assert checks.evaluate_bfgs_update(ns["bfgs_update"])
    assert checks.evaluate_bfgs_diagnosis(ns["diagnosis"])
    assert set(ns["CHANGES"]) == set(checks.lesson05.CHANGES)


# --- the claims of the prose --------------------------------------------------------------------


def test_pure_newtons_second_step_goes_far_uphill_then_it_converges():
    pure = run(so.newton, rosenbrock, x0=X0, steps=8)
    assert pure.losses[2] > 100 * pure.losses[1]  # "by a factor of several hundred"
    assert pure.losses[2] < 1000 * pure.losses[1]
    assert np.linalg.norm(pure.xs[6] - 1) < 1e-10


def test_pure_newton_reaches_rosenbrocks_minimum_from_random_starts_faster_than_damped():
    starts = np.random.default_rng(0).uniform([-2, -1], [2, 3], size=(100, 2))
    first = {"pure": [], "damped": []}
    for x0 in starts:
        for name, step in (("pure", so.newton), ("damped", so.damped_newton)):
            r = run(step, rosenbrock, x0=x0, steps=60)
            close = np.nonzero(np.linalg.norm(r.xs - 1, axis=1) < 1e-8)[0]
            assert len(close), (name, x0)  # from every start
            first[name].append(close[0])
    pure, damped = np.array(first["pure"]), np.array(first["damped"])
    assert np.all(pure <= damped)  # "never in more steps"
    assert np.median(damped - pure) >= 4  # 9 here; faster from 96 of the 100 starts


def test_on_a_smooth_abs_pure_newton_diverges_and_damped_newton_converges():
    bump = Problem("√(1 + x²)", lambda x: np.sqrt(1 + x[..., 0] ** 2),
                   lambda x: x / np.sqrt(1 + x ** 2), lambda x: (1 + x[..., None] ** 2) ** -1.5,
                   minima=[(0.0,)], x0=(1.2,), window=((-3, 3), (-1, 1)), f_star=1.0)  # fmt: skip
    pure = run(so.newton, bump, steps=4)
    np.testing.assert_allclose(pure.xs[1:, 0], -(pure.xs[:-1, 0] ** 3), rtol=1e-12)  # x ← −x³
    assert np.all(np.diff(np.abs(pure.xs[:, 0])) > 0)
    for x0 in (1.2, 3.0, -10.0):
        damped = run(so.damped_newton, bump, x0=[x0], steps=8)
        assert np.all(np.diff(damped.losses) <= 0) and abs(damped.x[0]) < 1e-12
    # near the minimum the line search takes the full step
    state = {}
    so.damped_newton(np.array([0.3]), bump.grad, state, bump.f, bump.hess)
    assert state["alpha"] == 1.0


def test_the_saddle_runs_escape_at_the_rates_the_lesson_says():
    for modify, factor in (("abs", 2.0), ("shift", 3.0)):
        r = run(so.damped_newton, saddle, steps=3, modify=modify, delta=1.0)
        np.testing.assert_allclose(r.xs[1:, 1] / r.xs[:-1, 1], factor, rtol=1e-12)
    gd = run(optimizers.gd, saddle, steps=10, lr=0.3)
    assert abs(gd.x[1]) < 0.2 < abs(run(so.damped_newton, saddle, steps=10, modify="abs").x[1])


def test_the_trust_region_rejects_early_steps_and_ends_as_newton():
    tr = so.minimize_trust_region(rosenbrock.f, rosenbrock.grad, rosenbrock.hess, X0)
    accepted = tr.metrics["accepted"][1:]
    assert tr.success and not accepted[:10].all() and accepted[-5:].all()
    # the last steps are Newton steps: the Newton point lies inside the ball
    for x, radius in zip(tr.xs[-4:-1], tr.metrics["radius"][-3:]):
        assert np.linalg.norm(np.linalg.solve(rosenbrock.hess(x), rosenbrock.grad(x))) < radius


def test_bfgs_needs_more_iterations_than_damped_newton_and_armijo_would_do_from_x0():
    bfgs = so.minimize_bfgs(rosenbrock.f, rosenbrock.grad, X0)
    damped = run(so.damped_newton, rosenbrock, x0=X0, steps=40)
    first = np.nonzero(np.max(np.abs(rosenbrock.grad(damped.xs)), axis=-1) < 1e-5)[0][0]
    assert len(bfgs.xs) - 1 >= first + 5
    armijo = checks.lesson05.bfgs_armijo_run(X0)
    assert armijo["converged"] and np.all(armijo["curvature"] > 0)


def test_in_the_race_the_curvature_methods_arrive_and_the_first_order_ones_do_not():
    runs = {name: run(step, rosenbrock, x0=X0, steps=40, **kw) for name, (step, kw) in {
        "momentum": (optimizers.momentum, {"lr": 1e-3, "gamma": 0.9}),
        "Adam": (optimizers.adam, {"lr": 0.05}),
        "damped Newton": (so.damped_newton, {}),
    }.items()}  # fmt: skip
    bfgs = so.minimize_bfgs(rosenbrock.f, rosenbrock.grad, X0)
    assert runs["damped Newton"].gap[-1] < 1e-10 and bfgs.gap[min(40, len(bfgs.xs) - 1)] < 1e-10
    assert runs["momentum"].gap[-1] > 1e-2 and runs["Adam"].gap[-1] > 1
    assert np.linalg.norm(runs["Adam"].x - X0) < np.linalg.norm(runs["momentum"].x - X0)
