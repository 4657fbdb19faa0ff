"""Lesson 01 checks: the right answers pass, the usual mistakes fail."""

import numpy as np
import pytest

from course_lib import checks, course_quadratic, optimizers, train_2d
from course_lib.contract import ExerciseNotDone
from course_lib.runners import minibatches

# --- Exercise 1.1: the GD step (reference trajectories of torch.optim.SGD) -----------


def test_gd_reference_passes():
    assert checks.evaluate_step(optimizers.gd, "gd")


@pytest.mark.parametrize(
    "wrong",
    [
        lambda x, grad, state, lr=0.1: x + lr * grad(x),  # sign error
        lambda x, grad, state, lr=0.1: x - grad(x),  # lr forgotten
        lambda x, grad, state, lr=0.1: x - 0.5 * lr * grad(x),  # wrong factor
        lambda x, grad, state, lr=0.1: (
            x - lr * grad(x - lr * grad(x))
        ),  # gradient at the wrong point
        lambda x, grad, state, lr=0.1: x - 0.1 * grad(x),  # ignores the lr passed in
    ],
)
def test_gd_mistakes_fail(wrong):
    report = checks.evaluate_step(wrong, "gd")
    assert not report and "✘" in str(report)


def test_gd_sign_error_gets_hint():
    report = checks.evaluate_step(lambda x, grad, state, lr=0.1: x + lr * grad(x), "gd")
    assert "wrong sign" in str(report)


def test_gd_diverges_without_stopping_in_20_steps():
    """η = 0.6 on the course quadratic: x2 = −2·(−1.4)^20 ≈ −1673; the runner must not stop."""
    run = train_2d(optimizers.gd, course_quadratic, steps=20, lr=0.6)
    assert run.diverged_at is None and len(run.xs) == 21
    np.testing.assert_allclose(run.x, [-5 * 0.88**20, -2 * (-1.4) ** 20], rtol=1e-12)


# --- Exercise 1.2: the contraction factor ------------------------------------------


def right_contraction(lr, eigenvalues):
    return np.max(np.abs(1 - lr * np.asarray(eigenvalues)))


def test_contraction_right_passes():
    assert checks.evaluate_gd_contraction(right_contraction)


def test_contraction_matches_measured_rate():
    """The checked formula is also what GD does: per-step shrinking of ‖x_t − x*‖."""
    for lr in (0.1, 0.3, 0.45):
        xs = train_2d(optimizers.gd, course_quadratic, steps=200, lr=lr).xs
        d = np.linalg.norm(xs, axis=1)
        assert np.isclose(
            d[-1] / d[-2], right_contraction(lr, course_quadratic.eigenvalues), rtol=1e-6
        )


@pytest.mark.parametrize(
    "wrong",
    [
        lambda lr, e: np.max(1 - lr * np.asarray(e)),  # no absolute value
        lambda lr, e: abs(1 - lr * np.max(e)),  # λ_max only
        lambda lr, e: abs(1 - lr * np.min(e)),  # λ_min only
        lambda lr, e: max(abs(1 - lr * e[0]), abs(1 - lr * e[-1])),  # assumes sorted input
        lambda lr, e: np.max(np.abs(1 - lr * np.asarray(e))) ** 2,  # squared (loss, not distance)
        lambda lr, e: np.max(np.abs(1 - 2 * lr * np.asarray(e))),  # Hessian 2A instead of A
        lambda lr, e: np.abs(1 - lr * np.asarray(e)),  # the array, not the max
    ],
)
def test_contraction_mistakes_fail(wrong):
    assert not checks.evaluate_gd_contraction(wrong)


# --- Exercise 1.3: the mini-batch gradient -------------------------------------------


def right_grad(X, y, w, idx):
    Xb, yb = X[idx], y[idx]
    return Xb.T @ (Xb @ w - yb) / len(idx)


def test_minibatch_grad_right_passes():
    assert checks.evaluate_minibatch_grad(right_grad)
    # another correct way: the mean of the per-example gradients
    assert checks.evaluate_minibatch_grad(
        lambda X, y, w, idx: np.mean(X[idx] * (X[idx] @ w - y[idx])[:, None], axis=0)
    )


def test_minibatch_grad_against_finite_differences():
    """The reference (LeastSquares.grad on a batch) is the derivative of the batch loss."""
    from course_lib import LeastSquares
    from course_lib.data import load_diabetes

    X, y = load_diabetes()
    ls, w, idx = LeastSquares(X, y), np.linspace(-1, 1, 10), np.array([3, 50, 400, 7])
    h, eye = 1e-6, np.eye(10)
    fd = [(ls.loss(w + h * e, idx) - ls.loss(w - h * e, idx)) / (2 * h) for e in eye]
    np.testing.assert_allclose(ls.grad(w, idx), fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(right_grad(X, y, w, idx), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda X, y, w, idx: X[idx].T @ (X[idx] @ w - y[idx]), "summed"),
        (lambda X, y, w, idx: X[idx].T @ (X[idx] @ w - y[idx]) / len(y), "not by n"),
        (lambda X, y, w, idx: X[idx].T @ (y[idx] - X[idx] @ w) / len(idx), "wrong sign"),
        (lambda X, y, w, idx: 2 * X[idx].T @ (X[idx] @ w - y[idx]) / len(idx), "cancels"),
        (lambda X, y, w, idx: X.T @ (X @ w - y) / len(y), ""),  # full batch, ignores idx
        (lambda X, y, w, idx: np.mean(X[idx] @ w - y[idx]) * w, ""),  # nonsense of the right shape
    ],
)
def test_minibatch_grad_mistakes_fail(wrong, hint):
    report = checks.evaluate_minibatch_grad(wrong)
    assert not report and hint in str(report)


# --- Exercise 1.4: the mini-batch sampler --------------------------------------------


def right_sampler(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def test_sampler_right_passes():
    assert checks.evaluate_minibatch_sampler(right_sampler)
    assert checks.evaluate_minibatch_sampler(minibatches)  # course_lib's own sampler
    # another correct way: np.array_split with the right sections
    assert checks.evaluate_minibatch_sampler(
        lambda n, b, rng: np.split(rng.permutation(n), range(b, n, b))
    )
    assert checks.evaluate_minibatch_sampler(
        lambda n, b, rng: right_sampler(n, b, np.random.default_rng(rng.integers(2**32)))
    )
    assert checks.evaluate_minibatch_sampler(
        lambda n, b, rng: [np.sort(c) for c in right_sampler(n, b, rng)]
    )  # order within a batch


def shuffle_in_place(n, batch_size, rng):
    order = np.arange(n)
    rng.shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def test_sampler_other_correct_ways_pass():
    assert checks.evaluate_minibatch_sampler(shuffle_in_place)
    assert checks.evaluate_minibatch_sampler(
        lambda n, b, rng: right_sampler(n, b, rng) if n else []
    )
    choice = lambda n, b, rng: np.split(rng.choice(n, n, replace=False), range(b, n, b))
    assert checks.evaluate_minibatch_sampler(choice)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (
            lambda n, b, rng: [rng.integers(0, n, min(b, n - i)) for i in range(0, n, b)],
            "WITH replacement",
        ),  # with replacement
        (
            lambda n, b, rng: [rng.choice(n, min(b, n - i), replace=False) for i in range(0, n, b)],
            "WITH replacement",
        ),  # independent batches
        (
            lambda n, b, rng: right_sampler(n, b, rng)[: n // b],
            "never used",
        ),  # drops the last batch
        (lambda n, b, rng: [np.arange(n)[i : i + b] for i in range(0, n, b)], "original order"),
        (lambda n, b, rng: right_sampler(n, b, np.random.default_rng(0)), "same order"),  # re-seeds
        (
            lambda n, b, rng: right_sampler(n, b, np.random.default_rng()),
            "same seed",
        ),  # ignores rng
        (lambda n, b, rng: np.array_split(rng.permutation(n), max(n // b, 1)), "batch sizes"),
        (lambda n, b, rng: [list(map(float, c)) for c in right_sampler(n, b, rng)], "integer"),
    ],
)
def test_sampler_mistakes_fail(wrong, hint):
    report = checks.evaluate_minibatch_sampler(wrong)
    assert not report and hint in str(report)


# --- unfinished exercises -------------------------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 1.k: unfinished")


@pytest.mark.parametrize(
    "evaluate",
    [
        checks.evaluate_gd_contraction,
        checks.evaluate_minibatch_grad,
        checks.evaluate_minibatch_sampler,
    ],
)
def test_unfinished_exercise_says_so(evaluate):
    with pytest.raises(ExerciseNotDone, match="not finished yet"):
        evaluate(stub)


# --- the solution notebook's own answers ---------------------------------------------


def solution_functions():
    """The exercise functions as written in solutions/01-gradient-descent.ipynb."""
    import pathlib

    import nbformat

    path = pathlib.Path(__file__).resolve().parents[1] / "solutions" / "01-gradient-descent.ipynb"
    namespace = {"np": np}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            exec(cell.source, namespace)
    return namespace


def test_solution_answers_pass_their_checks():
    ns = solution_functions()
    assert checks.evaluate_step(ns["gd"], "gd")
    assert checks.evaluate_gd_contraction(ns["gd_contraction"])
    assert checks.evaluate_minibatch_grad(ns["minibatch_grad"])
    assert checks.evaluate_minibatch_sampler(ns["sample_minibatches"])
    assert (
        ns["sample_minibatches"](442, 32, np.random.default_rng(3))[0].tolist()
        == minibatches(442, 32, np.random.default_rng(3))[0].tolist()
    )  # same as train_minibatch
