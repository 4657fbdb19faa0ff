"""Run every solution notebook in a Colab-like environment, installed as on Colab.

    python tools/colab_check.py            # build (or reuse) the environment, then check
    python tools/colab_check.py --ref v0.1.0 solutions/01-gradient-descent.ipynb
    python tools/colab_check.py --worktree     # uncommitted course_lib changes included
    python tools/colab_check.py --build-only   # only build the environment (dev.py test's set-up)

1. A virtual environment with the versions Colab ships (``COLAB``: ipywidgets
   7.7.1, numpy 2.1, matplotlib 3.10, IPython 7.34, ipykernel 6.17, …), cached in
   the temporary directory under a name made from those pins, so a second run
   starts at once.
2. course_lib installed the way the notebooks' set-up cell does it, ``pip install
   "course-lib @ git+…@<ref>"``, but from a local clone of this repository
   (``git+file://``) at ``--ref`` (default: HEAD, so commit first; ``--worktree``
   takes the working tree's course_lib/ and pyproject.toml, committed in the clone).
3. Nothing Colab ships may change: ``pip freeze`` of those packages before and
   after the install must be identical.
4. Every solution notebook (or those named) runs top to bottom in that
   environment's kernel without an error.

Exit status 0 when everything passes, 1 when a check fails, 3 when the
environment cannot be built (no network to the package index, no git).
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import venv

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build  # noqa: E402  (tools/build.py: the course file and the set-up cell)

# What Colab ships (Python 3.12 there, 3.10+ here), as close as PyPI allows. The first
# group must be left exactly as it is by installing course_lib.
COLAB = {
    "ipywidgets": "7.7.1",
    "numpy": "2.1.3",
    "matplotlib": "3.10.0",
    "ipython": "7.34.0",
    "ipykernel": "6.17.1",
    "traitlets": "5.7.1",
    "pillow": "11.3.0",
    "jupyter-client": "7.4.9",
    "tornado": "6.4.2",
}
# To run the notebooks from outside the kernel (not part of what is checked).
RUNNER = ["nbclient==0.10.2", "nbformat==5.10.4"]
BUILD_FAILED = 3


def key():
    text = json.dumps([COLAB, RUNNER, sys.version_info[:2]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def venv_dir():
    return pathlib.Path(
        os.environ.get("COURSE_COLAB_VENV")
        or pathlib.Path(tempfile.gettempdir()) / f"course-colab-{key()}"
    )


def python_of(env):
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd, **kwargs):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(list(map(str, cmd)), **kwargs)


def build_env(env):
    """Create the environment once; a stamp file marks it complete."""
    stamp = env / ".colab-check-complete"
    if stamp.exists():
        print(f"reusing {env}")
        return
    if env.exists():
        shutil.rmtree(env)
    venv.EnvBuilder(with_pip=True).create(env)
    pins = [f"{name}=={version}" for name, version in COLAB.items()]
    result = run(
        [
            python_of(env),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *pins,
            *RUNNER,
        ]
    )
    if result.returncode:
        sys.exit(BUILD_FAILED)
    stamp.write_text(key())


def freeze(env):
    """Versions of the packages Colab ships, as pip sees them in the environment."""
    out = subprocess.run(
        [python_of(env), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wanted = {name.lower().replace("_", "-") for name in COLAB}
    return {
        p["name"].lower().replace("_", "-"): p["version"]
        for p in json.loads(out)
        if p["name"].lower().replace("_", "-") in wanted
    }


def install_like_colab(env, ref, workdir, worktree=False):
    """Clone the repository and pip install course_lib from it as the set-up cell does."""
    c = build.course()
    setup = build.setup_source(c)
    spec = build.install_spec(c)
    if f'%pip install --quiet "{spec}"' not in setup:
        sys.exit(f"the set-up cell no longer installs {spec!r}: update tools/colab_check.py")
    clone = workdir / "repo"
    if run(["git", "clone", "--quiet", ROOT, clone]).returncode:
        sys.exit(BUILD_FAILED)
    if worktree:  # the working tree's course_lib, committed in the clone (not here)
        for name in ("course_lib", "pyproject.toml"):
            target = clone / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
            copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
            copy(
                ROOT / name,
                target,
                **(
                    {"ignore": shutil.ignore_patterns("__pycache__")}
                    if name == "course_lib"
                    else {}
                ),
            )
        git = ["git", "-c", "user.name=colab-check", "-c", "user.email=colab-check@localhost"]
        subprocess.run(git + ["add", "-A"], cwd=clone, check=True)
        subprocess.run(
            git + ["commit", "--quiet", "--allow-empty", "-m", "working tree"],
            cwd=clone,
            check=True,
        )
        ref = "HEAD"
    sha = subprocess.run(
        ["git", "rev-parse", ref], cwd=clone, capture_output=True, text=True
    ).stdout.strip()
    if not sha:
        sys.exit(f"unknown ref {ref!r}")
    # The release tag of the set-up cell, put on the commit under test in the clone.
    subprocess.run(
        ["git", "tag", "--force", c["release"], sha], cwd=clone, check=True, capture_output=True
    )
    # The same requirement as the set-up cell, the GitHub URL swapped for the clone's.
    # (file://localhost/…: pip < 24 rejects file:/// URLs with an empty host here.)
    local = spec.replace(
        f"git+{build.github_url(c)}@", f"git+file://localhost{clone.resolve().as_posix()}@"
    )
    # As on a fresh Colab runtime: no course_lib before the set-up cell runs.
    run(
        [python_of(env), "-m", "pip", "uninstall", "--quiet", "--yes", c["package"]],
        capture_output=True,
    )
    if run(
        [python_of(env), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", local]
    ).returncode:
        sys.exit(BUILD_FAILED)
    return sha


WIDGET_DEMO = [
    "from course_lib import optimizers, explore, compare, explore_plot, plots, race",
    "def curve(k=1.0):\n"
    "    fig, ax = plots.subplots(figsize=(3, 2))\n"
    "    ax.plot([0, 1], [0, k])\n"
    "    return fig\n"
    "p = explore_plot(curve, k=(0.5, 2.0, 1.0))\n"
    "before = p.png\n"
    'p.controls["k"].value = 2.0\n'
    "assert p.png != before\n"
    "p",
    'e = explore(optimizers.momentum, "course quadratic", steps=30)\n'
    "before = e.png\n"
    'e.sliders["gamma"].value = 0.5     # as a browser does\n'
    'assert e.png != before and e.runs[0].hyperparameters["gamma"] == 0.5\n'
    'e.update(problem="Rosenbrock", lr=1e-3)\n'
    "e",
    'c = compare({"GD": optimizers.gd, "Adam": (optimizers.adam, {"lr": 0.3})}, "Beale")\n'
    'c.update(**{"GD.lr": 1e-3})\n'
    "c",
    'race([("GD", optimizers.gd, {"lr": 0.4}), ("Adam", optimizers.adam, {"lr": 0.5})],'
    ' "course quadratic", steps=20, frames=8)',
]

EXECUTE = r"""
import sys, time, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path, cwd = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
started = time.perf_counter()
try:
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": cwd}}).execute()
except CellExecutionError as exc:
    print(str(exc)[-3000:])
    sys.exit(1)
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
          if o.get("output_type") == "error"]
if errors:
    print("error output:", errors[0].get("ename"), errors[0].get("evalue"))
    sys.exit(1)
print(f"{time.perf_counter() - started:.1f} s")
"""


RUN_TIMEOUT = 180  # seconds for one notebook (each takes ≤ 15 s): past it, the runner hung


def run_notebook(cmd, env, tries=2):
    """Run one notebook's runner; a runner that hangs (once seen under load: the kernel had
    finished, nbclient never heard it) is killed with its kernel and started again, once."""
    for attempt in range(1, tries + 1):
        process = subprocess.Popen(
            list(map(str, cmd)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # its own process group: the kernel goes with it
        )
        try:
            out, err = process.communicate(timeout=RUN_TIMEOUT)
            return subprocess.CompletedProcess(cmd, process.returncode, out, err)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            print(f"  the runner hung for {RUN_TIMEOUT} s (try {attempt} of {tries})", flush=True)
    return subprocess.CompletedProcess(cmd, 1, out, err + f"\nhung {tries} times")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="solution notebooks (default: all)")
    parser.add_argument("--ref", default="HEAD", help="git ref of course_lib to install")
    parser.add_argument(
        "--worktree",
        action="store_true",
        help="install the working tree's course_lib (uncommitted changes too)",
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="only build (or reuse) the environment: the set-up step of tools/dev.py test",
    )
    args = parser.parse_args(argv)
    if args.build_only:
        build_env(venv_dir())
        return 0
    if shutil.which("git") is None:
        print("git is missing: pip cannot install from a git URL")
        return BUILD_FAILED
    started = time.perf_counter()
    env = venv_dir()
    build_env(env)
    before = freeze(env)
    missing = {k: v for k, v in COLAB.items() if before.get(k) != v}
    if missing:
        print(f"the environment lacks the pinned versions {missing}; found {before}")
        return 1
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        sha = install_like_colab(env, args.ref, pathlib.Path(tmp), args.worktree)
        after = freeze(env)
        changed = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
        if changed:
            problems.append(f"installing course_lib changed what Colab ships: {changed}")
        print(f"course_lib {sha[:10]} installed; Colab's packages unchanged: {not changed}")
        probe = subprocess.run(
            [
                python_of(env),
                "-c",
                "import course_lib, ipywidgets, numpy, matplotlib, IPython; "
                "print(course_lib.__file__, ipywidgets.__version__, numpy.__version__, "
                "matplotlib.__version__, IPython.__version__)",
            ],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        print("kernel sees:", probe.stdout.strip() or probe.stderr[-2000:])
        if probe.returncode or "site-packages" not in probe.stdout:
            problems.append("course_lib does not import from the installed package")
        notebooks = [pathlib.Path(n).resolve() for n in args.notebooks] or [
            build.SOLUTIONS / lesson["file"] for lesson in build.existing_lessons()
        ]
        # The live-teaching helpers with Colab's ipywidgets 7 and IPython 7, in a kernel.
        widget_demo = pathlib.Path(tmp, "widget-demo.ipynb")
        nbformat.write(
            nbformat.v4.new_notebook(
                cells=[nbformat.v4.new_code_cell(source) for source in WIDGET_DEMO]
            ),
            widget_demo,
        )
        notebooks.insert(0, widget_demo)
        # As on Colab: the inline backend (not a test run's MPLBACKEND=Agg), no PYTHONPATH.
        kernel_env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
        for nb in notebooks:
            # Run a copy, from a directory without course_lib/, so the installed package is used.
            copy = pathlib.Path(tmp, "run", nb.name)
            copy.parent.mkdir(exist_ok=True)
            shutil.copy(nb, copy)
            result = run_notebook([python_of(env), "-c", EXECUTE, copy, copy.parent], kernel_env)
            verdict = result.stdout.strip().splitlines()[-1:] or [result.stderr[-500:]]
            print(
                f"{nb.name}: {'ok' if result.returncode == 0 else 'FAILED'} {verdict[0]}",
                flush=True,
            )
            if result.returncode:
                problems.append(
                    f"{nb.name} failed in the Colab-like environment:\n"
                    f"{result.stdout[-3000:]}{result.stderr[-2000:]}"
                )
    for p in problems:
        print("✘", p)
    print(
        f"Colab-like check: {'passed' if not problems else 'FAILED'} in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
