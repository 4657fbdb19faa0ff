"""The checks accept right answers and reject wrong ones, with a useful report.

Lesson-specific wrong versions (bias corrections, ε placement, look-ahead point…)
are in the tests of each lesson; here every rule meets generic mistakes.
"""

import ast
import contextlib
import inspect
import pathlib

import numpy as np
import pytest

from course_lib import ExerciseNotDone, checks, optimizers
from course_lib.contract import InputError

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
    # np.array([x[0] - lr*g[0], x[1] - lr*g[1]]): right whenever x has 2 rows
    "only the first two rows": lambda s, x, g, st, hp: s(x, g, st, **hp)[:2],
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
    assert "case 1/4 (course quadratic, η = 0.1, γ = 0.9)" in text
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
    assert text.startswith("✘ gd: case 1/4") and "NameError" in text
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
    assert capsys.readouterr().out.startswith("✔ adam: 4 cases")


# --- the engine: cases with parts, the diagnose hook, copies, printing twins ---------------


def test_a_case_with_parts_names_the_first_wrong_part_with_its_own_tolerance_and_hint():
    seen = []

    def doubled(got, expected):  # called on the wrong part only, with floats
        seen.append(got.dtype)
        return "b is doubled" if np.allclose(got, 2 * expected) else ""

    case = checks.Case(
        "c",
        (),
        (1.0, np.ones(2)),
        parts=("a", "b"),
        rtol=(0.0, 1e-3),
        atol=0.0,
        diagnose=(None, doubled),
        hint="see the lesson",
    )
    assert checks.evaluate_function(lambda: (1.0, np.ones(2) + 1e-4), [case], name="f")
    text = str(checks.evaluate_function(lambda: (1.0, [2, 2]), [case], name="f"))
    assert text.startswith("✘ f: case 1/1 (c): b is wrong (a is right)\n  expected [1., 1.]")
    assert text.endswith("  hint: b is doubled\n  hint: see the lesson")
    assert seen == [np.float64]
    text = str(checks.evaluate_function(lambda: (1 + 1e-4, np.ones(2)), [case], name="f"))
    assert text.startswith("✘ f: case 1/1 (c): a is wrong\n") and "b is doubled" not in text


def test_a_result_with_parts_must_be_a_tuple_of_them():
    case = checks.Case("c", (), (1.0, np.ones(2)), parts=("loss", "dlogits"))
    for got, kind in [(1.0, "float"), ([1.0, np.ones(2)], "list"), ((1.0, 2.0, 3.0), "tuple")]:
        assert str(checks.evaluate_function(lambda: got, [case], name="f")).startswith(
            f"✘ f: case 1/1 (c) returned {kind}; expected a pair (loss, dlogits).\n"
            "  hint: return them as a tuple: `return loss, dlogits`"
        )


def test_without_parts_a_list_is_as_good_as_a_tuple():
    assert checks.evaluate_value("v", [np.ones(2), np.zeros(3)], (np.ones(2), np.zeros(3)))
    assert checks.evaluate_value("v", [0.5, 2.0], (0.5, 2.0))


def test_a_function_that_changes_its_arguments_fails_and_cannot_change_the_cases():
    def total(x, parts):
        s = x.sum() + sum(p.sum() for p in parts)
        x[:] = 0  # in place: reported, and the next run must still see ones
        return s

    def total_list(x, parts):
        parts[0] = np.zeros(2)  # the caller's list changed: reported too
        return 5.0

    def total_right(x, parts):
        return x.sum() + sum(p.sum() for p in parts)

    cases = [checks.Case("ones", (np.ones(3), [np.ones(2)]), 5.0)]
    for _ in range(2):
        text = str(checks.evaluate_function(total, cases))
        assert (
            text.startswith(
                "✘ total: case 1/1 (ones): the result is right, but total() changed its argument "
                "`x` in place"
            )
            and "leave the arguments as they were" in text
        )
    text = str(checks.evaluate_function(total_list, cases))
    assert "changed its argument `parts` in place" in text
    assert checks.evaluate_function(total_right, cases)
    assert cases[0].args[0].tolist() == [1, 1, 1] and cases[0].args[1][0].tolist() == [1, 1]


@pytest.mark.parametrize("rule", RULES)
def test_a_step_that_changes_x_in_place_fails_with_its_hint(rule):
    def in_place(x, grad, state, **hp):
        x[...] = optimizers.STEPS[rule](x.copy(), grad, state, **hp)
        return x

    report = checks.evaluate_step(
        wrapped(optimizers.STEPS[rule], lambda s, x, g, st, hp: in_place(x, g, st, **hp)), rule
    )
    text = str(report)
    assert not report and "returned the right x_1 but changed the x it was given" in text
    assert "hint: return a new array and leave x as it is" in text


@pytest.mark.parametrize("rule", [r for r in RULES if r != "gd"])
def test_a_step_that_keeps_its_state_in_a_global_fails_with_its_hint(rule):
    shared = {}  # one state for every run: the second run starts where the first ended
    report = checks.evaluate_step(
        wrapped(optimizers.STEPS[rule], lambda s, x, g, st, hp: s(x, g, shared, **hp)), rule
    )
    assert not report and "keeps something between calls outside `state`" in str(report)


def test_a_loop_that_never_stops_is_stopped_by_its_budget_with_one_line():
    def forever(f):
        while True:
            with contextlib.suppress(Exception):  # a catch-all must not swallow the budget
                f(1.0)

    f = checks.Budget(lambda x: x, "f", limit=50, advice="look at the loop's test")
    case = checks.Case("c", (f,), 1.0, hint="the case's hint")
    for _ in range(2):  # each run starts with a fresh count
        report = checks.evaluate_function(forever, [case])
        assert report.lines == [
            "✘ forever: case 1/1 (c) did not stop: it called f() 50 times, far more than the "
            "answer needs, and the check stopped it.",
            "  hint: look at the loop's test",
        ]
    assert f.calls == 0  # the case's own budget is never spent


def test_the_unfinished_function_is_named_even_when_another_calls_it():
    from course_lib.contract import ExerciseNotDone, call_step

    def clip_grad_norm(grads, max_norm):
        raise NotImplementedError("Exercise 7.2: clipping by global norm")

    def sgd_clipped(x, grad, state, lr=0.1):
        return x - lr * clip_grad_norm([grad(x)], 1.0)[0][0]

    with pytest.raises(ExerciseNotDone) as caught:
        call_step(sgd_clipped, np.ones(2), lambda x: x, {}, 1, {})
    assert str(caught.value) == (
        "Exercise 7.2: clipping by global norm — not finished yet: complete clip_grad_norm() "
        "above (sgd_clipped() calls it), run its cell, then run this cell again."
    )


def test_a_bug_in_a_checked_function_is_reported_with_its_line():
    def sq(x):
        return x * undefined_name  # noqa: F821

    text = str(checks.evaluate_function(sq, [checks.Case("x = 3", (3.0,), 9.0)]))
    assert text.startswith(
        "✘ sq: case 1/1 (x = 3) raised NameError in sq(), `return x * undefined_name"
    )


@pytest.mark.parametrize("name", [n for n in checks.__all__ if n.startswith("check_")])
def test_each_check_is_the_printing_twin_of_an_evaluate(name):
    check, evaluate = getattr(checks, name), getattr(checks, "evaluate_" + name[len("check_") :])
    assert check.__name__ == name and check.__wrapped__ is evaluate
    assert inspect.signature(check) == inspect.signature(evaluate)
    assert inspect.cleandoc(evaluate.__doc__) in check.__doc__


def test_a_printing_check_prints_the_report_and_returns_it_for_a_grader(capsys):
    failed = checks.check_value("eta", 0.21, 0.2, hint="η = 0.2")
    assert capsys.readouterr().out == str(checks.evaluate_value("eta", 0.21, 0.2, "η = 0.2")) + "\n"
    assert not failed and failed.lines[0].startswith("✘ eta")
    passed = checks.check_step(optimizers.gd)
    assert passed and str(passed).startswith("✔ gd: 4 cases")
    assert repr(passed) == "<✔ gd: the report printed above>"  # short where a REPL shows it
    with pytest.raises(AssertionError):
        assert checks.check_value("eta", 0.21, 0.2)


def test_a_check_ending_a_cell_shows_its_report_once_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from course_lib import checks, optimizers")
        with capture_output() as shown:
            result = shell.run_cell("checks.check_step(optimizers.gd)")
        assert result.result  # the cell's value is the (truthy) report
        assert shown.stdout.count("✔ gd: 4 cases") == 1 and not shown.outputs
        with capture_output() as shown:
            shell.run_cell("r = checks.check_step(optimizers.gd); assert r; bool(r)")
        assert shown.stdout.count("✔ gd") == 1
    finally:
        InteractiveShell.clear_instance()


def test_checks_import_at_the_top_and_no_private_names():
    for path in pathlib.Path(checks.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                where = f"{path.name}:{node.lineno}"
                assert node in tree.body, f"{where}: an import inside a function"
                assert not any(a.name.startswith("_") for a in node.names), where


def test_a_step_named_like_no_rule_is_told_how_to_name_it():
    def my_step(x, grad, state, lr=0.1):
        return x - lr * grad(x)

    with pytest.raises(InputError, match=r"no reference trajectories for a rule named 'my_step'"):
        checks.evaluate_step(my_step)
    assert checks.evaluate_step(my_step, "gd")


def test_no_constant_factor_diagnosis_for_a_zero_or_infinite_factor():
    def gd(x, grad, state, lr=0.1):
        return x.copy()  # forgets the update

    text = str(checks.evaluate_step(gd))
    assert "does not move x" in text and "0 ×" not in text

    def gd_inf(x, grad, state, lr=0.1):
        return x - np.inf * grad(x)

    text = str(checks.evaluate_step(gd_inf, "gd"))
    assert "inf ×" not in text and "✘ gd" in text


def _slip(rule, step):
    """A student's step, named like the rule, that makes one slip."""
    step.__name__ = rule
    return step


def _adam_eps_inside(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"] = state.get("t", 0) + 1
    g = grad(x)
    m = state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    s = state["s"] = beta2 * state.get("s", 0) + (1 - beta2) * g * g
    return x - lr * (m / (1 - beta1**t)) / np.sqrt(s / (1 - beta2**t) + eps)


@pytest.mark.parametrize(
    ("rule", "step", "words"),
    [
        ("adam", _adam_eps_inside, "ε goes outside the root"),
        (
            "adam",
            lambda x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8: optimizers.adam(
                x, grad, state, lr, beta2, beta1, eps
            ),
            "β1 and β2 are swapped",
        ),
        (
            "adamw",
            lambda x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2: (
                optimizers.adamw(
                    x * (1 - lr * weight_decay), grad, state, lr, beta1, beta2, eps, 0.0
                )
            ),
            "the gradient is taken at the decayed x",
        ),
        (
            "adamw",
            lambda x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2: (
                optimizers.adam(x, grad, state, lr, beta1, beta2, eps, weight_decay)
            ),
            "that is Adam with an L2 term",
        ),
        (
            "nesterov",
            lambda x, grad, state, lr=0.01, gamma=0.9: optimizers.momentum(
                x, grad, state, lr, gamma
            ),
            "the look-ahead point",
        ),
    ],
)
def test_the_usual_slips_are_named_with_one_hint_only(rule, step, words):
    report = checks.evaluate_step(_slip(rule, step))
    hints = [line for line in report.lines if line.startswith("  hint:")]
    assert not report and len(hints) == 1 and words in hints[0], str(report)


def _lesson03_root(rule, before_correction):
    """A student's Adam-like step with ε inside the root, as lesson 03's RMSprop had it."""

    def step(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        t = state["t"] = state.get("t", 0) + 1
        g = grad(x)
        m = state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
        s = state["s"] = beta2 * state.get("s", 0) + (1 - beta2) * g * g
        if rule == "amsgrad":
            s = state["s_max"] = np.maximum(state.get("s_max", 0), s)
        if before_correction:
            denominator = np.sqrt(s + eps) / np.sqrt(1 - beta2**t)
        else:
            denominator = np.sqrt(s / (1 - beta2**t) + eps)
        if rule == "nadam":
            mixed = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1**t)
        else:
            mixed = m / (1 - beta1**t)
        shrink = 1 - lr * weight_decay if rule == "adamw" else 1.0
        return x * shrink - lr * mixed / denominator

    return step


@pytest.mark.parametrize("before_correction", [False, True], ids=["ŝ + ε", "s + ε"])
@pytest.mark.parametrize("rule", ["adam", "amsgrad", "nadam", "adamw"])
def test_eps_inside_the_root_is_named_before_any_other_slip(rule, before_correction):
    # Lesson 03's convention in an Adam-like step: one hint, about ε (not "β's swapped?").
    report = checks.evaluate_step(_slip(rule, _lesson03_root(rule, before_correction)))
    hints = [line for line in report.lines if line.startswith("  hint:")]
    assert not report and len(hints) == 1, str(report)
    assert "ε goes outside the root" in hints[0] and "β1" not in hints[0], str(report)


def test_an_error_raised_inside_numpy_is_reported_at_the_students_line():
    def newton(x, grad, state, lr=1.0, hess=None):
        return x - lr * np.linalg.solve(hess(x), grad(x)[:1])  # wrong shapes for solve

    report = str(checks.evaluate_newton(newton))
    assert "in newton(), `return x - lr * np.linalg.solve(hess(x), grad(x)[:1])" in report
    assert "in solve()" not in report  # not numpy's frame
