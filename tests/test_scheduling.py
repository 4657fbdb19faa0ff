"""How tests/conftest.py schedules the suite on two workers: a notebook's cells are never
split, each whole-lesson run is a unit of its own, and the longest units go first."""

from types import SimpleNamespace

import conftest  # tests/conftest.py

LESSONS = conftest.LESSONS


def test_a_solution_notebooks_cells_are_one_unit():
    for lesson in LESSONS:
        cells = [f"solutions/{lesson}::Cell {i}" for i in range(40)]
        assert {conftest.scope_of(nodeid) for nodeid in cells} == {f"solutions/{lesson}"}


def test_each_whole_lesson_run_is_a_unit_of_its_own_and_other_files_stay_whole():
    runs = [
        f"{prefix}{lesson}]"
        for prefix in (conftest.COLAB_RUNS, conftest.EXERCISE_RUNS)
        for lesson in LESSONS
    ]
    assert [conftest.scope_of(nodeid) for nodeid in runs] == runs
    assert conftest.scope_of("tests/test_checks.py::test_a[1]") == "tests/test_checks.py"


def test_the_browser_tests_are_one_unit_so_jupyterlab_and_chromium_start_once():
    nodeids = [
        f"{conftest.BROWSER}::test_notebook_runs_in_a_real_browser[{lesson}]" for lesson in LESSONS
    ] + [f"{conftest.BROWSER}::test_an_explorer_answers_inside_the_slideshow"]
    assert {conftest.scope_of(nodeid) for nodeid in nodeids} == {conftest.BROWSER}


def test_units_start_longest_first():
    last = LESSONS[-1]
    queue = conftest.LongestFirst()
    for scope in [
        "tests/test_checks.py",
        f"tests/test_notebooks.py::test_exercise_notebook_runs_until_its_first_unfinished_"
        f"exercise[{last}]",
        f"solutions/{LESSONS[0]}",
        f"solutions/{last}",
        f"{conftest.COLAB_RUNS}{last}]",
        "tests/test_packaging.py::test_the_wheel_builds",
        conftest.BROWSER,
    ]:
        queue[scope] = {}
    order = [queue.popitem(last=False)[0] for _ in range(len(queue))]
    assert order == [
        conftest.BROWSER,
        f"{conftest.COLAB_RUNS}{last}]",  # later lessons first
        f"solutions/{last}",
        f"solutions/{LESSONS[0]}",
        f"tests/test_notebooks.py::test_exercise_notebook_runs_until_its_first_unfinished_"
        f"exercise[{last}]",
        "tests/test_packaging.py::test_the_wheel_builds",
        "tests/test_checks.py",
    ]


def test_the_scheduler_refines_loadfile_only():
    def config(dist):
        return SimpleNamespace(getvalue=lambda name: dist, option=SimpleNamespace())

    assert conftest.pytest_xdist_make_scheduler(config("load"), None) is None
    assert conftest.pytest_xdist_make_scheduler(config("loadgroup"), None) is None
