"""The checks accept right answers and reject wrong ones, with a useful report.

Lesson-specific wrong versions (bias corrections, ε placement, look-ahead point…)
are in the tests of each lesson; here every rule meets generic mistakes.
"""

import inspect

import numpy as np
import pytest

from course_lib import ExerciseNotDone, checks, optimizers

RULES = sorted(optimizers.STEPS)


def wrapped(step, change):
    """A mutant with the same name and signature as step, changed by change(...)."""

    def mutant(x, grad, state, **hp):
        return change(step, x, grad, state, hp)

    mutant.__name__ = step.__name__
    mutant.__signature__ = inspect.signature(step)
    return mutant


MUTANTS = {
    "sign error": lambda s, x, g, st, hp: 2 * x - s(x, g, st, **hp),
    "state not carried": lambda s, x, g, st, hp: s(x, g, {}, **hp),
    "hyperparameters ignored": lambda s, x, g, st, hp: s(x, g, st),
    "update twice as large": lambda s, x, g, st, hp: x + 2 * (s(x, g, st, **hp) - x),
    "returns a list": lambda s, x, g, st, hp: list(s(x, g, st, **hp)),
    "returns None": lambda s, x, g, st, hp: None,
}


@pytest.mark.parametrize("rule", RULES)
def test_right_versions_pass(rule):
    report = checks.evaluate_step(optimizers.STEPS[rule])
    assert report and report.lines[0].startswith(f"✔ {rule}")


@pytest.mark.parametrize(
    ("rule", "mistake"),
    # (plain GD keeps no state: forgetting it is no mistake there)
    [(r, m) for r in RULES for m in sorted(MUTANTS) if (r, m) != ("gd", "state not carried")],
)
def test_generic_mistakes_fail(rule, mistake):
    report = checks.evaluate_step(wrapped(optimizers.STEPS[rule], MUTANTS[mistake]), rule)
    assert not report, f"{mistake} passed the {rule} check"
    assert report.lines[0].startswith(f"✘ {rule}")


def test_report_names_case_step_expected_got_and_hint():
    def momentum(x, grad, state, lr=0.01, gamma=0.9):
        v = state.get("v", np.zeros_like(x))
        v = gamma * v + lr * grad(x)
        return x - v  # forgets to store v

    text = str(checks.evaluate_step(momentum))
    assert "case 1/3 (course quadratic, η = 0.1, γ = 0.9)" in text
    assert "step 2 is the first that disagrees (the steps before it agree)" in text
    assert "expected x_2 = [" in text and "got      x_2 = [" in text
    assert "state" in text and "hint:" in text


def test_sign_error_and_constant_factor_are_diagnosed():
    def gd(x, grad, state, lr=0.1):
        return x + lr * grad(x)

    assert "wrong sign" in str(checks.evaluate_step(gd))

    def gd(x, grad, state, lr=0.1):
        return x - 2 * lr * grad(x)

    assert "2 × the expected one" in str(checks.evaluate_step(gd))


def test_unfinished_exercise_raises_exercise_not_done():
    def adam(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        # YOUR CODE HERE
        raise NotImplementedError("Exercise 4.1: Adam")

    with pytest.raises(ExerciseNotDone, match=r"Exercise 4\.1: Adam"):
        checks.evaluate_step(adam)
    with pytest.raises(ExerciseNotDone):
        checks.evaluate_function(
            lambda: (_ for _ in ()).throw(NotImplementedError("E 1.2")),
            [checks.Case("c", (), 1.0)],
            name="f",
        )


def test_a_bug_in_the_students_code_is_reported_with_its_line():
    def gd(x, grad, state, lr=0.1):
        return x - lr * grad(x) / undefined_name  # noqa: F821

    text = str(checks.evaluate_step(gd))
    assert text.startswith("✘ gd: case 1/3") and "NameError" in text
    assert "`return x - lr * grad(x) / undefined_name" in text


def test_nan_is_reported_with_a_hint():
    def rmsprop(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
        return x - lr * grad(x) / np.sqrt(-1.0 - eps)

    text = str(checks.evaluate_step(rmsprop))
    assert text.startswith("✘ rmsprop") and "NaN" in text


def test_check_function_and_check_value():
    cases = [checks.Case("x = 3", (3.0,), 9.0, hint="square it"), checks.Case("x = 2", (2.0,), 4.0)]
    assert checks.evaluate_function(lambda x: x * x, cases, name="sq")
    bad = checks.evaluate_function(lambda x: 2 * x, cases, name="sq")
    assert not bad and "hint: square it" in str(bad) and "expected 9." in str(bad)
    assert not checks.evaluate_function(lambda x: None, cases, name="sq")
    assert checks.evaluate_value("eta", 0.2, 0.2)
    assert not checks.evaluate_value("eta", 0.21, 0.2)
    assert not checks.evaluate_value("eta", np.ones(3), np.ones(2))


def test_check_step_prints_the_report(capsys):
    checks.check_step(optimizers.adam)
    assert capsys.readouterr().out.startswith("✔ adam: 3 cases")
