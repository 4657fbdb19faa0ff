"""Lesson 01 checks: the right answers pass, the usual mistakes fail."""

import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import LeastSquares, checks, course_quadratic, optimizers, train_2d, train_minibatch
from course_lib.data import load_diabetes
from course_lib.runners import minibatches

# --- right versions, written as a student might ----------------------------------------


def right_contraction(lr, eigenvalues):
    return np.max(np.abs(1 - lr * np.asarray(eigenvalues)))


def right_grad(X, y, w, idx):
    Xb, yb = X[idx], y[idx]
    return Xb.T @ (Xb @ w - yb) / len(idx)


def right_sampler(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def shuffle_in_place(n, batch_size, rng):
    order = np.arange(n)
    rng.shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def right_sharpness(hvp, v0, iters=100):
    v = v0 / np.linalg.norm(v0)
    for _ in range(iters):
        w = hvp(v)
        v = w / np.linalg.norm(w)
    return float(v @ hvp(v))


def _power(normalise=True, iters=None, answer="rayleigh", first=True):
    """A power iteration with one slip: no normalisation (or not of v0), fixed iterations,
    a wrong answer."""

    def sharpness(hvp, v0, iters_given=100):
        v = v0 / np.linalg.norm(v0) if normalise and first else v0
        for _ in range(iters or iters_given):
            w = hvp(v)
            v = w / np.linalg.norm(w) if normalise else w
        if answer == "vector":
            return v
        if answer == "unnormalised":
            return float(w @ hvp(w))
        return float(v @ hvp(v))

    return sharpness


def sharpness_norm_of_hv(hvp, v0, iters=100):
    """The answer found by working the exercise as a student: v_new·H v_old (‖Hv‖ in effect),
    v0 never normalised, v_new undefined when iters = 0."""
    v = v0
    for _ in range(iters):
        w = hvp(v)
        v_new = w / np.linalg.norm(w)
        lam = v_new @ hvp(v)
        v = v_new
    return float(lam)


def sharpness_while_loop(hvp, v0, iters=100):
    """A loop that never stops: the check must stop it, not hang."""
    v = v0 / np.linalg.norm(v0)
    while True:
        w = hvp(v)
        v = w / np.linalg.norm(w)


def sharpness_no_loop_at_zero(hvp, v0, iters=100):
    w = v0
    for _ in range(iters):
        w = hvp(w)
        v = w / np.linalg.norm(w)
        w = v
    return float(v @ hvp(v))  # v is undefined when iters = 0


def sharpness_in_place(hvp, v0, iters=100):
    v0 /= np.linalg.norm(v0)  # changes the caller's v0
    v = v0
    for _ in range(iters):
        w = hvp(v)
        v = w / np.linalg.norm(w)
    return float(v @ hvp(v))


def gd_in_place(x, grad, state, lr=0.1):
    """Found by working the exercise as a student: the text asks for a new array."""
    x -= lr * grad(x)
    return x


def gd_two_coordinates(x, grad, state, lr=0.1):
    g = grad(x)
    return np.array([x[0] - lr * g[0], x[1] - lr * g[1]])


EXERCISES = {
    # Exercise 1.1: the GD step (reference trajectories of torch.optim.SGD)
    "gd": Exercise(
        checks.evaluate_step,
        right=[optimizers.gd],
        wrong={
            "sign error": (lambda x, grad, state, lr=0.1: x + lr * grad(x), "wrong sign"),
            "lr forgotten": (lambda x, grad, state, lr=0.1: x - grad(x), "η is missing"),
            "wrong factor": (
                lambda x, grad, state, lr=0.1: x - 0.5 * lr * grad(x),
                "0.5 × the expected one in every coordinate",
            ),
            "gradient at the wrong point": (
                lambda x, grad, state, lr=0.1: x - lr * grad(x - lr * grad(x)),
                "call grad(x) and step against it",
            ),
            "ignores the lr passed in": (
                lambda x, grad, state, lr=0.1: x - 0.1 * grad(x),
                "η = 0.4 in this case: use the argument lr, not a fixed 0.1",
            ),
            "x changed in place": (gd_in_place, "leave x as it is: x_new = x - lr * g"),
            "x[0], x[1] only": (gd_two_coordinates, "x has shape (3, 2) in this case"),
        },
        args=("gd",),
    ),
    # Exercise 1.5: the sharpness by power iteration
    "sharpness": Exercise(
        checks.evaluate_sharpness,
        right=[right_sharpness],
        wrong={
            "v never normalised": (_power(normalise=False), "v is never normalised"),
            "5 iterations, iters ignored": (
                _power(iters=5),
                "iters = 100 in this case: iterate `iters` times, not a fixed 5",
            ),
            "returns the vector": (_power(answer="vector"), "return one number"),
            "quotient of an unnormalised w": (
                _power(answer="unnormalised"),
                "wᵀHw for the unnormalised w = Hv",
            ),
            "v0 not normalised": (_power(first=False), "normalise v0 first"),
            "v_new·H v_old (‖Hv‖)": (sharpness_norm_of_hv, "that is ‖Hv‖"),
            "one iteration too many": (
                lambda hvp, v0, iters=100: _power()(hvp, v0, iters + 1),
                "one iteration too many",
            ),
            "never stops": (sharpness_while_loop, "did not stop: it called hvp()"),
            "v undefined at iters = 0": (sharpness_no_loop_at_zero, "with iters = 0 the loop"),
            "v0 changed in place": (sharpness_in_place, "changed its argument `v0` in place"),
        },
    ),
    # Exercise 1.2: the contraction factor
    "contraction": Exercise(
        checks.evaluate_gd_contraction,
        right=[right_contraction],
        wrong={
            "no absolute value": (
                lambda lr, e: np.max(1 - lr * np.asarray(e)),
                "take the absolute value",
            ),
            "λ_max only": (lambda lr, e: abs(1 - lr * np.max(e)), "not only λ_max"),
            "λ_min only": (lambda lr, e: abs(1 - lr * np.min(e)), "not only λ_min"),
            "assumes sorted input": (
                lambda lr, e: max(abs(1 - lr * e[0]), abs(1 - lr * e[-1])),
                "the eigenvalues are not sorted",
            ),
            "squared (loss, not distance)": (
                lambda lr, e: np.max(np.abs(1 - lr * np.asarray(e))) ** 2,
                "that is the square",
            ),
            "Hessian 2A instead of A": (
                lambda lr, e: np.max(np.abs(1 - 2 * lr * np.asarray(e))),
                "not 1 − 2ηλ",
            ),
            "the array, not the max": (
                lambda lr, e: np.abs(1 - lr * np.asarray(e)),
                "not the array of them",
            ),
            "the number wrapped in a list": (
                lambda lr, e: [float(np.max(np.abs(1 - lr * np.asarray(e))))],
                "return one number, not a list",
            ),
            "eigenvalues sorted in place": (
                lambda lr, e: (e.sort(), abs(1 - lr * e[[0, -1]]).max())[1],
                "changed its argument `e` in place",
            ),
        },
    ),
    # Exercise 1.3: the mini-batch gradient
    "minibatch grad": Exercise(
        checks.evaluate_minibatch_grad,
        right=[
            right_grad,
            # another correct way: the mean of the per-example gradients
            lambda X, y, w, idx: np.mean(X[idx] * (X[idx] @ w - y[idx])[:, None], axis=0),
        ],
        wrong={
            "summed": (lambda X, y, w, idx: X[idx].T @ (X[idx] @ w - y[idx]), "summed"),
            "divided by n": (
                lambda X, y, w, idx: X[idx].T @ (X[idx] @ w - y[idx]) / len(y),
                "not by n",
            ),
            "sign": (
                lambda X, y, w, idx: X[idx].T @ (y[idx] - X[idx] @ w) / len(idx),
                "wrong sign",
            ),
            "½ not cancelled": (
                lambda X, y, w, idx: 2 * X[idx].T @ (X[idx] @ w - y[idx]) / len(idx),
                "cancels",
            ),
            "full batch, ignores idx": (
                lambda X, y, w, idx: X.T @ (X @ w - y) / len(y),
                "use only the rows idx",
            ),
            "nonsense of the right shape": (
                lambda X, y, w, idx: np.mean(X[idx] @ w - y[idx]) * w,
                "g_B = X_Bᵀ(X_B x − y_B)/|B|",
            ),
            "X r instead of Xᵀr": (
                lambda X, y, w, idx: X[idx] @ w - y[idx],
                "one entry per parameter",
            ),
        },
    ),
    # Exercise 1.4: the mini-batch sampler
    "sampler": Exercise(
        checks.evaluate_minibatch_sampler,
        right=[
            right_sampler,
            minibatches,  # course_lib's own sampler
            shuffle_in_place,
            # other correct ways: np.split, a generator of its own seeded from rng, sorted
            # batches (order within a batch), np.random.Generator.choice
            lambda n, b, rng: np.split(rng.permutation(n), range(b, n, b)),
            lambda n, b, rng: right_sampler(n, b, np.random.default_rng(rng.integers(2**32))),
            lambda n, b, rng: [np.sort(c) for c in right_sampler(n, b, rng)],
            lambda n, b, rng: right_sampler(n, b, rng) if n else [],
            lambda n, b, rng: np.split(rng.choice(n, n, replace=False), range(b, n, b)),
        ],
        wrong={
            "with replacement": (
                lambda n, b, rng: [rng.integers(0, n, min(b, n - i)) for i in range(0, n, b)],
                "WITH replacement",
            ),
            "independent batches": (
                lambda n, b, rng: [
                    rng.choice(n, min(b, n - i), replace=False) for i in range(0, n, b)
                ],
                "WITH replacement",
            ),
            "drops the last batch": (
                lambda n, b, rng: right_sampler(n, b, rng)[: n // b],
                "never used",
            ),
            "not shuffled": (
                lambda n, b, rng: [np.arange(n)[i : i + b] for i in range(0, n, b)],
                "original order",
            ),
            "re-seeds": (
                lambda n, b, rng: right_sampler(n, b, np.random.default_rng(0)),
                "same order",
            ),
            "ignores rng": (
                lambda n, b, rng: right_sampler(n, b, np.random.default_rng()),
                "same seed",
            ),
            "wrong batch sizes": (
                lambda n, b, rng: np.array_split(rng.permutation(n), max(n // b, 1)),
                "batch sizes",
            ),
            "float indices": (
                lambda n, b, rng: [list(map(float, c)) for c in right_sampler(n, b, rng)],
                "integer",
            ),
            "returns None": (lambda n, b, rng: None, "Did you forget `return`?"),
        },
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_gd_diverges_without_stopping_in_20_steps():
    """η = 0.6 on the course quadratic: x2 = −2·(−1.4)^20 ≈ −1673; the runner must not stop."""
    run = train_2d(optimizers.gd, course_quadratic, steps=20, lr=0.6)
    assert run.diverged_at is None and len(run.xs) == 21
    np.testing.assert_allclose(run.x, [-5 * 0.88**20, -2 * (-1.4) ** 20], rtol=1e-12)


def test_contraction_matches_measured_rate():
    """The checked formula is also what GD does: per-step shrinking of ‖x_t − x*‖."""
    for lr in (0.1, 0.3, 0.45):
        xs = train_2d(optimizers.gd, course_quadratic, steps=200, lr=lr).xs
        d = np.linalg.norm(xs, axis=1)
        assert np.isclose(
            d[-1] / d[-2], right_contraction(lr, course_quadratic.eigenvalues), rtol=1e-6
        )


def test_minibatch_grad_against_finite_differences():
    """The reference (LeastSquares.grad on a batch) is the derivative of the batch loss."""
    X, y = load_diabetes()
    ls, w, idx = LeastSquares(X, y), np.linspace(-1, 1, 10), np.array([3, 50, 400, 7])
    h, eye = 1e-6, np.eye(10)
    fd = [(ls.loss(w + h * e, idx) - ls.loss(w - h * e, idx)) / (2 * h) for e in eye]
    np.testing.assert_allclose(ls.grad(w, idx), fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(right_grad(X, y, w, idx), fd, rtol=1e-7, atol=1e-9)


def test_minibatch_grad_that_is_not_numbers_is_reported():
    report = checks.evaluate_minibatch_grad(lambda X, y, w, idx: "abc")
    assert not report and "got      'abc'" in str(report)


# --- the solution notebook's own answers ---------------------------------------------


def test_solution_answers_pass_their_checks():
    ns = solution_functions("01-gradient-descent.ipynb")
    assert checks.evaluate_step(ns["gd"], "gd")
    assert checks.evaluate_gd_contraction(ns["gd_contraction"])
    assert checks.evaluate_minibatch_grad(ns["minibatch_grad"])
    assert checks.evaluate_minibatch_sampler(ns["sample_minibatches"])
    assert checks.evaluate_gd_limits(ns["gd_limits"])
    assert checks.evaluate_gd_predictions(ns["predictions"])
    assert checks.evaluate_floor_design(ns["lr"], ns["batch_size"])
    assert checks.evaluate_gd_diagnosis(ns["diagnosis"])
    assert (
        ns["sample_minibatches"](442, 32, np.random.default_rng(3))[0].tolist()
        == minibatches(442, 32, np.random.default_rng(3))[0].tolist()
    )  # same as train_minibatch


# --- an unfinished exercise called directly by a lesson cell: one line, no traceback --------


def test_finished_turns_an_unfinished_exercise_into_one_line():
    import pytest
    from lessons import stub

    from course_lib.contract import ExerciseNotDone, finished

    with pytest.raises(ExerciseNotDone) as caught:
        finished(stub)(1, 2)
    message = str(caught.value)
    assert message.startswith("Exercise 9.9: unfinished — not finished yet: complete stub()")
    assert message.count("not finished yet") == 1
    assert caught.value.__suppress_context__  # raised `from None`: no chained traceback
    assert len(caught.value._render_traceback_()) == 1
    # a check handed the wrapped function says it once too, not twice
    with pytest.raises(ExerciseNotDone) as again:
        checks.evaluate_gd_contraction(finished(stub))
    assert str(again.value).count("not finished yet") == 1
    assert finished(right_contraction)(0.1, [1.0, 2.0]) == right_contraction(0.1, [1.0, 2.0])


def test_lesson_cells_call_the_exercises_through_finished():
    import re

    import nbformat
    from lessons import SOLUTIONS

    names = ("gd_contraction", "gd_limits", "minibatch_grad", "sample_minibatches", "sharpness")
    for cell in nbformat.read(SOLUTIONS / "01-gradient-descent.ipynb", as_version=4).cells:
        if cell.cell_type != "code" or "### BEGIN SOLUTION" in cell.source:
            continue
        for name in names:  # finished(name)(...) or an alias made by finished() is fine
            direct = re.search(rf"(?<![\w.]){name}\(", cell.source)
            assert not direct, f"{name}() called directly:\n{cell.source}"


# --- the exercises that ask for thinking: 1.2 predict, 1.4 derive, 1.7 design, 1.8 diagnose ---

THINKING = {
    # Exercise 1.4: the largest stable and the best learning rate
    "limits": Exercise(
        checks.evaluate_gd_limits,
        right=[
            lambda lam_min, lam_max: (2 / lam_max, 2 / (lam_min + lam_max)),
            # another correct way: the best η from the balance, solved numerically
            lambda lam_min, lam_max: (
                2.0 / lam_max,
                float(np.roots([lam_min + lam_max, -2.0])[0]),
            ),
        ],
        wrong={
            "oscillation onset as the limit": (
                lambda a, b: (1 / b, 2 / (a + b)),
                "starts to oscillate",
            ),
            "λ_min's limit": (lambda a, b: (2 / a, 2 / (a + b)), "2/λ_min"),
            "best at 1/λ_max": (lambda a, b: (2 / b, 1 / b), "solved in one step"),
            "best at the limit": (lambda a, b: (2 / b, 2 / b), "no longer shrinks"),
            "half the best": (lambda a, b: (2 / b, 1 / (a + b)), "half the best"),
            "sign slip in the balance": (
                lambda a, b: (2 / b, 2 / (b - a) if b > a else 1 / b),
                "check the sign",
            ),
            "one number": (lambda a, b: 2 / b, "tuple"),
        },
    ),
}

test_thinking_right_passes, test_thinking_mistake_fails, test_thinking_unfinished = exercise_tests(
    THINKING
)

RIGHT_PREDICTIONS = {0.04: "smooth", 0.3: "oscillates", 0.49: "oscillates", 0.51: "diverges"}
PREDICTIONS_WRONG = {
    "η = 0.04 oscillates": (
        {**RIGHT_PREDICTIONS, 0.04: "oscillates"},
        "both factors lie between 0 and 1",
        "case 1/4 (η = 0.04)",
    ),
    "η = 0.3 smooth (x2's factor is negative)": (
        {**RIGHT_PREDICTIONS, 0.3: "smooth"},
        "flips the sign of x2",
        "case 2/4 (η = 0.3)",
    ),
    "η = 0.49 diverges (its factor is −0.96)": (
        {**RIGHT_PREDICTIONS, 0.49: "diverges"},
        "but it still shrinks",
        "case 3/4 (η = 0.49)",
    ),
    "η = 0.51 oscillates (its factor is below −1)": (
        {**RIGHT_PREDICTIONS, 0.51: "oscillates"},
        "below −1 flips the sign AND grows",
        "case 4/4 (η = 0.51)",
    ),
    "'converges'": (
        {**RIGHT_PREDICTIONS, 0.3: "converges"},
        "'converges' is not enough",
        "case 2/4 (η = 0.3)",
    ),
    "one left at '?'": (
        {**RIGHT_PREDICTIONS, 0.49: "?"},
        "no prediction yet",
        "case 3/4 (η = 0.49)",
    ),
    "a list": (["smooth"] * 4, "expected a dict"),
}

test_predictions_right_passes, test_prediction_mistakes_fail_with_their_hint = answer_tests(
    checks.evaluate_gd_predictions,
    "predictions",
    [RIGHT_PREDICTIONS, {k: f" {v.upper()} " for k, v in RIGHT_PREDICTIONS.items()}],
    PREDICTIONS_WRONG,
    right_says="4 learning rates",
)  # spelling and case do not matter


def test_predictions_unfinished_says_so():
    from course_lib.contract import ExerciseNotDone

    with pytest.raises(ExerciseNotDone, match=r"Exercise 1.2: .* not finished yet"):
        checks.evaluate_gd_predictions(dict.fromkeys(RIGHT_PREDICTIONS, "?"))


def test_measured_behaviour_is_the_factor_theory():
    """The check's ground truth (a measured run) agrees with the factors 1 − ηλ at every η."""
    from course_lib.checks.lesson01 import gd_behaviour

    for lr in np.linspace(0.005, 0.6, 120):
        if abs(lr - 0.25) < 1e-9 or abs(lr - 0.5) < 1e-9:
            continue  # factor exactly 0 or −1: on the edge between two answers
        f2 = 1 - 4 * lr
        expected = "smooth" if f2 > 0 else "oscillates" if f2 > -1 else "diverges"
        assert gd_behaviour(lr) == expected, lr


@pytest.mark.parametrize(
    "lr, batch_size, hint",
    [
        (0.05, 64, "the floor halved, not quartered"),
        (0.05, 32, "η/|B| is unchanged"),
        (0.0125, 32, "take the largest batch that fits"),
        (0.1, 128, "does not fit in memory"),
        (0.01, 64, "lower than needed"),
        (0.025, 63.5, "whole number"),
        (-0.025, 64, "η must be positive"),
        ("fast", 64, "expected two numbers"),
    ],
)
def test_design_mistakes_fail_with_their_hint(lr, batch_size, hint):
    report = checks.evaluate_floor_design(lr, batch_size)
    assert not report and hint in str(report), str(report)


def test_design_right_passes_and_unfinished_says_so():
    from course_lib.contract import ExerciseNotDone

    assert checks.evaluate_floor_design(0.025, 64)
    assert checks.evaluate_floor_design(0.05 / 32 / 4 * 64, np.int64(64))
    assert checks.evaluate_floor_design(0.024, 64)  # a hair lower is still the design
    with pytest.raises(ExerciseNotDone, match=r"Exercise 1.7: .* not finished yet"):
        checks.evaluate_floor_design(None, None)


def test_designed_floor_is_a_quarter_measured():
    """The design's premise, measured: η/|B| a quarter → the floor a quarter (independent
    batches from x*, 3 seeds, 2,000 updates, mean of the last 1,000); not a half, not equal."""
    X, y = load_diabetes()
    d = LeastSquares(X, y)
    levels = []
    for lr, b in ((0.05, 32), (0.025, 64)):
        runs = d.sgd_runs(d.minima[0], [lr] * 3, [0, 1, 2], b, 2000, replace=True)
        levels.append(d.excess_loss(runs[1000:]).mean())
    assert 0.17 < levels[1] / levels[0] < 0.33, levels


RIGHT_DIAGNOSIS = {
    "A": "ravine",
    "B": "noise floor",
    "C": "learning rate too large",
    "D": "plateau",
}


DIAGNOSIS_WRONG = {
    "ravine taken for a plateau": (
        {**RIGHT_DIAGNOSIS, "A": "plateau"},
        "slow straight line",
        "case 1/4 (run A)",
    ),
    "noise floor taken for a ravine": (
        {**RIGHT_DIAGNOSIS, "B": "ravine"},
        "jitters up and down",
        "case 2/4 (run B)",
    ),
    "too large an η taken for a noise floor": (
        {**RIGHT_DIAGNOSIS, "C": "noise floor"},
        "grows steadily",
        "case 3/4 (run C)",
    ),
    "plateau taken for a ravine": (
        {**RIGHT_DIAGNOSIS, "D": "ravine"},
        "almost flat for a long stretch",
        "case 4/4 (run D)",
    ),
    "a cause not in the list": (
        {**RIGHT_DIAGNOSIS, "A": "too slow"},
        "is not one of",
        "case 1/4 (run A)",
    ),
}

test_diagnosis_right_passes, test_diagnosis_mistakes_fail_with_the_signature = answer_tests(
    checks.evaluate_gd_diagnosis,
    "diagnosis",
    [RIGHT_DIAGNOSIS],
    DIAGNOSIS_WRONG,
    right_says="4 runs",
)


def test_diagnosis_unfinished_says_so():
    from course_lib.contract import ExerciseNotDone

    with pytest.raises(ExerciseNotDone, match=r"Exercise 1.8: .* not finished yet"):
        checks.evaluate_gd_diagnosis(dict.fromkeys("ABCD", "?"))


def test_mystery_runs_show_the_signatures_the_hints_describe():
    runs = checks.gd_mystery_runs()
    a, b, c, d = (runs[k] for k in "ABCD")
    assert all(np.all(np.isfinite(r)) for r in runs.values())
    # A, a ravine: never rises; late on, a slow steady geometric decline
    assert np.all(np.diff(a) < 0)
    late = a[100:] / a[99:-1]
    assert np.ptp(late) < 1e-3 and 0.9 < late.mean() < 0.999
    # B, a noise floor: falls, then rises and falls around a level it keeps
    assert b[-100:].mean() < b[0] / 10 and np.sum(np.diff(b[100:]) > 0) > 50
    assert 0.5 < b[200:].mean() / b[100:200].mean() < 2
    # C, too large an η: grows steadily, by orders of magnitude
    assert np.all(np.diff(c[20:]) > 0) and c[-1] > 1e6 * c[0]
    # D, a plateau: almost flat for a long stretch, high above 0, then a drop to 0
    assert np.ptp(d[30:200]) < 0.01 * d[100] and d[100] > 0.5 and d[-1] < 1e-6


# --- numbers that left the lesson's prose: the claims behind sections 2–5 -------------------


def test_loss_shrinks_by_q_squared_and_tenfold_takes_about_kappa_steps():
    for lr in (0.1, 0.3, 2 / 4.2, 0.45):
        r = train_2d(optimizers.gd, course_quadratic, steps=100, lr=lr)
        q = right_contraction(lr, course_quadratic.eigenvalues)
        assert np.isclose((r.gap[100] / r.gap[50]) ** (1 / 50), q**2, rtol=1e-3)
    for kappa in (20, 470):
        q = (kappa - 1) / (kappa + 1)
        assert kappa < np.log(10) / -np.log(q) < 1.2 * kappa


def test_cheap_noisy_steps_lead_early_batch_gd_per_update():
    """Section 3: after one epoch (442 example gradients) even the best single step of batch GD
    (η on a fine grid) is above the mini-batch and SGD runs, for three seeds; per update,
    batch GD is ahead of both after 30 updates."""
    X, y = load_diabetes()
    d = LeastSquares(X, y)
    g = d.grad(d.x0)
    best_step = min(d.excess_loss(d.x0 - lr * g) for lr in np.linspace(0.01, 0.5, 200))
    for seed in (0, 1, 2):
        mb = d.sgd_runs(d.x0, [0.05], [seed], 32, 30 * 14)[:, 0]
        sgd = d.sgd_runs(d.x0, [0.005], [seed], 1, 442)[:, 0]
        assert d.excess_loss(mb[13]) < best_step / 1.5 and d.excess_loss(sgd[-1]) < best_step / 1.5
        batch = d.sgd_runs(d.x0, [0.25], [seed], 442, 30)[:, 0]
        assert d.excess_loss(batch[-1]) < d.excess_loss(mb[29]) / 2
        assert d.excess_loss(batch[-1]) < d.excess_loss(sgd[29]) / 10


def test_batch_gd_passes_below_the_noise_floor_for_good():
    """Section 5: |B| = 32, η = 0.05, three seeds, against batch GD η = 0.25 in closed form:
    batch GD stays below from epoch ~370 on, and after 1,000 epochs is > 20 × lower."""
    X, y = load_diabetes()
    d = LeastSquares(X, y)
    lam, Q = np.linalg.eigh(d.A)
    e0 = Q.T @ (d.x0 - d.minima[0])
    t = np.arange(1001)[:, None]
    batch = 0.5 * np.sum(lam * (e0 * (1 - 0.25 * lam) ** t) ** 2, axis=1)
    # the closed form is batch GD itself
    runs = d.sgd_runs(d.x0, [0.25], [0], 442, 50)[:, 0]
    np.testing.assert_allclose(d.excess_loss(runs), batch[1:51], rtol=1e-9)
    mb = d.excess_loss(d.sgd_runs(d.x0, [0.05] * 3, [0, 1, 2], 32, 14000))
    mb_epoch = mb.reshape(1000, 14, 3).mean(axis=1)
    crossing = np.flatnonzero(batch[1:] >= mb_epoch.mean(axis=1))[-1] + 2
    assert 300 < crossing < 450, crossing
    assert mb_epoch[-1].mean() > 20 * batch[1000]
    assert np.all(mb_epoch[500:].mean(axis=0) < batch[100])  # the floor: below, then passed


def test_noise_floor_follows_eta_over_batch_size():
    """Section 5 and its Going further: independent batches within 20 % of ησ*²/(4|B|) at every
    (η, |B|); epochs without replacement lower at each, about a third at (0.05, 32)."""
    X, y = load_diabetes()
    d = LeastSquares(X, y)
    x_star = d.minima[0]
    sigma2_star = np.mean(np.sum(d.example_grads(x_star) ** 2, axis=1))
    for b, lr in [(1, 0.005), (8, 0.05), (32, 0.0125), (32, 0.05), (32, 0.1), (128, 0.05)]:
        predicted = lr * sigma2_star / (4 * b)
        level = {}
        for replace in (True, False):
            runs = d.sgd_runs(x_star, [lr] * 3, [0, 1, 2], b, 2000, replace=replace)
            level[replace] = d.excess_loss(runs[1000:]).mean()
        assert 0.8 < level[True] / predicted < 1.2, (b, lr, level[True] / predicted)
        assert level[False] < level[True], (b, lr)
        if (b, lr) == (32, 0.05):
            assert 0.25 < level[False] / predicted < 0.45


def test_minibatch_variance_law_and_exact_epoch_mean():
    """Section 4: the variance of g_B at x = 0 follows σ²/|B|·(n−|B|)/(n−1) (2,000 batches,
    within 10 %); over one epoch with |B| dividing n the batches' mean gradient IS ∇f."""
    X, y = load_diabetes()
    d = LeastSquares(X, y)
    x, n = d.x0, d.n
    full = d.grad(x)
    sigma2 = np.mean(np.sum((d.example_grads(x) - full) ** 2, axis=1))
    rng = np.random.default_rng(0)
    for b in (1, 8, 64, 256):
        grads = []
        while len(grads) < 2000:
            grads += [d.grad(x, idx) for idx in minibatches(n, b, rng) if len(idx) == b]
        variance = np.mean(np.sum((np.array(grads[:2000]) - full) ** 2, axis=1))
        assert np.isclose(variance, sigma2 / b * (n - b) / (n - 1), rtol=0.1), b
    epoch = minibatches(n, 34, np.random.default_rng(1))  # 442 = 13 × 34
    np.testing.assert_allclose(
        np.mean([d.grad(x, idx) for idx in epoch], axis=0), full, rtol=1e-12, atol=1e-14
    )


def test_sgd_runs_is_train_minibatch_stepped_together():
    """LeastSquares.sgd_runs draws batches like runners.minibatches: same iterates as
    train_minibatch with the course's gd, run by run."""
    X, y = load_diabetes()
    d = LeastSquares(X, y)
    runs = d.sgd_runs(d.x0, [0.05, 0.02], [0, 5], 32, 28)
    for k, (lr, seed) in enumerate(((0.05, 0), (0.02, 5))):
        r = train_minibatch(
            optimizers.gd, d, epochs=2, batch_size=32, seed=seed, lr=lr, record_every=1
        )
        np.testing.assert_allclose(runs[:, k], r.xs[1:], rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="learning rates"):
        d.sgd_runs(d.x0, [0.05], [0, 1], 32, 10)


def test_edge_of_stability_run_keeps_its_shape():
    """Going further: lesson 06's tanh network, full-batch GD at η = 2, from a start sharper
    than 2/η: the loss climbs several-fold, then falls far below its start, and the sharpness
    (power iteration on finite-difference Hessian-vector products) ends below 2/η."""
    from course_lib.data import load_digits
    from course_lib.mlp import MLP

    X, y = load_digits()
    net = MLP(X[:300] / 16, y[:300], sizes=(64, 32, 10), activation="tanh", seed=0)
    w, losses = net.x0.copy(), []
    for _ in range(151):
        losses.append(net.loss(w))
        w = w - 2.0 * net.grad(w)
    h = 1e-4
    hvp = lambda v: (net.grad(w + h * v) - net.grad(w - h * v)) / (2 * h)
    assert max(losses[:41]) > 3 * losses[0] and losses[-1] < 0.1 * losses[0]
    assert right_sharpness(hvp, np.ones(net.dim), 20) < 1.0
