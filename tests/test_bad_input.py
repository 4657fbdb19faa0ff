"""What a student sees when an input is wrong: one line that names the argument and what
was expected, before anything runs (the table in course_lib/contract.py's docs)."""

import re
import warnings

import numpy as np
import pytest

from course_lib import (
    DivergenceWarning,
    LeastSquares,
    Problem,
    StepError,
    course_quadratic,
    optimizers,
    run,
    schedules,
    train_2d,
    train_minibatch,
)
from course_lib.contract import InputError


def diverged(call):
    """The message of the one DivergenceWarning that ``call()`` gives, and its result."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    messages = [str(w.message) for w in caught if issubclass(w.category, DivergenceWarning)]
    assert len(messages) == 1, messages
    return messages[0], result


def nan_gradient_at(bad):
    """The course quadratic with a gradient that is NaN wherever x1 < bad."""
    return course_quadratic.replace(
        name="broken", grad=lambda x: np.where(x[0] < bad, np.nan, course_quadratic.grad(x))
    )


# 1. A non-finite start or gradient is named as such; the learning rate is not blamed.
def test_a_start_that_is_not_finite_is_named():
    with pytest.raises(InputError, match=r"x0 = \[nan  1\.\] is not finite"):
        train_2d(optimizers.gd, course_quadratic, x0=[np.nan, 1.0])


def test_a_gradient_that_is_not_finite_is_the_problems_not_the_learning_rates():
    message, r = diverged(lambda: run(optimizers.gd, nan_gradient_at(-4.0), steps=30, lr=0.1))
    assert "the gradient at x_" in message and "is not finite" in message
    assert "not the learning rate" in message and "smaller learning rate" not in message
    assert r.diverged_at is not None and np.all(np.isfinite(r.xs))


# 2. Hyperparameters are held to their documented range before the first step.
@pytest.mark.parametrize(
    ("step", "hyperparameters", "words"),
    [
        (optimizers.adam, {"beta1": 1.0}, "adam(): beta1 = 1.0 is out of range"),
        (optimizers.adam, {"beta1": 1.5}, "β1 in [0, 1)"),
        (optimizers.adam, {"beta2": -0.5}, "beta2 = -0.5 is out of range"),
        (optimizers.gd, {"lr": -0.1}, "a negative one climbs"),
        (optimizers.momentum, {"gamma": 1.2}, "γ in [0, 1)"),
        (optimizers.rmsprop, {"eps": -1e-8}, "ε ≥ 0"),
        (optimizers.adamw, {"weight_decay": -0.1}, "λ ≥ 0"),
        (optimizers.gd, {"lr": "0.1"}, "lr = '0.1' is not a number"),
    ],
)
def test_hyperparameters_out_of_range_are_refused_by_name(step, hyperparameters, words):
    with pytest.raises(InputError, match=re.escape(words)):
        run(step, course_quadratic, steps=3, **hyperparameters)


def test_a_students_own_step_is_held_to_the_same_names():
    def my_momentum(x, grad, state, lr=0.01, gamma=0.9):
        return x - lr * grad(x)

    with pytest.raises(InputError, match=r"my_momentum\(\): gamma = 1\.5 is out of range"):
        run(my_momentum, course_quadratic, gamma=1.5)
    run(my_momentum, course_quadratic, gamma=0.5)  # in range: runs


# 3. x0 of the wrong shape is caught at the door, naming both shapes.
@pytest.mark.parametrize("x0", [3.0, [1.0, 2.0, 3.0], np.ones((2, 2, 2))])
def test_a_start_of_the_wrong_shape_names_both_shapes(x0):
    with pytest.raises(
        InputError, match=r"x0 has shape .* course quadratic takes points of shape \(2,\)"
    ):
        run(optimizers.gd, course_quadratic, x0=x0)


# 5. A one-cycle schedule with an empty phase is refused (torch refuses it too).
@pytest.mark.parametrize(("pct_start", "phase"), [(0.01, "phase 1 of 2"), (1.0, "phase 2 of 2")])
def test_one_cycle_with_an_empty_phase_is_refused(pct_start, phase):
    with pytest.raises(ValueError, match=f"pct_start = {pct_start} .* leaves {phase} empty"):
        schedules.one_cycle_lr(0, max_lr=1.0, total_steps=100, pct_start=pct_start)


# 6. One diagnosis for both runners: NaN that a step makes from finite input is the step's.
def test_train_minibatch_blames_the_step_for_nan_as_run_does():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_normal(40), np.zeros(40)])  # a feature that is always 0
    data = LeastSquares(X, X @ [1.0, 0.0])
    with pytest.raises(StepError, match=r"adagrad\(\) at step 1 returned NaN.*ε = 0"):
        train_minibatch(optimizers.adagrad, data, epochs=1, batch_size=8, lr=0.1, eps=0.0)
    with pytest.raises(StepError, match=r"adagrad\(\) at step 1 returned NaN.*ε = 0"):
        run(optimizers.adagrad, course_quadratic, x0=[1.0, 0.0], lr=0.1, eps=0.0)


# 7. The message counts what the run returns.
def test_a_run_that_diverges_at_once_says_it_returns_x0_only():
    message, r = diverged(lambda: run(optimizers.gd, nan_gradient_at(0.0), x0=[-1.0, 1.0]))
    assert "returns x_0 only" in message and len(r.xs) == 1


def test_a_run_that_diverges_later_counts_its_iterates():
    message, r = diverged(lambda: run(optimizers.gd, course_quadratic, steps=100, lr=0.6))
    assert f"returns x_0 … x_{len(r.xs) - 1}" in message


# 8. The smaller slips each name their argument.
@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda: run(optimizers.gd, course_quadratic, steps=-5),
            "steps must be a whole number ≥ 0; got -5",
        ),
        (lambda: run(optimizers.gd, course_quadratic, steps=1e3), r"got 1000.0 \(write 1000"),
        (
            lambda: train_minibatch(
                optimizers.gd, LeastSquares(np.eye(4), np.ones(4)), batch_size=0
            ),
            "batch_size must be a whole number ≥ 1; got 0",
        ),
        (
            lambda: run(
                optimizers.gd,
                Problem(
                    "vector f", lambda x: x, lambda x: x, None, [0, 0], [1, 1], ((-2, 2), (-2, 2))
                ),
            ),
            r"vector f.f\(x\) returned an array of shape \(2,\); it must return one number",
        ),
    ],
)
def test_small_slips_name_their_argument(call, words):
    with pytest.raises(InputError, match=words):
        call()


# 9. A wrong input that used to surface as numpy's or Python's own error is named in one line.
def one_line(excinfo):
    """The message of a raised course error, checked to be one line."""
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def test_a_gradient_of_the_wrong_shape_is_named_with_both_shapes():
    for wrong in (np.ones(3), np.ones((2, 1))):  # one fails to broadcast, one broadcasts
        broken = course_quadratic.replace(name="broken", grad=lambda x, g=wrong: g)
        with pytest.raises(InputError) as excinfo:
            run(optimizers.gd, broken, steps=3)
        assert one_line(excinfo) == (
            f"broken.grad(x) returned shape {wrong.shape} at a point x of shape (2,); "
            "a gradient must be an array of x's shape (2,)."
        )


def test_a_mini_batch_gradient_of_the_wrong_shape_is_named_too():
    data = LeastSquares(np.eye(4, 3), np.ones(4))
    data.grad = lambda w, idx=None: np.ones(5)
    with pytest.raises(InputError) as excinfo:
        train_minibatch(optimizers.adam, data, epochs=1, batch_size=2)
    assert one_line(excinfo) == (
        "least squares.grad(x) returned shape (5,) at a point x of shape (3,); a gradient "
        "must be an array of x's shape (3,)."
    )


def test_a_step_without_state_is_told_the_contract():
    def my_gd(x, grad):
        return x - 0.1 * grad(x)

    with pytest.raises(StepError) as excinfo:
        run(my_gd, course_quadratic, steps=3)
    assert one_line(excinfo) == (
        "my_gd(x, grad) does not take the step contract's arguments: every step is called as "
        "step(x, grad, state, **hyperparameters), so it takes x, grad and state (a dict for "
        "its buffers, even if it keeps none) before its hyperparameters."
    )


def test_a_type_error_inside_a_correct_step_is_left_as_it_is():
    def my_gd(x, grad, state, lr=0.1):
        return x - lr * grad(x) + None  # the student's own bug, not the contract

    with pytest.raises(TypeError, match="unsupported operand") as excinfo:
        run(my_gd, course_quadratic, steps=3)
    assert not isinstance(excinfo.value, StepError)


def test_a_schedule_that_gives_nan_is_named_not_the_step():
    data = LeastSquares(np.eye(4, 3), np.ones(4))
    schedule = lambda t: 0.1 if t < 3 else float("nan")
    with pytest.raises(InputError) as excinfo:
        train_minibatch(optimizers.gd, data, epochs=5, batch_size=1, schedule=schedule)
    assert one_line(excinfo) == (
        "the schedule gave the learning rate nan at t = 3 (update 4); a schedule must "
        "return a finite learning rate η ≥ 0."
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: schedules.exponential_lr(3, lr=0.1, gamma=-0.5),
            "exponential_lr(): gamma = -0.5 is out of range: gamma is a factor γ > 0 "
            "applied per decay (< 1 decays, > 1 grows).",
        ),
        (
            lambda: schedules.step_lr(3, lr=0.1, step_size=10, gamma=-0.1),
            "step_lr(): gamma = -0.1 is out of range: gamma is a factor γ > 0 applied per "
            "decay (< 1 decays, > 1 grows).",
        ),
        (
            lambda: schedules.constant_lr(3, lr=-0.1),
            "constant_lr(): lr = -0.1 is out of range: lr is a learning rate η ≥ 0 "
            "(a negative one climbs the function).",
        ),
        (
            lambda: schedules.cosine_annealing_lr(3, lr=0.1, T_max=10, eta_min=-0.01),
            "cosine_annealing_lr(): eta_min = -0.01 is out of range: eta_min is the final "
            "learning rate η_min ≥ 0.",
        ),
        (
            lambda: schedules.linear_lr(3, lr=0.1, start_factor=0.0),
            "linear_lr(): start_factor = 0.0 is out of range: start_factor is a factor s in "
            "(0, 1].",
        ),
        (
            lambda: schedules.linear_lr(3, lr=0.1, end_factor=1.5),
            "linear_lr(): end_factor = 1.5 is out of range: end_factor is a factor e in [0, 1].",
        ),
        (
            lambda: schedules.one_cycle_lr(3, max_lr=float("nan"), total_steps=10),
            "one_cycle_lr(): max_lr = nan is out of range: max_lr is a learning rate η ≥ 0 "
            "(a negative one climbs the function).",
        ),
        (
            lambda: schedules.one_cycle_lr(3, max_lr=0.1, total_steps=10, div_factor=0),
            "one_cycle_lr(): div_factor = 0 is out of range: div_factor is a divisor > 0.",
        ),
        (
            lambda: schedules.exponential_lr(3, lr="0.1", gamma=0.9),
            "exponential_lr(): lr = '0.1' is not a number; lr is a learning rate η ≥ 0 "
            "(a negative one climbs the function).",
        ),
        (
            lambda: schedules.sequential_lr(3, [schedules.constant_lr] * 3, milestones=[20, 10]),
            "milestones must increase from an update > 0; got [20, 10]",
        ),
    ],
)
def test_every_schedule_refuses_arguments_outside_their_meaning(call, message):
    with pytest.raises(InputError) as excinfo:
        call()
    assert one_line(excinfo) == message


def test_schedules_still_accept_every_meaningful_argument():
    assert schedules.exponential_lr(2, lr=0.1, gamma=1.1) == pytest.approx(0.121)  # growth
    rates = schedules.exponential_lr(np.arange(3), lr=np.array([[0.1], [0.2]]), gamma=0.5)
    assert rates.shape == (2, 3) and rates[1, 2] == pytest.approx(0.05)  # one rate per run
    assert schedules.linear_lr(0, lr=1.0, start_factor=1.0, end_factor=0.0) == 1.0


def test_the_minimisers_share_one_public_stop_and_outcome():
    from course_lib import hessian_free, runners, second_order

    for module in (second_order, hessian_free):
        assert module.stop_if_not_finite is runners.stop_if_not_finite
        assert module.minimizer_outcome is runners.minimizer_outcome
        assert not hasattr(module, "_not_finite") and not hasattr(module, "_outcome")
