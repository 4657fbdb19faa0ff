"""Shared test settings: figures draw off-screen; nbval's notebook items are marked, and
their kernels show figures as a student's does; and, under pytest-xdist, the run is
scheduled so that two workers finish together.

``tools/dev.py test`` runs two workers with ``--dist loadfile``, which ``CourseScheduling``
below refines:

- a solution notebook is one unit, so its cells run in order in one kernel (the scope
  comes from the node id alone, not from a marker a hook has to add in time);
- each lesson's run in the Colab-like environment and as an exercise notebook, and each
  packaging test (a wheel built, JupyterLab started) is a unit of its own, so the workers
  share them; any other test file is one unit, the browser tests' too: one worker starts
  JupyterLab and Chromium once (about 10 s) while the other runs the Colab-like
  lessons;
- units are handed out longest first: the browser tests, the Colab-like runs, the
  solutions, the exercises, the packaging tests, then the other test files, so the run
  ends on small units;
- a worker gets its next unit only when it is on its last test, so it never holds back
  long units that the other worker, idle, could be running.
"""

import os
import pathlib
from collections import OrderedDict

import matplotlib
import pytest

matplotlib.use("Agg")
SOLUTIONS = pathlib.Path(__file__).resolve().parents[1] / "solutions"
LESSONS = sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))
BROWSER = "tests/test_browser.py"  # one unit, the first handed out
# Tests scheduled one by one (node-id prefixes): each runs a lesson.
COLAB_RUNS = "tests/test_colab.py::test_notebook_runs_in_a_colab_like_environment["
EXERCISE_RUNS = "tests/test_notebooks.py::test_exercise_notebook_runs_until_its_first_unfinished_"
PACKAGING = "tests/test_packaging.py::"  # builds wheels, starts JupyterLab: 10–30 s each


@pytest.hookimpl(tryfirst=True)  # before xdist turns the group marker into a node-id suffix
def pytest_collection_modifyitems(items):
    for item in items:
        path = pathlib.Path(str(item.fspath))
        if SOLUTIONS in path.parents:
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.xdist_group(path.name))
            _inline_kernel(item.parent)


INLINE = "module://matplotlib_inline.backend_inline"


def pytest_collection_finish(session):
    """The Colab-like layer starts installing once the tests are known to need it."""
    skipped = os.environ.get("COURSE_SKIP_COLAB") == "1"
    if not skipped and any(item.get_closest_marker("colab") for item in session.items):
        import test_colab

        test_colab.start_preparing(session.config)


def _inline_kernel(notebook):
    """nbval's notebook starts its kernel with the inline backend, as in Jupyter and as
    the solutions were executed (tools/build.py), not with the tests' MPLBACKEND=Agg:
    nbval is the one run of every cell in this environment. (A hook of this conftest
    would not see solutions/: the kernel starts in the notebook's own setup.)"""
    if getattr(notebook, "inline_kernel", False):
        return
    setup = notebook.setup

    def setup_inline():
        before = os.environ.get("MPLBACKEND")
        os.environ["MPLBACKEND"] = INLINE
        try:
            setup()
        finally:
            if before is None:
                del os.environ["MPLBACKEND"]
            else:
                os.environ["MPLBACKEND"] = before

    notebook.setup, notebook.inline_kernel = setup_inline, True


def scope_of(nodeid):
    """The unit a test is scheduled in: itself for a lesson run, else its file."""
    if nodeid.startswith((COLAB_RUNS, EXERCISE_RUNS, PACKAGING)):
        return nodeid
    return nodeid.split("::", 1)[0]


def rank(scope):
    """When a unit starts, smaller first: the later lessons train networks and take longest."""
    lesson = max((i for i, name in enumerate(LESSONS, 1) if name in scope), default=0)
    for i, kind in enumerate((BROWSER, COLAB_RUNS, "solutions/", EXERCISE_RUNS, PACKAGING)):
        if scope.startswith(kind):
            return (i, -lesson)
    return (5, 0)


class LongestFirst(OrderedDict):
    """xdist's queue of units, whose next unit is the one of smallest rank (then the first)."""

    def popitem(self, last=True):
        scope = min(self, key=rank)
        return scope, self.pop(scope)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown to a run without it
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, refined for this suite (this module's docstring says how)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        def __init__(self, config, log=None):
            super().__init__(config, log)
            self.workqueue = LongestFirst()

        def _split_scope(self, nodeid):
            return scope_of(nodeid)

        def _reschedule(self, node):
            # A worker starts its last test only once it knows the next (to tear fixtures
            # down or not): it gets a new unit then, and holds no unit in reserve.
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
            elif self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return CourseScheduling(config, log)
