"""Learning-rate schedules (lesson 06): course_lib.schedules agrees with torch.optim.lr_scheduler
(directly when torch is installed, and through the stored references always); the checks of
Exercises 6.3–6.4 accept right schedules and reject the usual mistakes (off-by-one t,
π(t + 1)/T, a missing or half-applied η_min, clipping, no min(t, T), a wrong end factor)."""

import math
from functools import partial

import numpy as np
import pytest
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import optimizers, schedules, train_minibatch
from course_lib.checks import evaluate_schedule, load_references, problem_from_spec
from course_lib.problems import LeastSquares

S = schedules


def torch_rates(make, lr, steps):
    """lr_0 … lr_steps from a torch scheduler stepped once per update (after optimizer.step())."""
    torch = pytest.importorskip(
        "torch", reason="comparing with torch.optim.lr_scheduler needs torch"
    )
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    scheduler = make(torch.optim.lr_scheduler, opt)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        rates.append(opt.param_groups[0]["lr"])
    return np.array(rates, dtype=float)


T = np.arange(121)

TORCH_CASES = [
    (
        "StepLR",
        lambda L, o: L.StepLR(o, step_size=30, gamma=0.1),
        0.1,
        partial(S.step_lr, lr=0.1, step_size=30, gamma=0.1),
    ),
    (
        "ExponentialLR",
        lambda L, o: L.ExponentialLR(o, gamma=0.97),
        0.3,
        partial(S.exponential_lr, lr=0.3, gamma=0.97),
    ),
    (
        "CosineAnnealingLR over 2.4 periods",
        lambda L, o: L.CosineAnnealingLR(o, T_max=25, eta_min=1e-3),
        0.1,
        partial(S.cosine_annealing_lr, lr=0.1, T_max=25, eta_min=1e-3),
    ),
    (
        "CosineAnnealingLR, T_max = 120",
        lambda L, o: L.CosineAnnealingLR(o, T_max=120),
        0.05,
        partial(S.cosine_annealing_lr, lr=0.05, T_max=120),
    ),
    (
        "LinearLR warm-up",
        lambda L, o: L.LinearLR(o, start_factor=0.01, total_iters=40),
        0.2,
        partial(S.linear_lr, lr=0.2, start_factor=0.01, end_factor=1.0, total_iters=40),
    ),
    ("LinearLR defaults", lambda L, o: L.LinearLR(o), 0.2, partial(S.linear_lr, lr=0.2)),
    (
        "OneCycleLR defaults",
        lambda L, o: L.OneCycleLR(o, max_lr=0.4, total_steps=120, cycle_momentum=False),
        0.1,
        partial(S.one_cycle_lr, max_lr=0.4, total_steps=120),
    ),
    (
        "OneCycleLR pct_start 0.1, odd total",
        lambda L, o: L.OneCycleLR(
            o,
            max_lr=1.0,
            total_steps=121,
            pct_start=0.1,
            div_factor=5.0,
            final_div_factor=50.0,
            cycle_momentum=False,
        ),
        0.1,
        partial(
            S.one_cycle_lr,
            max_lr=1.0,
            total_steps=121,
            pct_start=0.1,
            div_factor=5.0,
            final_div_factor=50.0,
        ),
    ),
    (
        "OneCycleLR three phases, linear",
        lambda L, o: L.OneCycleLR(
            o,
            max_lr=0.5,
            total_steps=120,
            three_phase=True,
            anneal_strategy="linear",
            cycle_momentum=False,
        ),
        0.1,
        partial(
            S.one_cycle_lr, max_lr=0.5, total_steps=120, three_phase=True, anneal_strategy="linear"
        ),
    ),
    (
        "SequentialLR warm-up then cosine",
        lambda L, o: L.SequentialLR(
            o,
            [L.LinearLR(o, start_factor=0.05, total_iters=20), L.CosineAnnealingLR(o, T_max=100)],
            milestones=[20],
        ),
        0.1,
        partial(
            S.sequential_lr,
            schedules=[
                partial(S.linear_lr, lr=0.1, start_factor=0.05, total_iters=20),
                partial(S.cosine_annealing_lr, lr=0.1, T_max=100),
            ],
            milestones=[20],
        ),
    ),
]


@pytest.mark.parametrize("name, make, lr, ours", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_schedules_agree_with_torch(name, make, lr, ours):
    steps = len(T) - 1
    if "OneCycle" in name:
        steps = ours.keywords["total_steps"]  # torch refuses to step further
    expected = torch_rates(make, lr, steps)
    got = ours(np.arange(steps + 1))
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-15)
    # scalar calls (what train_minibatch does) give the same numbers as the vectorised one
    for t in (0, 1, steps // 3, steps):
        assert isinstance(ours(t), float)
        assert ours(t) == pytest.approx(expected[t], rel=1e-11, abs=1e-15)


def stored_schedule(name, hyperparameters):
    """A stored case's schedule as a function of t: sequential_lr's parts are built by name."""
    if name == "sequential_lr":
        parts = [
            partial(S.SCHEDULES[part["name"]], **part["hyperparameters"])
            for part in hyperparameters["schedules"]
        ]
        return partial(S.sequential_lr, schedules=parts, milestones=hyperparameters["milestones"])
    return partial(S.SCHEDULES[name], **hyperparameters)


def rates_agree(got, expected):
    """Rates agree to 1e-12 of themselves and of their sequence's scale (torch's chainable
    forms accumulate rounding where a rate nears 0)."""
    expected = np.asarray(expected, dtype=float)
    atol = 1e-12 * np.abs(expected).max()
    return np.shape(got) == expected.shape and np.allclose(got, expected, rtol=1e-12, atol=atol)


def test_stored_references_match_course_lib():
    ref = load_references("schedules")["schedules"]
    assert set(ref) == set(S.SCHEDULES) - {"constant_lr"}
    for name, rule in ref.items():
        for case in rule["cases"]:
            t = np.arange(len(case["expected"]))
            got = stored_schedule(name, case["hyperparameters"])(t)
            assert rates_agree(got, case["expected"]), (name, case["name"])


def test_sequential_lr_against_its_stored_reference_without_torch():
    """torch.optim.lr_scheduler.SequentialLR's rates (stored): each part restarts its own
    counter at its milestone; a chain that kept the global t, or switched one update early
    or late, is rejected."""
    for case in load_references("schedules")["schedules"]["sequential_lr"]["cases"]:
        hp, expected = case["hyperparameters"], case["expected"]
        t = np.arange(len(expected))
        assert rates_agree(stored_schedule("sequential_lr", hp)(t), expected), case["name"]
        assert [stored_schedule("sequential_lr", hp)(k) for k in (0, 7, len(t) - 1)] == (
            pytest.approx([expected[0], expected[7], expected[-1]], rel=1e-12)
        )
        parts = [
            partial(S.SCHEDULES[part["name"]], **part["hyperparameters"])
            for part in hp["schedules"]
        ]
        wrong = {
            "global t": lambda t: np.select(
                [t < m for m in hp["milestones"]] + [True], [f(t) for f in parts]
            ),
            "one update early": partial(
                S.sequential_lr, schedules=parts, milestones=[m - 1 for m in hp["milestones"]]
            ),
            "one update late": partial(
                S.sequential_lr, schedules=parts, milestones=[m + 1 for m in hp["milestones"]]
            ),
        }
        for mistake, schedule in wrong.items():
            assert not rates_agree(schedule(t), expected), (case["name"], mistake)


@pytest.mark.parametrize(
    "name", ["step_lr", "exponential_lr", "cosine_annealing_lr", "linear_lr", "one_cycle_lr"]
)
def test_course_lib_schedules_pass_their_checks(name):
    assert evaluate_schedule(S.SCHEDULES[name])


def test_cosine_formula_values():
    # η_max at t = 0, the midpoint at T/2, η_min at T, and back up (period 2T) beyond
    f = partial(S.cosine_annealing_lr, lr=0.5, T_max=10, eta_min=0.1)
    assert f(0) == 0.5 and f(10) == pytest.approx(0.1) and f(5) == pytest.approx(0.3)
    assert f(20) == pytest.approx(0.5) and f(13) == pytest.approx(f(7))


def test_one_cycle_endpoints():
    f = partial(S.one_cycle_lr, max_lr=1.0, total_steps=100)
    assert f(0) == pytest.approx(1.0 / 25) and f(29) == pytest.approx(1.0)
    assert f(99) == pytest.approx(1.0 / 25 / 1e4)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: S.cosine_annealing_lr(-1, lr=0.1, T_max=10), "starts at 0"),
        (lambda: S.cosine_annealing_lr(3, lr=0.1, T_max=0), "T_max"),
        (lambda: S.step_lr(3, lr=0.1, step_size=0), "step_size"),
        (lambda: S.linear_lr(3, lr=0.1, total_iters=0), "total_iters"),
        (lambda: S.one_cycle_lr(101, max_lr=0.1, total_steps=100), "total_steps"),
        (lambda: S.one_cycle_lr(1, max_lr=0.1, total_steps=100, anneal_strategy="cosine"), "cos"),
        (lambda: S.sequential_lr(1, [S.constant_lr], [5]), "milestones"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_train_minibatch_uses_schedule_t_for_update_t():
    seen = []

    def recording_gd(x, grad, state, lr=0.1):
        seen.append(lr)
        return x - lr * grad(x)

    rng = np.random.default_rng(0)
    ls = LeastSquares(rng.normal(size=(40, 3)), rng.normal(size=40))
    schedule = partial(S.cosine_annealing_lr, lr=0.05, T_max=20)
    train_minibatch(
        recording_gd, ls, np.zeros(3), epochs=2, batch_size=4, seed=0, schedule=schedule
    )
    np.testing.assert_allclose(seen, schedule(np.arange(20)), rtol=0, atol=0)
    # and the course's own steps take the scheduled lr unchanged
    run = train_minibatch(
        optimizers.gd,
        ls,
        np.zeros(3),
        epochs=1,
        batch_size=40,
        seed=0,
        schedule=partial(S.constant_lr, lr=0.0),
    )
    assert np.all(run.xs == 0)


# --- Exercise 6.3: cosine annealing -------------------------------------------------------


def cosine_right(t, lr, T_max, eta_min=0.0):  # a student's scalar version
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


COSINE_WRONG = {
    "π(t + 1)/T": (
        lambda t, lr, T_max, eta_min=0.0: (
            eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(math.pi * (t + 1) / T_max))
        ),
        "one update early",
    ),
    "t − 1": (
        lambda t, lr, T_max, eta_min=0.0: (
            eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(math.pi * (t - 1) / T_max))
        ),
        "one update late",
    ),
    "η_min missing": (
        lambda t, lr, T_max, eta_min=0.0: 0.5 * lr * (1 + math.cos(math.pi * t / T_max)),
        "floor",
    ),
    "η_min not off the amplitude": (
        lambda t, lr, T_max, eta_min=0.0: eta_min + 0.5 * lr * (1 + math.cos(math.pi * t / T_max)),
        "amplitude",
    ),
    "clipped at T_max": (
        lambda t, lr, T_max, eta_min=0.0: cosine_right(min(t, T_max), lr, T_max, eta_min),
        "no clipping",
    ),
    "cos(t / T) without π": (
        lambda t, lr, T_max, eta_min=0.0: (
            eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(t / T_max))
        ),
        "π t",
    ),
    "returns None": (lambda t, lr, T_max, eta_min=0.0: None, "return"),
    "returns a list": (lambda t, lr, T_max, eta_min=0.0: [lr, lr], "one number"),
}


# --- Exercise 6.4: linear warm-up ---------------------------------------------------------


def linear_right(t, lr, start_factor=1 / 3, end_factor=1.0, total_iters=5):
    if t >= total_iters:
        return lr * end_factor
    return lr * (start_factor + (end_factor - start_factor) * t / total_iters)


LINEAR_WRONG = {
    "no min(t, T)": (
        lambda t, lr, start_factor=1 / 3, end_factor=1.0, total_iters=5: (
            lr * (start_factor + (end_factor - start_factor) * t / total_iters)
        ),
        "min(t, T)",
    ),
    "one update early": (
        lambda t, lr, start_factor=1 / 3, end_factor=1.0, total_iters=5: linear_right(
            t + 1, lr, start_factor, end_factor, total_iters
        ),
        "one update early",
    ),
    "end factor taken as 1": (
        lambda t, lr, start_factor=1 / 3, end_factor=1.0, total_iters=5: linear_right(
            t, lr, start_factor, 1.0, total_iters
        ),
        "e < s",
    ),
    "divides by T − 1": (
        lambda t, lr, start_factor=1 / 3, end_factor=1.0, total_iters=5: (
            lr
            * (
                start_factor
                + (end_factor - start_factor) * min(t, total_iters - 1) / (total_iters - 1)
            )
        ),
        "s + (e − s)",
    ),
    "factor not times lr": (
        lambda t, lr, start_factor=1 / 3, end_factor=1.0, total_iters=5: linear_right(
            t, 1.0, start_factor, end_factor, total_iters
        ),
        "factor",
    ),
}


# --- the checks of Exercises 6.3 and 6.4 ----------------------------------------------------

EXERCISES = {
    "cosine_annealing_lr": Exercise(
        evaluate_schedule,
        right=[cosine_right, S.cosine_annealing_lr],
        wrong=COSINE_WRONG,
        args=("cosine_annealing_lr",),
    ),
    "linear_lr": Exercise(
        evaluate_schedule,
        right=[linear_right, S.linear_lr],
        wrong=LINEAR_WRONG,
        args=("linear_lr",),
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_solution_answers_pass_their_checks():
    namespace = solution_functions("06-training-a-network.ipynb")
    for name in EXERCISES:
        assert evaluate_schedule(namespace[name]), name


def test_student_error_is_reported_with_its_line():
    def cosine_annealing_lr(t, lr, T_max, eta_min=0.0):
        return eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(math.pi * t / T_maximum))  # noqa

    report = evaluate_schedule(cosine_annealing_lr)
    assert not report and "NameError" in str(report) and "T_maximum" in str(report)


# --- momentum under a schedule: torch's form ------------------------------------------------


def momentum_under_schedule(step, case):
    """x_0 … x_T of ``step`` with lr = the case's schedule at update t (stored from torch)."""
    grad = problem_from_spec(case["problem"])
    schedule = stored_schedule(case["schedule"]["name"], case["schedule"]["hyperparameters"])
    xs = [np.array(case["expected"][0], dtype=float)]
    state = {}
    for t in range(len(case["expected"]) - 1):
        xs.append(step(xs[-1], grad, state, lr=schedule(t), **case["hyperparameters"]))
    return np.array(xs)


@pytest.mark.parametrize(
    "case",
    load_references("schedules")["sgd_momentum"]["cases"],
    ids=lambda c: c["name"],
)
def test_sgd_momentum_under_a_schedule_is_torchs_sgd(case):
    """optimizers.sgd_momentum against torch.optim.SGD(momentum=γ) stepped by a scheduler
    (stored by tools/make_reference.py), to 1e-10 of the trajectory's scale; the course's
    momentum, which keeps the old rates inside v, is not torch's under a schedule."""
    expected = np.array(case["expected"])
    tol = dict(rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    np.testing.assert_allclose(
        momentum_under_schedule(optimizers.sgd_momentum, case), expected, **tol
    )
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(
            momentum_under_schedule(optimizers.momentum, case), expected, **tol
        )


def test_sgd_momentum_is_the_course_momentum_for_a_constant_rate():
    A = np.random.default_rng(0).normal(size=(6, 3))
    grad = lambda x: A.T @ (A @ x - 1.0)
    x, y, s1, s2 = np.ones(3), np.ones(3), {}, {}
    for _ in range(10):
        x = optimizers.momentum(x, grad, s1, lr=0.05, gamma=0.9)
        y = optimizers.sgd_momentum(y, grad, s2, lr=0.05, gamma=0.9)
    np.testing.assert_allclose(x, y, rtol=1e-12)
    np.testing.assert_allclose(s1["v"], 0.05 * s2["b"], rtol=1e-12)  # v = η b
