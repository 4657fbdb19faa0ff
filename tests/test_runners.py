"""Runners: shapes, divergence as a lesson, clear errors for bad step functions."""

import warnings

import numpy as np
import pytest

from course_lib import (
    DivergenceWarning,
    ExerciseNotDone,
    LeastSquares,
    StepError,
    beale,
    course_quadratic,
    optimizers,
    rosenbrock,
    run,
    train_2d,
    train_minibatch,
)
from course_lib.data import load_diabetes
from course_lib.runners import run_stack, steady_growth


def test_train_2d_shapes_and_unpacking():
    xs, losses = train_2d(optimizers.gd, course_quadratic, lr=0.1, steps=20)
    assert xs.shape == (21, 2) and losses.shape == (21,)
    np.testing.assert_array_equal(xs[0], [-5, -2])
    assert losses[-1] < losses[0]


def test_divergent_rate_of_lesson_01_runs_its_20_steps_unstopped():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = train_2d(optimizers.gd, course_quadratic, lr=0.6, steps=20)
    assert len(r.xs) == 21 and r.diverged_at is None
    assert r.x[1] == pytest.approx(-2 * (-1.4) ** 20)  # x2 ≈ −1673
    assert round(r.x[1]) == -1673
    r = train_2d(optimizers.gd, course_quadratic, lr=0.4, steps=20)
    assert r.x[1] == pytest.approx(-2 * (-0.6) ** 20)


def test_divergence_stops_with_one_clear_warning_and_no_runtime_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = train_2d(optimizers.gd, rosenbrock, lr=0.01, steps=500)
    kinds = [w.category for w in caught]
    assert kinds == [DivergenceWarning], kinds
    msg = str(caught[0].message)
    assert f"step {r.diverged_at}" in msg and "gd diverged" in msg
    assert caught[0].filename == __file__  # points at the caller, not course_lib
    assert np.all(np.isfinite(r.xs)) and np.all(np.isfinite(r.losses))
    assert len(r.xs) <= r.diverged_at + 1


def bad(value):
    def step(x, grad, state, lr=0.1):
        return value(x)

    return step


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda x: None, ["returned None", "shape (2,)", "return"]),
        (lambda x: list(x), ["returned a list", "numpy array"]),
        (lambda x: x[:1], ["returned shape (1,)", "(2,)"]),
        (lambda x: x.astype(int), ["dtype int"]),
    ],
)
def test_bad_returns_name_the_function_and_what_was_expected(make, words):
    with pytest.raises(StepError) as err:
        train_2d(bad(make), course_quadratic, steps=3)
    assert "step() at step 1" in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_nan_from_finite_inputs_is_an_error_not_divergence():
    def sqrt_of_negative(x, grad, state, lr=0.1):
        return x - lr * grad(x) / np.sqrt(-np.abs(x))

    with pytest.raises(StepError, match="sqrt_of_negative\\(\\) at step 1 returned NaN"):
        train_2d(sqrt_of_negative, course_quadratic, steps=3)


def test_unfinished_exercise_raises_one_clean_line():
    def momentum(x, grad, state, lr=0.1, gamma=0.9):
        raise NotImplementedError("Exercise 2.1: heavy-ball momentum")

    with pytest.raises(ExerciseNotDone) as err:
        train_2d(momentum, course_quadratic, steps=3)
    assert "Exercise 2.1: heavy-ball momentum" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    rendered = err.value._render_traceback_()  # what IPython shows instead of a traceback
    assert len(rendered) == 1 and "Exercise 2.1" in rendered[0]


def test_unknown_hyperparameter_is_explained():
    with pytest.raises(StepError, match="accepts only \\['lr'\\]"):
        train_2d(optimizers.gd, course_quadratic, steps=2, gamma=0.9)


def test_steps_asking_for_the_hessian_get_it_from_the_problem():
    def newton(x, grad, state, hess, lr=1.0):
        return x - lr * np.linalg.solve(hess(x), grad(x))

    r = train_2d(newton, course_quadratic, steps=1)
    np.testing.assert_allclose(r.x, 0, atol=1e-12)  # one Newton step solves a quadratic


def test_run_handles_n_dimensional_problems():
    from course_lib import quadratic_with_spectrum

    q = quadratic_with_spectrum([1, 2, 3, 4, 5], seed=0)
    r = run(optimizers.gd, q, steps=50, lr=0.3)
    assert r.xs.shape == (51, 5) and r.gap[-1] < 1e-6
    with pytest.raises(ValueError, match="train_2d needs a 2-D problem"):
        train_2d(optimizers.gd, q)


def test_minibatch_runner_is_seeded_and_covers_every_example_once_per_epoch():
    ls = LeastSquares(*load_diabetes())
    seen = []

    class Spy:
        n, x0, f_star = ls.n, ls.x0, ls.f_star
        loss = staticmethod(ls.loss)

        @staticmethod
        def grad(w, idx=None):
            seen.append(np.array(idx))
            return ls.grad(w, idx)

    a = train_minibatch(optimizers.gd, Spy, epochs=2, batch_size=50, seed=3, lr=0.05)
    batches = seen[:]
    assert [len(i) for i in batches[:9]] == [50] * 8 + [42]
    for epoch in (batches[:9], batches[9:]):
        assert sorted(np.concatenate(epoch)) == list(range(ls.n))
    b = train_minibatch(optimizers.gd, ls, epochs=2, batch_size=50, seed=3, lr=0.05)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert list(a.epochs) == [0, 1, 2] and list(a.grad_evals) == [0, 442, 884]
    assert list(a.steps) == [0, 9, 18]


def test_full_batch_minibatch_run_is_gradient_descent():
    ls = LeastSquares(*load_diabetes())
    mb = train_minibatch(optimizers.gd, ls, epochs=5, batch_size=None, lr=0.1)
    gd = run(optimizers.gd, ls, steps=5, lr=0.1)
    np.testing.assert_allclose(mb.losses, gd.losses, rtol=1e-12)


def test_minibatch_schedule_record_every_and_metrics():
    ls = LeastSquares(*load_diabetes())
    lrs = []

    def gd(x, grad, state, lr=0.1):
        lrs.append(lr)
        return x - lr * grad(x)

    r = train_minibatch(
        gd,
        ls,
        epochs=1,
        batch_size=100,
        schedule=lambda t: 0.1 / (t + 1),
        record_every=2,
        metrics={"norm": np.linalg.norm},
    )
    assert lrs == [0.1 / (t + 1) for t in range(5)]
    assert list(r.steps) == [0, 2, 4, 5]
    assert r.metrics["norm"].shape == (4,) and r.times[-1] > 0


def test_minibatch_divergence_warns_once():
    ls = LeastSquares(*load_diabetes())
    with pytest.warns(DivergenceWarning, match="diverged at step"):
        r = train_minibatch(optimizers.gd, ls, epochs=50, batch_size=32, lr=5.0)
    assert r.diverged_at is not None and np.all(np.isfinite(r.losses))


# --- tune: the fairness rule ------------------------------------------------------------


def test_tune_scores_every_rate_and_seed_and_picks_the_lowest_mean():
    from course_lib.runners import tune

    def train(lr, seed):  # a noisy U in log η with its minimum at η = 0.1
        return np.log10(lr / 0.1) ** 2 + 0.01 * seed

    lrs = [0.001, 0.01, 0.1, 1.0, 10.0]
    t = tune(train, lrs, seeds=(0, 1, 2), label="toy")
    np.testing.assert_allclose(t.scores[:, 0], [4, 1, 0, 1, 4], atol=1e-12)
    np.testing.assert_allclose(t.mean, [4.01, 1.01, 0.01, 1.01, 4.01], atol=1e-12)
    np.testing.assert_allclose(t.sd, 0.01, atol=1e-12)  # sample sd of 0, 0.01, 0.02
    assert t.best_lr == 0.1 and t.best_index == 2 and not t.at_edge
    assert str(t).startswith("toy") and "0.01 ± 0.01" in str(t) and "3 seeds" in str(t)


def test_tune_counts_diverged_runs_as_inf_quietly_and_keeps_the_runs():
    from course_lib.runners import tune

    def train(lr, seed):
        return train_2d(optimizers.gd, course_quadratic, lr=lr, steps=60)

    lrs = [0.05, 0.1, 0.2, 0.4, 0.6]  # 0.6 > 2/λmax = 0.5 diverges
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DivergenceWarning (nor any other) escapes
        t = tune(train, lrs, seeds=(0,))
    assert np.isinf(t.scores[-1, 0]) and t.diverged == 1
    finals = [train(lr, 0).losses[-1] for lr in lrs[:-1]]
    np.testing.assert_array_equal(t.scores[:-1, 0], finals)
    assert t.best_lr == lrs[int(np.argmin(finals))] == 0.4
    assert [r.hyperparameters["lr"] for r in t.best_runs] == [0.4]
    assert "seed" in str(t) and "±" not in str(t)  # one seed: no spread claimed


def test_tune_warns_when_the_best_rate_is_at_the_edge_of_the_grid():
    from course_lib.runners import tune

    with pytest.warns(UserWarning, match="edge of the grid"):
        t = tune(lambda lr, seed: -lr, [0.1, 0.2, 0.4], seeds=(0, 1))
    assert t.at_edge and t.best_lr == 0.4


def test_show_tuned_prints_the_best_first(capsys):
    from course_lib.runners import Tuned, show_tuned

    a = Tuned("slow", [0.1, 1.0], (0, 1), [[2.0, 2.2], [np.inf, np.inf]])
    b = Tuned("fast", [0.1, 1.0, 10.0], (0, 1), [[3.0, 3.0], [1.0, 1.1], [5.0, 5.0]])
    show_tuned([a, b])
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("fast") and out[2].startswith("slow")
    assert "1.05 ± 0.071" in out[1] and "edge" in out[2] and "2 diverged runs" in out[2]


@pytest.mark.parametrize("lrs", [[], [0.1, -1.0], [[0.1]]])
def test_tune_refuses_a_bad_grid(lrs):
    from course_lib.contract import InputError
    from course_lib.runners import tune

    with pytest.raises(InputError, match="grid of positive learning rates"):
        tune(lambda lr, seed: lr, lrs)


def test_run_stack_makes_the_runs_run_makes_one_by_one():
    lrs, gammas = [0.01, 0.05, 0.1], [0.9, 0.5, 0.0]
    stacked = run_stack(
        optimizers.momentum,
        course_quadratic,
        steps=30,
        labels=["a", "b", "c"],
        lr=lrs,
        gamma=gammas,
    )
    for r, lr, gamma, label in zip(stacked, lrs, gammas, "abc"):
        alone = run(optimizers.momentum, course_quadratic, steps=30, lr=lr, gamma=gamma)
        assert r.label == label and r.hyperparameters == {"lr": lr, "gamma": gamma}
        np.testing.assert_allclose(r.xs, alone.xs, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(r.losses, alone.losses, rtol=1e-13, atol=1e-13)
    shared = run_stack(optimizers.adam, rosenbrock, steps=10, lr=[0.01, 0.1], beta2=0.99)
    alone = run(optimizers.adam, rosenbrock, steps=10, lr=0.1, beta2=0.99)
    np.testing.assert_allclose(shared[1].xs, alone.xs, rtol=1e-13, atol=1e-13)


def test_run_stack_needs_one_length_of_sequences():
    with pytest.raises(Exception, match="1-D sequence"):
        run_stack(optimizers.gd, course_quadratic, lr=0.1)
    with pytest.raises(Exception, match="same length"):
        run_stack(optimizers.momentum, course_quadratic, lr=[0.1, 0.2], gamma=[0.9])


# --- Slow blow-ups: flagged (Run.diverging) without stopping the run ---------------------


@pytest.mark.parametrize("lr", [0.51, 0.52, 0.53, 0.545])
def test_gd_just_past_the_stability_limit_is_flagged_as_diverging(lr):
    # 2/λmax = 0.5: f − f* grows from 10.5 to 38 … 6000 in 20 steps, far below EXPLODE
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # still no warning and no stop: lessons run these
        r = run(optimizers.gd, course_quadratic, steps=20, lr=lr)
    assert r.diverged_at is None and len(r.losses) == 21
    assert r.diverging.startswith("f − f* grew from 10.5 to ")
    assert "in 20 steps, steadily for the last 20" in r.diverging


@pytest.mark.parametrize("lr", [0.752, 0.755, 0.758])
def test_momentum_just_past_its_limit_is_flagged_as_diverging(lr):
    # γ = 0.5: stable for ηλmax < 2(1 + γ), η < 0.75; just past it f − f* grows 22–590×
    r = run(optimizers.momentum, course_quadratic, steps=40, lr=lr, gamma=0.5)
    assert r.diverged_at is None and r.gap[-1] > 20 * r.gap[0]
    assert "steadily" in r.diverging


def test_a_run_that_stopped_says_why_it_diverges_and_a_converging_one_says_nothing():
    with pytest.warns(DivergenceWarning):
        r = run(optimizers.gd, course_quadratic, steps=100, lr=0.7)
    assert r.diverging == r.reason and "exploded" in r.diverging
    assert run(optimizers.gd, course_quadratic, steps=100, lr=0.45).diverging == ""
    assert run(optimizers.gd, course_quadratic, steps=100, lr=0.5).diverging == ""  # the edge


def test_steady_growth_needs_all_three_signs():
    rise = 10 * 1.2 ** np.arange(21)  # geometric: ×1.2 a step, ×38 in 20 steps
    assert "from 10 to 383 in 20 steps, steadily for the last 20" in steady_growth(rise)
    assert steady_growth(rise[:6]) == ""  # 5 rises: too few to call it steady
    assert steady_growth(np.r_[rise[:-1], rise[-2] * 0.99]) == ""  # fell at the last step
    bump = 10 + 30 * (1 - 0.6 ** np.arange(21))  # rises every step, ever more slowly
    assert steady_growth(bump) == ""
    dip = np.r_[100.0, 10 * 1.2 ** np.arange(17)]  # steady, but still below 2× the start
    assert steady_growth(dip) == "" and steady_growth(np.r_[dip, dip[-1] * 1.2**4]) != ""
    tail = np.r_[10 * 1.2 ** np.arange(30), 10 * 1.2**29 * 1.01 ** np.arange(1, 11)]
    assert steady_growth(tail) == ""  # its last 10 rises are 18 times slower than before
    assert steady_growth([1.0, np.inf]).startswith("f − f* is no longer finite")


def _flagged_prefixes(gap):
    """The step counts n at which a run's first n steps would be flagged, for its f − f*
    (tried only where f − f* has at least doubled and just rose: a flag needs both)."""
    gap = np.abs(gap)
    maybe = np.flatnonzero((gap[1:] >= 2 * gap[0]) & (gap[1:] > gap[:-1])) + 1
    return [n for n in maybe if steady_growth(gap[: n + 1])]


@pytest.mark.parametrize("rule", ["momentum", "nesterov"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.95, 0.99])
def test_momentum_ripples_that_converge_are_never_flagged(rule, gamma):
    # Every stable η up to 98 % of the limit, from three starts, at every length ≤ 200 steps:
    # near the limit heavy ball's f − f* first grows 40× (a transient) and then converges.
    lam = course_quadratic.eigenvalues.max()
    limit = 2 * (1 + gamma) / lam / (1 + 2 * gamma if rule == "nesterov" else 1)
    lrs = np.r_[np.linspace(0.02, 0.98, 13), 0.987] * limit
    for x0 in (None, [5.0, 2.5], [-1.0, 2.9]):
        for r in run_stack(
            optimizers.STEPS[rule], course_quadratic, steps=2000, x0=x0, lr=lrs, gamma=gamma
        ):
            assert r.gap[-1] < 1e-3 * r.gap[0], (r.hyperparameters, x0)  # it does converge
            # what an explorer shows: up to 200 steps
            assert _flagged_prefixes(r.gap[:201]) == [], (r.hyperparameters, x0, r.gap[:12])


@pytest.mark.parametrize("name", ["adam", "amsgrad", "nadam", "adamw", "adabelief", "rmsprop"])
def test_adam_bumps_are_not_flagged(name):
    # Lesson 04's explorer: Adam on Beale from its start, η up to 1; and Rosenbrock up to 0.5
    # (there RMSprop's loss rises for 35 steps at η = 0.17, then falls).
    for problem, top in ((beale, 1.0), (rosenbrock, 0.5)):
        lrs = np.geomspace(1e-4, 10, 60)
        for r in run_stack(optimizers.STEPS[name], problem, steps=200, lr=lrs[lrs <= top]):
            assert _flagged_prefixes(r.gap) == [], (problem.name, r.hyperparameters)


def test_minibatch_noise_is_not_flagged_and_a_blow_up_is():
    problem = LeastSquares(*load_diabetes())
    for x0 in (None, problem.minima[0]):  # from the start, and from w* (noise lifts f − f*)
        for lr, batch_size in ((0.01, 4), (0.05, 8), (0.1, 32), (0.3, 128)):
            r = train_minibatch(
                optimizers.gd,
                problem,
                x0=x0,
                epochs=12,
                batch_size=batch_size,
                lr=lr,
                record_every=10,
                seed=1,
            )
            assert r.diverged_at is None and not r.diverging, (x0 is None, lr, batch_size)
    for lr in (0.001, 0.01):  # from w*, rising to the floor for 30 epochs, ever more slowly
        r = train_minibatch(optimizers.gd, problem, x0=problem.minima[0], epochs=30, lr=lr)
        assert r.gap[-1] > 1e6 * r.gap[0] and not r.diverging
    lr = 1.05 * 2 / problem.eigenvalues.max()  # batch GD just past its limit
    r = train_minibatch(optimizers.gd, problem, epochs=40, batch_size=None, lr=lr)
    assert r.diverged_at is None and "in 40 steps, steadily" in r.diverging
