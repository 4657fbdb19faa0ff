"""Run every solution notebook in a Colab-like environment, installed as on Colab.

    python tools/colab_check.py            # build (or reuse) the environment, then check
    python tools/colab_check.py --ref v0.1.0 solutions/01-gradient-descent.ipynb
    python tools/colab_check.py --worktree     # uncommitted course_lib changes included
    python tools/colab_check.py --build-only   # only build the environment (dev.py test's set-up)
    python tools/colab_check.py --worktree --prepare DIR   # steps 1–3 only, in DIR (the test)

1. An environment with the versions Colab ships (``COLAB``: ipywidgets 7.7.1,
   numpy 2.1, matplotlib 3.10, IPython 7.34, ipykernel 6.17, …), cached in the
   temporary directory under a name made from those pins, so a second run starts at
   once. It is built once and never changed afterwards.
2. course_lib installed the way the notebooks' set-up cell does it, ``pip install
   "course-lib @ git+…@<ref>"``, but from a local clone of this repository
   (``git+file://``) at ``--ref`` (default: HEAD, so commit first; ``--worktree``
   takes the working tree's course_lib/ and pyproject.toml, committed in the clone).
   It goes into a new, small environment of this check's own that sees the cached
   one's packages as installed (as Colab's are: a path file), so checks that run at
   the same time (two test workers, two clones) never install into the same place.
3. Nothing Colab ships may change: the versions pip sees of those packages before and
   after the install must be identical.
4. Every solution notebook (or those named) runs top to bottom in that environment's
   kernel without an error; first a notebook of this check's own that asserts the
   kernel's versions and uses every live-teaching helper. The kernel is driven from
   the Python that runs this check (its nbclient is not part of what is checked).

Exit status 0 when everything passes, 1 when a check fails, 3 when the
environment cannot be built (no network to the package index, no git).
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
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
BUILD_FAILED = 3
PREPARED = "prepared.json"  # what --prepare leaves in its folder for the notebook runs


def key():
    # "layered": course_lib goes into a layer of its own (step 2), never into this one
    text = json.dumps([COLAB, sys.version_info[:2], "layered"], sort_keys=True)
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
    """Create the environment once, beside its final place, then move it there: a stamp
    file marks it complete, and two builds at the same time cannot mix."""
    stamp = env / ".colab-check-complete"
    if stamp.exists():
        print(f"reusing {env}")
        return
    building = env.with_name(f"{env.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(building)
    pins = [f"{name}=={version}" for name, version in COLAB.items()]
    result = run(
        [
            python_of(building),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *pins,
        ]
    )
    if result.returncode:
        shutil.rmtree(building, ignore_errors=True)
        sys.exit(BUILD_FAILED)
    (building / ".colab-check-complete").write_text(key())
    shutil.rmtree(env, ignore_errors=True)  # an unfinished build of an earlier run
    try:
        building.rename(env)
    except OSError:  # another build finished first: use it
        shutil.rmtree(building, ignore_errors=True)


def site_packages(python):
    return subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def layer(base, env):
    """A new environment at ``env`` that sees ``base``'s packages as installed (a path
    file, after its own): pip installs into it alone, and sees Colab's packages."""
    venv.EnvBuilder(with_pip=False).create(env)
    path_file = pathlib.Path(site_packages(python_of(env)), "zz_colab_packages.pth")
    path_file.write_text(site_packages(python_of(base)) + "\n")
    return env


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
    # pip clones the URL with --filter=blob:none, as GitHub serves it: only the blobs of
    # the ref. A file:// server refuses filters unless told, and packing every executed
    # notebook of the history took 10 s of the check's 22.
    subprocess.run(["git", "config", "uploadpack.allowFilter", "true"], cwd=clone, check=True)
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
    if run(
        [python_of(env), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", local]
    ).returncode:
        sys.exit(BUILD_FAILED)
    return sha


PINNED = ("ipywidgets", "numpy", "matplotlib", "IPython", "ipykernel")
WIDGET_DEMO = [
    # the kernel is the Colab-like environment's (not whatever python3 a machine has)
    f"import {', '.join(PINNED)}\n"
    f"found = [m.__version__ for m in ({', '.join(PINNED)})]\n"
    f"assert found == {[COLAB[m.lower()] for m in PINNED]!r}, found",
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
DEMO_NAME = "widget-demo.ipynb"

CELL_TIMEOUT = 120  # seconds for one cell (each takes ≤ 2 s): past it, the run hung
STARTUP_TIMEOUT = 60  # seconds for a kernel to answer (2–10 s under load): past it, start another


def kernel_folder(python, workdir):
    """A kernel-spec folder whose one kernel, "colab-like", runs ``python``."""
    spec = pathlib.Path(workdir, "kernels", "colab-like")
    spec.mkdir(parents=True, exist_ok=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    # Written whole, then renamed: two test workers share the folder, and one must never
    # read the file half written by the other (once seen: a JSON error starting a kernel).
    part = spec / f"kernel.json.{os.getpid()}"
    part.write_text(json.dumps({"argv": argv, "language": "python"}))
    os.replace(part, spec / "kernel.json")
    return spec.parent


def execute(notebook, python, workdir, tries=2):
    """Run a notebook in a kernel of ``python``, driven from here (the driver, nbclient,
    is not part of what is checked); "" if it ran clean, else the first error.

    A run that hangs (once seen under load: the kernel had finished, the driver never
    heard it) times out, and the notebook runs again in a new kernel, once; so does a
    kernel that never starts (once seen: a port taken between its choice and its use by
    another test worker's kernel, "Address already in use")."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # As on Colab: the inline backend (not a test run's MPLBACKEND=Agg), no PYTHONPATH;
    # and no warning from the debugger about Python's frozen modules on every start.
    kernel_env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
    kernel_env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    specs = KernelSpecManager(kernel_dirs=[str(kernel_folder(python, workdir))])
    for attempt in range(1, tries + 1):
        nb = nbformat.read(notebook, as_version=4)
        km = KernelManager(kernel_name="colab-like", kernel_spec_manager=specs)
        client = NotebookClient(
            nb,
            km=km,
            timeout=CELL_TIMEOUT,
            startup_timeout=STARTUP_TIMEOUT,
            resources={"metadata": {"path": str(pathlib.Path(notebook).parent)}},
        )
        try:
            client.execute(env=kernel_env)
        except CellExecutionError as exc:
            return str(exc)[-3000:]
        except (CellTimeoutError, DeadKernelError) as exc:
            print(f"  {type(exc).__name__} (try {attempt} of {tries}): {exc}", flush=True)
            continue
        except RuntimeError as exc:  # jupyter_client: "Kernel didn't respond in … seconds"
            if not str(exc).startswith("Kernel"):
                raise
            print(f"  the kernel did not start (try {attempt} of {tries}): {exc}", flush=True)
            continue
        finally:  # nbclient leaves a kernel it did not start the manager of running
            if km.has_kernel:
                km.shutdown_kernel(now=True)
        errors = [
            o
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.get("outputs", [])
            if o.get("output_type") == "error"
        ]
        return f"error output: {errors[0].ename} {errors[0].evalue}" if errors else ""
    return f"the notebook hung, or its kernel did not start, {tries} times"


def prepare(workdir, ref="HEAD", worktree=False):
    """Steps 1–3 in ``workdir``: {"python", "sha", "problems"}; also written to PREPARED."""
    base = venv_dir()
    build_env(base)
    env = layer(base, workdir / "env")
    problems = []
    before = freeze(env)
    missing = {k: v for k, v in COLAB.items() if before.get(k) != v}
    if missing:
        problems.append(f"the environment lacks the pinned versions {missing}; found {before}")
    sha = install_like_colab(env, ref, workdir, worktree)
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
        cwd=workdir,
    )
    print("kernel sees:", probe.stdout.strip() or probe.stderr[-2000:])
    own = site_packages(python_of(env))
    if probe.returncode or not probe.stdout.startswith(own):
        problems.append(f"course_lib does not import from the installed package in {own}")
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in WIDGET_DEMO]),
        workdir / DEMO_NAME,
    )
    prepared = {"python": str(python_of(env)), "sha": sha, "problems": problems}
    (workdir / PREPARED).write_text(json.dumps(prepared))
    return prepared


def check_notebook(python, notebook, workdir):
    """Run one notebook in the prepared environment; "" if it ran clean, else what failed."""
    # A copy in a folder of its own without course_lib/, so the installed package is used.
    name = pathlib.Path(notebook).name
    copy = pathlib.Path(workdir, "run", pathlib.Path(notebook).stem, name)
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, copy)
    started = time.perf_counter()
    failure = execute(copy, python, workdir)
    took = f"{time.perf_counter() - started:.1f} s"
    print(f"{name}: {'FAILED' if failure else 'ok'} {took}", flush=True)
    return f"{name} failed in the Colab-like environment:\n{failure}" if failure else ""


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
    parser.add_argument(
        "--prepare",
        metavar="DIR",
        help=f"steps 1–3 only, in DIR, which then holds {PREPARED} and {DEMO_NAME}",
    )
    args = parser.parse_args(argv)
    if args.build_only:
        build_env(venv_dir())
        return 0
    if shutil.which("git") is None:
        print("git is missing: pip cannot install from a git URL")
        return BUILD_FAILED
    if args.prepare:
        folder = pathlib.Path(args.prepare)
        folder.mkdir(parents=True, exist_ok=True)
        return 1 if prepare(folder, args.ref, args.worktree)["problems"] else 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(pathlib.Path(tmp), args.ref, args.worktree)
        problems = list(prepared["problems"])
        notebooks = [pathlib.Path(n).resolve() for n in args.notebooks] or [
            build.SOLUTIONS / lesson["file"] for lesson in build.existing_lessons()
        ]
        for nb in [pathlib.Path(tmp, DEMO_NAME), *notebooks]:
            problems.append(check_notebook(prepared["python"], nb, tmp))
    problems = [p for p in problems if p]
    for p in problems:
        print("✘", p)
    print(
        f"Colab-like check: {'passed' if not problems else 'FAILED'} in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
