"""tools/release.py: otter-grader assignments from the solutions. The structure tests read
every lesson; the end-to-end test grades three submissions of lesson 03 with ``otter run``
(the solution scores full marks, one of the checks' wrong versions loses exactly its
exercise's mark, an unfinished notebook scores zero without crashing the grader)."""

import inspect
import json
import re
import subprocess
import sys

import nbformat
import pytest

import build
import release
from course_lib import checks, optimizers

LESSON = "03-adaptive-learning-rates.ipynb"


def test_a_check_returns_a_report_a_grader_can_assert():
    """`assert check_x(fn)` grades: truthy for a right answer, falsy for a wrong one."""
    assert checks.check_step(optimizers.adagrad, "adagrad")
    wrong = lambda x, grad, state, lr=0.01, eps=1e-10: x + lr * grad(x)
    assert not checks.check_step(wrong, "adagrad")


@pytest.mark.parametrize("lesson", build.existing_lessons(), ids=lambda lesson: lesson["file"])
def test_every_exercise_with_a_check_is_graded_by_that_check(lesson):
    """Each exercise whose section calls a check after its code is graded by those calls,
    and the student notebook checks it with otter right after them."""
    c = build.course()
    sol = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, c)
    graded = release.graded_exercises(sol)
    sources = {cell.get("id"): cell.source for cell in sol.cells}
    for e in graded:
        assert e["names"], e
        assert all(call in sources[e["after"]] for call in e["checks"][-1:]), e
        assert e["question"] == "q" + e["number"].replace(".", "_")
    student = release.assignment_notebook(build.make_exercise(sol, lesson, c), c, graded)
    checks_at = [cell.source for cell in student.cells if cell.source.startswith("grader.check")]
    assert checks_at == [f'grader.check("{e["question"]}")' for e in graded]
    ignored = [cell for cell in student.cells if release.IGNORE in cell.metadata.get("tags", [])]
    live = [cell for cell in student.cells if "live" in cell.metadata.get("tags", [])]
    assert all(release.IGNORE in cell.metadata["tags"] for cell in live)
    graded_cells = {e["after"] for e in graded}
    assert not any(
        "# YOUR CODE HERE" in cell.source or cell.get("id") in graded_cells for cell in ignored
    ), "an exercise or its check is skipped while grading"


def test_lesson_03_grades_its_eight_exercises_and_hides_further_cases(tmp_path):
    lesson = build.select_lessons(build.course(), ["03"])[0]
    graded = release.build_lesson(lesson, build.course(), tmp_path, autograder=False)
    assert [e["number"] for e in graded] == [f"3.{k}" for k in range(1, 9)]
    public = (tmp_path / "tests" / "q3_1.py").read_text()
    assert "hidden=True" not in public and 'checks.evaluate_step(adagrad, "adagrad")' in public
    hidden = release.test_file(graded[0], release.step_rules(), hidden=True)
    assert "hidden=True" in hidden
    compile(hidden, "q3_1.py", "exec")


def _with_cell(nb, name, source):
    """``nb`` with the exercise cell that defines ``name`` replaced by ``source``."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = [c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source]
    assert len(cells) == 1
    cells[0].source = source
    return nb


# ``otter run -a autograder.zip submission.ipynb -o out --no-logo`` for each submission, in
# one Python: otter's command line, as an instructor types it, without importing otter
# (5 s) once per submission.
GRADE_EACH = """
import sys
from otter.cli import cli

autograder, *pairs = sys.argv[1:]
for submission, out in zip(pairs[::2], pairs[1::2]):
    cli.main(["run", "-a", autograder, submission, "-o", out, "--no-logo"], standalone_mode=False)
"""


def _grade(autograder, submissions, tmp_path):
    """{name: {question: score}} for each {name: notebook} graded by ``otter run``."""
    outs = {name: tmp_path / name for name in submissions}
    for out in outs.values():
        out.mkdir()
    pairs = [str(x) for name in submissions for x in (submissions[name], outs[name])]
    done = subprocess.run(
        [sys.executable, "-c", GRADE_EACH, str(autograder), *pairs],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    scores = {}
    for name, out in outs.items():
        tests = json.loads((out / "results.json").read_text())["tests"]
        scores[name] = {
            t["name"]: t["score"] for t in tests if "score" in t and t["name"] != "Public Tests"
        }
    return scores


@pytest.mark.notebook
def test_otter_grades_the_solution_a_wrong_version_and_an_unfinished_notebook(tmp_path):
    pytest.importorskip("otter", reason="needs the instructor extra (otter-grader)")
    import test_lesson03  # the checks' own wrong versions

    c = build.course()
    lesson = build.select_lessons(c, ["03"])[0]
    folder = tmp_path / "release"
    release.build_lesson(lesson, c, folder)
    solved = build.read(folder / "solved" / LESSON)
    wrong = inspect.getsource(test_lesson03.adagrad_s_averaged)
    wrong = re.sub(r"def adagrad_s_averaged\(", "def adagrad(", wrong)
    submissions = {
        "solution": solved,
        "wrong": _with_cell(solved, "adagrad", wrong),
        "unfinished": build.read(folder / LESSON),
    }
    for name, nb in submissions.items():
        build.write(nb, tmp_path / f"{name}.ipynb")
    scores = _grade(
        folder / "autograder.zip",
        {name: tmp_path / f"{name}.ipynb" for name in submissions},
        tmp_path,
    )
    questions = [f"q3_{k}" for k in range(1, 9)]
    assert sorted(scores["solution"]) == questions
    assert scores["solution"] == dict.fromkeys(questions, 1.0)
    assert scores["wrong"] == {**dict.fromkeys(questions, 1.0), "q3_1": 0.0}
    assert scores["unfinished"] == dict.fromkeys(questions, 0.0)


@pytest.mark.parametrize("lesson", build.existing_lessons(), ids=lambda lesson: lesson["file"])
def test_every_name_a_graded_cell_reads_is_defined_by_a_cell_kept_for_grading(lesson):
    """Skipping cells while grading never leaves a kept cell without a name it reads: each
    is bound by an earlier kept cell, is a builtin, or is the grader itself."""
    import builtins

    c = build.course()
    sol = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, c)
    graded = release.graded_exercises(sol)
    nb = release.assignment_notebook(sol, c, graded)
    bound = set(dir(builtins)) | {"grader", "get_ipython", "__file__"}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or release.IGNORE in cell.metadata.get("tags", []):
            continue
        names = release._names(cell.source)
        if names is None:  # the set-up cell (an IPython magic) binds nothing graded cells read
            continue
        missing = names[1] - bound - names[0]
        assert not missing, f"cell {i} reads {sorted(missing)}, defined only in skipped cells"
        bound |= names[0]


def test_the_hidden_cases_of_a_step_rule_pass_the_rule_and_fail_a_slip():
    """The further cases compare the rule with the course's own on a problem the public
    check never uses: the course's Adagrad passes, Adagrad with ε outside the root fails."""
    pytest.importorskip("otter", reason="needs the instructor extra (otter-grader)")
    import numpy as np

    graded = release.graded_exercises(
        build.read(build.SOLUTIONS / LESSON)  # exercise 3.1 checks adagrad
    )
    namespace = {}
    exec(release.test_file(graded[0], release.step_rules(), hidden=True), namespace)
    hidden = namespace["further_cases"]
    assert hidden.hidden
    hidden.call_func({"adagrad": optimizers.adagrad})

    def eps_outside(x, grad, state, lr=0.01, eps=1e-10):
        g = grad(x)
        state["s"] = state.get("s", 0.0) + g * g
        return x - lr * g / (np.sqrt(state["s"]) + eps)

    with pytest.raises(AssertionError, match="differs from the course's adagrad"):
        hidden.call_func({"adagrad": eps_outside})


def test_a_cell_that_changes_a_name_counts_as_defining_it():
    """A dict filled by a later cell (lesson 06b's by_batch) keeps that cell for grading."""
    bound, read = release._names("by_batch[(name, 512)] = run(step)\nruns.append(r)\nax.plot(x)")
    assert {"by_batch", "runs"} <= bound and "ax" not in bound
    assert {"name", "run", "step", "r", "x", "ax"} <= read
