"""Lesson 04b (Adam in practice): the checks of Exercises 4b.2–4b.4 judge right and wrong
answers (AdamW's step, Exercise 4b.1, is tested with the Adam family in test_lesson04.py), and
every claim the lesson makes in words holds, with margins that separate it from its
alternative (the numbers live here, not in the prose)."""

import functools
import warnings

import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import Quadratic, beale, checks, course_quadratic, optimizers, rosenbrock, run, tune
from course_lib.runners import noise_floors, run_stack

# --- Exercise 4b.2: where AdamW comes to rest --------------------------------------------------


def rest_right(a, b, lr, weight_decay):
    return np.clip(b / a, -1 / weight_decay, 1 / weight_decay)


def rest_right_by_cases(a, b, lr, weight_decay):
    c = b / a  # inside the box: the minimum of f; outside: the edge on its side
    return np.where(np.abs(c) <= 1 / weight_decay, c, np.sign(c) / weight_decay)


REST_WRONG = {
    "Adam + L2's rest point": (
        lambda a, b, lr, weight_decay: b / (a + weight_decay),
        "that is Adam + L2's rest point",
    ),
    "the minimum of f": (lambda a, b, lr, weight_decay: b / a, "that is the minimum of f"),
    "a box of 1/(ηω)": (
        lambda a, b, lr, weight_decay: np.clip(
            b / a, -1 / (lr * weight_decay), 1 / (lr * weight_decay)
        ),
        "that is the minimum of f",
    ),
    "every coordinate on the edge": (
        lambda a, b, lr, weight_decay: np.sign(b / a) / weight_decay,
        "not every coordinate ends on the box's edge",
    ),
    "a one-sided box": (
        lambda a, b, lr, weight_decay: np.minimum(b / a, 1 / weight_decay),
        "the box has two sides",
    ),
    "a box of ω": (
        lambda a, b, lr, weight_decay: np.clip(b / a, -weight_decay, weight_decay),
        "not ω",
    ),
    "shrunk by 1 − ηω": (
        lambda a, b, lr, weight_decay: (1 - lr * weight_decay) * b / a,
        "ωx = −g/(|g| + ε)",
    ),
}
for _fn, _ in REST_WRONG.values():
    _fn.__name__ = "adamw_rest_point"

test_rest_right, test_rest_mistake, test_rest_unfinished = exercise_tests(
    {
        "adamw_rest_point": Exercise(
            checks.evaluate_adamw_rest_point,
            right=[rest_right, rest_right_by_cases],
            wrong=REST_WRONG,
        )
    }
)


def test_a_box_of_one_over_eta_omega_is_named_where_it_differs_from_the_minimum():
    def adamw_rest_point(a, b, lr, weight_decay):
        box = 1 / (lr * weight_decay)
        return np.clip(b / a, -box, box)

    report = checks.evaluate_adamw_rest_point(adamw_rest_point)
    assert not report  # the η = 0.5 case tells it from the minimum of f
    text = str(
        checks.evaluate_function(adamw_rest_point, checks.lesson04b.adamw_rest_point_cases()[3:])
    )
    assert "not 1/(ηω)" in text, text


def test_adamw_comes_to_rest_where_the_check_says_whatever_eta():
    # The check's expected points, confirmed by long AdamW runs (course_lib's adamw agrees
    # with torch.optim.AdamW): the mean of the last 500 of 4000 steps, at the case's η and at
    # η = 0.01 (Adam's jitter around the rest point shrinks with η).
    for case in checks.lesson04b.adamw_rest_point_cases():
        a, b, lr, omega = case.args
        problem = Quadratic(np.diag(a), b, x0=np.zeros(len(a)))
        for eta, tol in [(lr, 2e-2), (0.01, 1e-3)]:
            r = run(optimizers.adamw, problem, steps=4000, lr=eta, weight_decay=omega, beta2=0.99)
            assert np.abs(r.xs[-500:].mean(axis=0) - case.expected).max() < tol, (case.name, eta)


# --- Exercise 4b.3: how a noise floor grows when σ doubles ------------------------------------

GROWTH_RIGHT = [{"momentum": 4.0, "Adam": 2.0}, {"momentum": 4, "Adam": 2.2}]
GROWTH_WRONG = {
    "both like σ²": ({"momentum": 4.0, "Adam": 4.0}, "grows like σ"),
    "both like σ": ({"momentum": 2.0, "Adam": 2.0}, "like σ²"),
    "Adam like √σ": ({"momentum": 4.0, "Adam": 1.41}, "Adam divides by √ŝ"),
    "swapped": ({"momentum": 2.0, "Adam": 4.0}, "momentum's step is proportional"),
    "keys missing": ({"SGD": 4.0, "Adam": 2.0}, 'keys "momentum" and "Adam"'),
    "not a dict": (4.0, "expected a dict"),
    "not a number": ({"momentum": "four", "Adam": 2.0}, "you predicted 'four'"),
}


test_floor_growth_right_passes, test_floor_growth_mistake_fails_with_its_hint = answer_tests(
    checks.evaluate_noise_floor_growth, "floor_growth", GROWTH_RIGHT, GROWTH_WRONG
)


def test_measured_floor_growth_is_sigma_squared_for_momentum_and_sigma_for_adam():
    # The check's measurement, and what separates the two answers: momentum's floor is a
    # quadratic form of noise that enters linearly (exactly ×4); Adam's is far from ×4.
    growth = checks.lesson04b.floor_growth()
    assert growth["momentum"] == pytest.approx(4.0, rel=0.02)
    assert 1.7 < growth["Adam"] < 2.6


# --- Exercise 4b.4: which knob? -----------------------------------------------------------------

KNOBS_RIGHT = {"A": "eps", "B": "beta1", "C": "beta2"}
KNOBS_WRONG = {
    "ε and β₂ swapped": ({"A": "beta2", "B": "beta1", "C": "eps"}, "a large ε swamps √ŝ"),
    "η for A": ({"A": "lr", "B": "beta1", "C": "beta2"}, "η is the same"),
    "β₁ for C": ({"A": "eps", "B": "beta2", "C": "beta1"}, "β₁ is momentum's memory"),
    "unknown knob": ({"A": "epsilon", "B": "beta1", "C": "beta2"}, "not one of Adam's knobs"),
    "keys missing": ({"A": "eps", "B": "beta1"}, 'keys "A", "B" and "C"'),
}


test_knob_diagnosis_right_passes, test_knob_diagnosis_mistake_fails_with_its_hint = answer_tests(
    checks.evaluate_knob_diagnosis, "knobs", [KNOBS_RIGHT], KNOBS_WRONG
)


def test_mystery_runs_show_what_the_hints_describe():
    # A (ε = 1): smooth and slow; B (β₁ = 0.99): far from the minimum, still swinging; C (β₂ =
    # 0.9): fast, then bouncing at a floor well above the default's (7.7e-9 at 200 steps).
    runs = checks.mystery_runs()
    a, b, c = (runs[k].gap for k in "ABC")
    assert np.all(np.diff(a) <= 1e-12) and 1e-3 < a[-1] < 0.1  # monotone, slow
    assert b[-1] > 0.1 and np.sum(np.diff(b) > 0) > 20  # goes up and down, still far
    assert c[-40:].max() < 1e-3 and c[-40:].min() < 1e-5 and c[-40:].max() > 1e-6  # a floor
    default = run(optimizers.adam, course_quadratic, steps=200, lr=0.1)
    assert default.gap[-1] < 1e-7 < c[-40:].mean()


# --- Section 1: AdamW against Adam + L2 ---------------------------------------------------------

CURV, CENTRE, OMEGA = np.array([10.0, 0.1]), np.array([3.0, 0.5]), 0.5
TWO_SCALES = Quadratic(np.diag(CURV), CURV * CENTRE, c=0.5 * CURV @ CENTRE**2, x0=(0.0, 0.0))


def test_adam_with_l2_settles_at_the_l2_minimum():
    with_l2 = Quadratic(np.diag(CURV + OMEGA), CURV * CENTRE, x0=(0.0, 0.0))
    l2 = run(optimizers.adam, TWO_SCALES, steps=600, lr=0.05, weight_decay=OMEGA)
    same = run(optimizers.adam, with_l2, steps=600, lr=0.05)
    assert np.allclose(l2.xs, same.xs, rtol=1e-12, atol=1e-12)  # Adam + L2 = Adam on f + L2
    target = CURV * CENTRE / (CURV + OMEGA)  # (2.857, 0.083): the flat coordinate shrunk 6-fold
    assert np.abs(l2.x - target).max() < 1e-6


def test_adamw_settles_near_the_box_point_and_adam_l2_elsewhere():
    # The rest point is the minimum of f in the box |xᵢ| ≤ 1/ω: (2, 0.5). With β₂ = 0.99 the
    # steep coordinate is there to 1e-4 by 5000 steps; the flat one, where g = 0, jitters
    # around 0.5 (by up to about 7e-3 at η = 0.05, and less at smaller η: not a digit to print).
    box_point = np.clip(CENTRE, -1 / OMEGA, 1 / OMEGA)
    r = run(optimizers.adamw, TWO_SCALES, steps=5000, lr=0.05, weight_decay=OMEGA, beta2=0.99)
    tail = r.xs[-2000:]
    assert np.abs(tail[:, 0] - box_point[0]).max() < 1e-3
    assert np.abs(tail[:, 1] - box_point[1]).max() < 2e-2
    assert np.abs(tail.mean(axis=0) - box_point).max() < 5e-3
    l2_point = CURV * CENTRE / (CURV + OMEGA)
    assert np.abs(box_point - l2_point).max() > 0.4  # far apart, whatever the jitter
    # Smaller η, smaller jitter: the same point.
    slow = run(optimizers.adamw, TWO_SCALES, steps=5000, lr=0.01, weight_decay=OMEGA, beta2=0.99)
    assert np.abs(slow.xs[-1000:] - box_point).max() < 3e-3


def test_adamw_with_default_beta2_is_still_on_its_way_after_3000_steps():
    r = run(optimizers.adamw, TWO_SCALES, steps=3000, lr=0.05, weight_decay=OMEGA)
    assert 1.8 < r.x[0] < 1.97 and np.all(np.diff(r.xs[1000:, 0]) > 0)  # still climbing to 2


# --- Section 2: the noise floor -----------------------------------------------------------------

SIGMAS = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0])


@functools.cache
def floors(name):
    step, hp = {
        "momentum": (optimizers.momentum, dict(lr=0.02, gamma=0.9)),
        "Adam": (optimizers.adam, dict(lr=0.1)),
        "AdaBelief": (optimizers.adabelief, dict(lr=0.1)),
    }[name]
    return noise_floors(step, course_quadratic, SIGMAS, range(10), steps=1000, last=300, **hp)


def test_momentum_floor_grows_like_sigma_squared_and_matches_the_formula():
    mean = floors("momentum").mean(axis=1)
    assert np.allclose(mean[1:] / mean[:-1], 4.0, rtol=0.02)
    formula = 0.02 * SIGMAS**2 * 2 / (4 * (1 - 0.9))  # ησ²d / (4(1 − γ))
    assert np.all(np.abs(mean / formula - 1) < 0.3)


def test_adam_and_adabelief_floors_grow_like_sigma():
    for name in ("Adam", "AdaBelief"):
        mean = floors(name).mean(axis=1)
        per_doubling = mean[1:] / mean[:-1]
        assert np.all((per_doubling > 1.6) & (per_doubling < 3.0)), (name, per_doubling)
        assert 1.7 < (mean[-1] / mean[0]) ** (1 / 5) < 2.4, name  # σ, not σ² (4)
    adam, belief = floors("Adam").mean(axis=1), floors("AdaBelief").mean(axis=1)
    assert np.all(np.abs(belief / adam - 1) < 0.35)  # "AdaBelief behaves like Adam here"


def test_floors_are_the_runs_one_would_make_one_by_one():
    # noise_floors steps (σ, seed) pairs together; seed 1 at σ = 2 alone gives the same floor.
    rng = np.random.default_rng(1)
    x, state, total = course_quadratic.x0.copy(), {}, 0.0
    for k in range(1000):
        x = optimizers.adam(
            x, lambda y: course_quadratic.grad(y) + 2.0 * rng.standard_normal(2), state, lr=0.1
        )
        if k >= 700:
            total += course_quadratic.f(x)
    assert floors("Adam")[3, 1] == pytest.approx(total / 300, rel=1e-10)


# --- Section 3: the four knobs ------------------------------------------------------------------


def test_the_four_knobs_do_what_the_lesson_says():
    base = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)

    def final(**change):
        return run(optimizers.adam, course_quadratic, steps=200, **{**base, **change}).gap

    default = final()[-1]
    assert default < 1e-7
    assert final(lr=0.01)[-1] > 1.0  # a small η: not even across the distance
    assert final(beta1=0.99)[-1] > 0.1 and final(beta1=0.0)[-1] < 1e-6
    assert final(beta2=0.9)[-50:].mean() > 100 * default  # bounces at a floor
    assert final(eps=1.0)[-1] > 1e-3 and final(eps=1e-2)[-1] < 1e-7  # ε matters when ≳ √ŝ


# --- Section 4: the tuned race ------------------------------------------------------------------

FAMILY = {
    "Adam": optimizers.adam,
    "AMSGrad": optimizers.amsgrad,
    "AdaMax": optimizers.adamax,
    "Nadam": optimizers.nadam,
    "AdaBelief": optimizers.adabelief,
    "AdamW": functools.partial(optimizers.adamw, weight_decay=1e-2),
    "momentum": functools.partial(optimizers.momentum, gamma=0.9),
}
LRS = [3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]


def score(gap, tol=1e-10):
    gap = gap[1:]
    done = (gap < tol) | ~np.isfinite(gap)
    if not done.any():
        return len(gap) + np.log10(gap[-1] / tol)
    first = np.argmax(done)
    return first + 1 if gap[first] < tol else np.inf


@functools.cache
def race(problem_name):
    problem, steps = {
        "quadratic": (course_quadratic, 100),
        "Rosenbrock": (rosenbrock, 500),
        "Beale": (beale, 300),
    }[problem_name]
    out = {}
    for name, step in FAMILY.items():
        scores = [score(r.gap) for r in run_stack(step, problem, steps=steps, lr=LRS)]
        best = int(np.argmin(scores))
        out[name] = (scores[best], LRS[best], scores)
    return out


def test_nadam_wins_the_quadratic_and_adamw_only_at_the_grid_edge():
    r = race("quadratic")
    assert r["Nadam"][0] < 60 and all(
        r["Nadam"][0] < s for n, (s, _, _) in r.items() if n != "Nadam"
    )
    assert r["AdamW"][1] == LRS[-1]  # its best η is the grid's largest
    others = [s for n, (s, _, _) in r.items() if n not in ("Nadam", "AdamW")]
    assert all(100 < s < 100 + 7 for s in others)  # not there; within a few decades


def test_rosenbrock_nobody_gets_there_adabelief_and_adam_closest_adamax_far_behind():
    r = race("Rosenbrock")
    assert all(s > 500 for s, _, _ in r.values())
    ranked = sorted(r, key=lambda n: r[n][0])
    assert set(ranked[:2]) == {"AdaBelief", "Adam"}
    assert ranked[-1] == "AdaMax" and r["AdaMax"][0] - r["Adam"][0] > 2  # over two decades


def test_beale_nadam_adam_amsgrad_before_momentum_adamw_not_there():
    r = race("Beale")
    for name in ("Nadam", "Adam", "AMSGrad"):
        assert r[name][0] < r["momentum"][0] - 5, name
    assert r["Nadam"][0] == min(s for s, _, _ in r.values())
    assert r["AdamW"][0] > 300 and r["AdaMax"][0] > 300


def test_noisy_race_three_seeds_do_not_separate_the_methods():
    # Every pair's best mean floors differ by less than two of the larger standard deviation.
    lrs = [3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3]
    for problem, steps in [(course_quadratic, 100), (beale, 300)]:
        best = []
        for name in ("Adam", "AdaBelief", "momentum"):
            f = noise_floors(FAMILY[name], problem, 1.0, (0, 1, 2), steps=steps, lr=lrs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = tune(lambda lr, seed, f=f: f[lrs.index(lr)][seed], lrs, label=name)
            assert not t.at_edge, (problem.name, name)
            best.append((t.best_mean, t.best_sd))
        for i, (m1, s1) in enumerate(best):
            for m2, s2 in best[i + 1 :]:
                assert abs(m1 - m2) < 2 * max(s1, s2), (problem.name, best)


def test_solution_answers_pass_their_checks():
    namespace = solution_functions("04b-adam-in-practice.ipynb")
    assert checks.evaluate_adamw_rest_point(namespace["adamw_rest_point"])
    assert checks.evaluate_noise_floor_growth(namespace["floor_growth"])
    assert checks.evaluate_knob_diagnosis(namespace["knobs"])
