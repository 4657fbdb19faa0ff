"""The Colab-like check (tools/colab_check.py) as tests: Colab's versions, a git install of
course_lib as the notebooks' set-up cell does it, and every solution notebook run clean.

The environment is built once (cached in the temporary directory, about a minute; dev.py
test's set-up does it). Each run then installs this working tree's course_lib once, shared
by the test workers: one worker starts installing in the background as soon as the tests
are collected (while the browser tests run), and every notebook is a test of its own, so
the workers share the notebooks. Skipped, with the
reason, when the environment cannot be built here (no package index, no git) — except
under CI (CI set), where that is a failure. COURSE_SKIP_COLAB=1 skips it on purpose for
quick local runs.
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

import colab_check  # tools/colab_check.py (pytest's pythonpath includes tools/)

ROOT = pathlib.Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.colab,
    pytest.mark.skipif(os.environ.get("COURSE_SKIP_COLAB") == "1", reason="COURSE_SKIP_COLAB=1"),
]
LESSONS = [colab_check.build.SOLUTIONS / x["file"] for x in colab_check.build.existing_lessons()]
PREPARE_TIMEOUT = 1800  # seconds: building the environment from scratch, then installing


def _prepare(folder):
    """Run ``colab_check.py --worktree --prepare folder``; its result, plus its output."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "colab_check.py"), "--worktree", "--prepare"]
        + [str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PREPARE_TIMEOUT,
    )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    file = folder / colab_check.PREPARED
    prepared = json.loads(file.read_text()) if file.exists() else {}
    return {**prepared, "exit": result.returncode, "output": output}


def _folder(config):
    """The folder of this run's Colab-like layer, shared by its workers."""
    shared = config._tmp_path_factory.getbasetemp()  # an xdist worker's: in a folder of the run
    return (shared.parent if hasattr(config, "workerinput") else shared) / "colab"


def start_preparing(config):
    """Prepare the layer in a thread, from as soon as the tests are collected, so that no
    worker waits for it later (tests/conftest.py calls this when Colab-like runs are
    selected). The first worker to create the folder prepares; the others find it."""
    folder = _folder(config)
    try:
        folder.mkdir()  # atomic: one worker wins
    except FileExistsError:
        return

    def prepare():
        try:
            prepared = _prepare(folder)
        except Exception as exc:  # a timeout, say: no worker may wait for ever
            prepared = {"exit": 1, "output": f"preparing failed: {exc!r}"}
        prepared["folder"] = str(folder)
        folder.with_name("colab-prepared.json").write_text(json.dumps(prepared))

    threading.Thread(target=prepare, daemon=True).start()


@pytest.fixture(scope="session")
def colab(request):
    """The prepared environment, once per run: wait for the thread that prepares it."""
    start_preparing(request.config)  # already started, unless this module was run alone
    done = _folder(request.config).with_name("colab-prepared.json")
    deadline = time.monotonic() + PREPARE_TIMEOUT
    while not done.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the Colab-like environment was not prepared in {done.parent}")
        time.sleep(0.2)
    return json.loads(done.read_text())


def _ready(colab):
    if colab["exit"] == colab_check.BUILD_FAILED and not os.environ.get("CI"):
        pytest.skip(
            "the Colab-like environment cannot be built here (package index or git "
            "unavailable):\n" + colab["output"][-1500:]
        )
    assert colab["exit"] in (0, 1) and "python" in colab, colab["output"]


def test_course_lib_installs_from_git_without_changing_colabs_packages(colab):
    _ready(colab)
    assert "Colab's packages unchanged: True" in colab["output"], colab["output"]
    assert colab["exit"] == 0 and not colab["problems"], colab["output"]


@pytest.mark.parametrize(
    "notebook", [colab_check.DEMO_NAME, *LESSONS], ids=lambda p: pathlib.Path(p).name
)
def test_notebook_runs_in_a_colab_like_environment(colab, notebook):
    _ready(colab)
    folder = pathlib.Path(colab["folder"])
    path = folder / notebook if notebook == colab_check.DEMO_NAME else notebook
    failure = colab_check.check_notebook(colab["python"], path, folder)
    assert not failure, failure
