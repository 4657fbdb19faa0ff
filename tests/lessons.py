"""What the lessons' tests share: the exercise functions of a solution notebook, and one
table-driven set of tests for exercise checks (right versions pass, each mistake fails with
its hint, an unfinished stub says so).

Imported as ``lessons`` (pytest puts this folder on sys.path for the test modules in it)."""

import functools
import pathlib
import sys
from dataclasses import dataclass, field

import nbformat
import numpy as np
import pytest

from course_lib.contract import ExerciseNotDone, name_of

SOLUTIONS = pathlib.Path(__file__).resolve().parents[1] / "solutions"


def solution_functions(notebook):
    """What the exercise cells (those with ### BEGIN SOLUTION) of solutions/<notebook> define."""
    namespace = {"np": np}
    for cell in nbformat.read(SOLUTIONS / notebook, as_version=4).cells:
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            exec(cell.source, namespace)
    return namespace


# Every table given to exercise_tests, as (test module, table): tools/instructors.py lists
# each check's wrong versions and hints from them in INSTRUCTORS.md.
REGISTERED = []


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 9.9: unfinished")


class Call:
    """An answer the student gives as several arguments of one check call (``check(design,
    designed)``): ``make()`` returns them, called when a test first needs them (a measured race
    is run once, by the test that judges it, not when the module is imported)."""

    def __init__(self, make):
        self.make = make

    @functools.cached_property
    def arguments(self):
        return tuple(self.make())


@dataclass
class Exercise:
    """An exercise's check and the answers it must judge.

    evaluate: a ``checks.evaluate_*``, called as evaluate(fn, *args) (args: e.g. the rule; or a
    function of no arguments that returns them, called once, when a test first needs them: a
    measurement too slow to make at import). right: versions that must pass. wrong: mistake →
    (a version with it, the words its report's hint must contain: the hint that names that
    mistake). A ``Call`` answer gives several arguments: evaluate(*answer.arguments, *args).
    """

    evaluate: object
    right: list
    wrong: dict = field(default_factory=dict)
    args: tuple = ()

    def arguments(self):
        if callable(self.args):
            self.args = tuple(self.args())  # measured once per test process
        return self.args

    def report(self, fn):
        given = fn.arguments if isinstance(fn, Call) else (fn,)
        with np.errstate(all="ignore"):
            return self.evaluate(*given, *self.arguments())


def exercise_tests(exercises):
    """Three tests over a table {exercise: Exercise}, for a test module to bind to test_* names
    (``test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)``):
    the right versions pass; each mistake fails, naming the function and its case, with the
    hint that names it; an unfinished exercise raises ExerciseNotDone."""
    REGISTERED.append((sys._getframe(1).f_globals.get("__name__", ""), exercises))
    right = [(label, fn) for label, ex in exercises.items() for fn in ex.right]
    wrong = [(label, mistake) for label, ex in exercises.items() for mistake in ex.wrong]

    @pytest.mark.parametrize("label, fn", right, ids=[f"{a}-{name_of(f)}" for a, f in right])
    def test_right_passes(label, fn):
        report = exercises[label].report(fn)
        assert report and str(report).startswith(f"✔ {name_of(fn)}: "), str(report)

    @pytest.mark.parametrize("label, mistake", wrong, ids=[f"{a}-{m}" for a, m in wrong])
    def test_mistake_fails(label, mistake):
        entry = exercises[label].wrong[mistake]
        assert isinstance(entry, tuple) and len(entry) == 2 and entry[1], (
            f"{label}: {mistake!r} names no hint: give (version, words of its hint)"
        )
        fn, hint = entry
        report = exercises[label].report(fn)
        text = str(report)
        assert not report, f"{label}: {mistake!r} passed the check\n{text}"
        assert text.startswith(f"✘ {name_of(fn)}: case "), text
        # the hint, not the expected and got values, must name the mistake
        said = [line for line in report.lines if not line.startswith(("  expected", "  got"))]
        assert hint in "\n".join(said), text

    @pytest.mark.parametrize("label", list(exercises))
    def test_unfinished(label):
        with pytest.raises(ExerciseNotDone, match=r"Exercise 9\.9: unfinished — not finished yet"):
            exercises[label].report(stub)

    return test_right_passes, test_mistake_fails, test_unfinished


def answer_tests(evaluate, name, right, wrong, args=(), right_says=""):
    """The tests of a check that judges an answer (a prediction, a diagnosis, a design), not a
    function (``test_right_passes, test_mistake_fails = answer_tests(...)``): each right answer
    passes (``✔ name: right_says…``); each wrong one, mistake → (answer, words of its hint) or
    (answer, words of its hint, what its first line says), fails (``✘ name: …``, or
    ``✘ name: what its first line says…``: e.g. ``case 2/4 (η = 0.3)``, the case it names)
    with that hint. Registered, so INSTRUCTORS.md lists the mistakes."""
    exercise = Exercise(evaluate, list(right), wrong, args)
    REGISTERED.append((sys._getframe(1).f_globals.get("__name__", ""), {name: exercise}))

    @pytest.mark.parametrize("answer", exercise.right)
    def test_right_passes(answer):
        report = exercise.report(answer)
        assert report and str(report).startswith(f"✔ {name}: {right_says}"), str(report)

    @pytest.mark.parametrize("mistake", list(wrong))
    def test_mistake_fails(mistake):
        answer, hint, *says = wrong[mistake]
        assert hint and len(says) <= 1, f"{mistake!r}: give (answer, hint[, first line says])"
        report = exercise.report(answer)
        assert not report and str(report).startswith(f"✘ {name}: {''.join(says)}"), str(report)
        assert hint in str(report), str(report)

    return test_right_passes, test_mistake_fails
