"""Set up the course in ./.venv, then open it or test it. Needs only Python ≥ 3.10.

    python3 tools/dev.py lab             # set up, then open the exercises in JupyterLab
                                         # (as root too; no browser is started without a
                                         # display or under CI: open the URL it prints)
    python3 tools/dev.py test            # set up, then run every test (unit tests, lint,
                                         # solutions through nbval, exercises, a real browser,
                                         # a Colab-like environment, reference regeneration)
    python3 tools/dev.py test --quick    # unit tests, checks and lint only (< 60 s): for the
                                         # edit-test loop; no notebook, browser, Colab or torch
    python3 tools/dev.py test --lowest   # in .venv-lowest, with every runtime dependency at
                                         # the oldest release pyproject.toml allows that
                                         # installs here: unit tests, solutions, exercises

Options: --no-torch skips torch and the AdaBelief package (the tests that
regenerate the reference data are then skipped, with the reason). Anything
after ``--`` goes to pytest or JupyterLab. Set-up is skipped when the
environment is already installed from the same pyproject.toml.
"""

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV, LOWEST_VENV = ROOT / ".venv", ROOT / ".venv-lowest"
QUICK = "not (notebook or browser or colab or regenerate)"  # test --quick leaves these out
LOWEST = "not (browser or colab or regenerate)"  # test --lowest: no browser, Colab or torch
# The whole suite on two workers. loadfile: every notebook runs whole on one worker (a
# notebook's cells share one kernel, so they must never be split; the scope comes from the
# node id alone, not from a marker a hook has to add in time: a loadgroup run once split
# lesson 07's last cells). tests/conftest.py refines it: each whole-lesson run of the
# Colab-like check and the exercises is a unit of its own, the browser tests are one, and
# the longest units start first, so that both workers finish together.
WORKERS = ["-n", "2", "--dist", "loadfile"]


def python_of(env):
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def sh(*cmd):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def runtime_bounds():
    """(name, lowest version) of every runtime dependency in pyproject.toml (``name>=x``)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    return re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9.]+)"', block)


def oldest_installable(python, name, bound):
    """The oldest release of ``name`` ≥ bound that has a wheel for this Python and platform."""
    listed = subprocess.run(
        [python, "-m", "pip", "index", "versions", "--only-binary=:all:", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = re.search(r"Available versions: (.*)", listed).group(1).split(", ")
    released = [v for v in versions if re.fullmatch(r"[0-9.]+", v)]  # no pre-releases

    def key(v):
        return tuple(int(part) for part in v.split("."))

    return min((v for v in released if key(v) >= key(bound)), key=key)


def installed(extras, env=VENV, lowest=False):
    """Whether ``env`` already holds course_lib with ``extras`` from this pyproject.toml.

    The stamp records the extras installed, so ``lab`` after ``test`` (which installs more)
    starts at once instead of installing again."""
    stamp = env / ".course-installed"
    try:
        done = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(done, dict)
        and python_of(env).exists()
        and done.get("pyproject") == pyproject_hash()
        and done.get("lowest") == lowest
        and set(extras) <= set(done.get("extras", []))
    )


def pyproject_hash():
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def set_up(extras, env=VENV, lowest=False):
    """Create ``env`` and install course_lib with ``extras`` (editable); once per pyproject.

    lowest=True first installs each runtime dependency at its oldest installable release
    (``oldest_installable``) and keeps it there while the extras are installed."""
    if sys.version_info < (3, 10):  # noqa: UP036 (this script may be started by an older python3)
        sys.exit(f"Python ≥ 3.10 is needed; this is {sys.version.split()[0]}.")
    if installed(extras, env, lowest):
        return
    python = python_of(env)
    spec = f".[{','.join(extras)}]"
    if not python.exists():
        print(f"+ creating {env.relative_to(ROOT)}", flush=True)
        venv.EnvBuilder(with_pip=True).create(env)
    sh(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    constraints = []
    if lowest:
        pins = [
            f"{name}=={oldest_installable(python, name, bound)}" for name, bound in runtime_bounds()
        ]
        print("+ oldest supported runtime dependencies:", " ".join(pins), flush=True)
        file = env / "lowest-constraints.txt"
        file.write_text("\n".join(pins) + "\n")
        constraints = ["--constraint", str(file)]
    sh(python, "-m", "pip", "install", "--quiet", *constraints, "-e", spec)
    stamp = {"pyproject": pyproject_hash(), "lowest": lowest, "extras": sorted(extras)}
    (env / ".course-installed").write_text(json.dumps(stamp))


def can_open_a_browser():
    """Whether a browser can open here: not under CI, and on Linux or BSD, a display."""
    if os.environ.get("CI"):
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS, Windows


def lab_command(python, passthrough=()):
    """JupyterLab on the exercises, for any user: root too, and without a screen."""
    options = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # A container, a cloud VM or a classroom image runs as root; Jupyter refuses root
        # unless told (it cannot drop privileges itself, and the course needs none).
        options.append("--ServerApp.allow_root=True")
    if not can_open_a_browser():
        # Headless (CI, SSH, a container): Python's webbrowser would try whatever it finds,
        # a text browser in this terminal included. Jupyter prints the URL to open instead.
        print("+ no display here: open the URL that JupyterLab prints below", flush=True)
        options.append("--ServerApp.open_browser=False")
    return [str(python), "-m", "jupyter", "lab", *options, str(ROOT / "notebooks"), *passthrough]


def show_versions(python):
    """Print the versions a test run uses, so that its result says what it was run with."""
    names = [name for name, _ in runtime_bounds()] + ["scipy", "torch"]
    code = (
        "import json, importlib.metadata as m\n"
        f"names = {names!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    found = json.loads(subprocess.check_output([python, "-c", code], text=True))
    print("+ testing with " + ", ".join(f"{k} {v}" for k, v in found.items()), flush=True)


def main(argv):
    if not argv or argv[0] not in ("lab", "test"):
        sys.exit(__doc__)
    command, rest = argv[0], argv[1:]
    passthrough = rest[rest.index("--") + 1 :] if "--" in rest else []
    options = rest[: rest.index("--")] if "--" in rest else rest
    if command == "lab":
        set_up(["lab"])
        command = lab_command(python_of(VENV), passthrough)
        os.execv(command[0], command)
    unknown = set(options) - {"--no-torch", "--quick", "--lowest"}
    if unknown:
        sys.exit(f"unknown option(s) {sorted(unknown)}\n\n{__doc__}")
    # The markers are declared in pyproject.toml; nbval's notebooks live in solutions/.
    if "--lowest" in options:
        env, selection = LOWEST_VENV, ["-m", LOWEST]
        set_up(["test"], env, lowest=True)
    else:
        env = VENV
        # instructor: otter-grader, for the end-to-end grading test (tests/test_release.py)
        extras = ["lab", "test", "instructor"] + ([] if "--no-torch" in options else ["maintainer"])
        set_up(extras, env)
    python = python_of(env)
    if "--quick" in options:
        selection = ["tests", "-m", QUICK]
    elif "--lowest" not in options:
        selection = WORKERS
        # The real-browser test needs Debian's chromium: installed when root and missing,
        # otherwise the script says why and that test is skipped with the reason.
        if os.name != "nt":
            subprocess.run(["bash", str(ROOT / "tools" / "install_browser.sh")], cwd=ROOT)
        # The Colab-like environment is set-up too; when it cannot be built here, its test
        # says why (tools/colab_check.py exits 3).
        if os.environ.get("COURSE_SKIP_COLAB") != "1":
            subprocess.run([python, str(ROOT / "tools" / "colab_check.py"), "--build-only"])
    # MPLBACKEND: tests draw figures without a screen; notebooks use the inline backend anyway.
    # Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (as on some CI images):
    # else each of the run's ~60 kernels and Pythons compiles course_lib again, and each
    # worker the tests and pytest's plugins (collection: 7 s instead of 4).
    show_versions(python)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(
        [str(python), "-m", "pytest", *selection, *passthrough],
        cwd=ROOT,
        env={**env, "MPLBACKEND": "Agg"},
    )
    sys.exit(result.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
