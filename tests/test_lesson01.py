"""Lesson 01 checks: the right answers pass, the usual mistakes fail."""

import numpy as np
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import LeastSquares, checks, course_quadratic, optimizers, train_2d
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
                "g_B = X_Bᵀ(X_B w − y_B)/|B|",
            ),
            "X r instead of Xᵀr": (
                lambda X, y, w, idx: X[idx] @ w - y[idx],
                "one entry per weight",
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

    names = ("gd_contraction", "minibatch_grad", "sample_minibatches", "sharpness")
    for cell in nbformat.read(SOLUTIONS / "01-gradient-descent.ipynb", as_version=4).cells:
        if cell.cell_type != "code" or "### BEGIN SOLUTION" in cell.source:
            continue
        for name in names:  # finished(name)(...) or an alias made by finished() is fine
            direct = re.search(rf"(?<![\w.]){name}\(", cell.source)
            assert not direct, f"{name}() called directly:\n{cell.source}"
