"""Packaging: runtime dependencies stay few, are the ones course_lib imports, and agree
everywhere; one source for the URL and the version; a wheel that works on its own."""

import ast
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import venv
import zipfile
from importlib import metadata

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
COURSE = json.loads((ROOT / "course.json").read_text())


def requirement(spec):
    name, rest = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", spec).groups()
    return name.lower(), rest.replace(" ", "")


def imported_distributions():
    """The distributions whose modules course_lib imports (outside the standard library)."""
    modules = set()
    for path in (ROOT / "course_lib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"course_lib"}
    owners = metadata.packages_distributions()
    missing = sorted(m for m in modules if m not in owners)
    assert not missing, f"imported but installed by no distribution: {missing}"
    return {owners[m][0].lower() for m in modules}


def test_declared_runtime_dependencies_are_exactly_what_course_lib_imports():
    declared = {name for name, _ in map(requirement, PYPROJECT["project"]["dependencies"])}
    assert declared == imported_distributions()


def test_runtime_dependencies_stay_numpy_matplotlib_ipywidgets_without_upper_bounds():
    deps = dict(map(requirement, PYPROJECT["project"]["dependencies"]))
    assert {"numpy", "matplotlib", "ipywidgets"} <= set(deps)
    assert deps["ipywidgets"] == ">=7.6.5"  # keeps Colab's 7.7.1 (7.6.0–7.6.4 miss a dependency)
    assert not any("<" in v or "==" in v for v in deps.values())
    # Anything else is imported directly but already comes with those three: nothing more
    # to install for a student.
    brought = {
        requirement(r)[0]
        for top in ("matplotlib", "ipywidgets")
        for r in metadata.requires(top) or []
        if "extra ==" not in r
    }
    assert set(deps) - {"numpy", "matplotlib", "ipywidgets"} <= brought


def test_one_version_and_the_release_follows_it():
    import course_lib

    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "course_lib.__version__"
    }
    assert metadata.version("course-lib") == course_lib.__version__
    assert COURSE["release"] == f"v{course_lib.__version__}", (
        "course.json's release must be v + course_lib.__version__ (python tools/build.py "
        "retarget … --release)"
    )


def test_environment_yml_agrees_with_pyproject():
    lines = [
        line.strip()[2:]
        for line in (ROOT / "environment.yml").read_text().splitlines()
        if line.strip().startswith("- ")
    ]
    conda = dict(map(requirement, lines))
    for name, spec in map(requirement, PYPROJECT["project"]["dependencies"]):
        assert conda.get(name) == spec, f"environment.yml: {name}{conda.get(name)} vs {spec}"
    assert conda["python"] == PYPROJECT["project"]["requires-python"]
    assert "pip install --no-deps ." in (ROOT / "postBuild").read_text()


def test_repository_url_has_one_source():
    assert (
        PYPROJECT["project"]["urls"]["Repository"] == f"https://github.com/{COURSE['repository']}"
    )


def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "python3 tools/dev.py test" in readme and "python3 tools/dev.py lab" in readme
    assert "python3 tools/dev.py test" in ci


def test_lessons_are_named_nn_slug_in_order():
    files = [lesson["file"] for lesson in COURSE["lessons"]]
    assert all(re.fullmatch(r"\d\d[a-z]?-[a-z0-9-]+\.ipynb", f) for f in files)
    # 05b: a lesson added after 05 keeps the numbers of those after it
    assert [int(f[:2]) for f in files if f[2] == "-"] == list(
        range(1, sum(f[2] == "-" for f in files) + 1)
    )
    assert sorted(files) == files


# pip and the new venvs must see only what is installed, not a PYTHONPATH of the caller's.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def new_venv(path):
    """A virtual environment without pip (this environment's pip installs into it)."""
    venv.EnvBuilder(with_pip=False).create(path)
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pip_without_warnings(*args):
    """Run pip and fail on any warning it reports from building course_lib."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-cache-dir"],
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    # pip relays the build backend's warnings (setuptools prints "!!" banners); the machine's
    # own pip configuration may add "WARNING: Location …" lines, which are not ours.
    ours = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if ("warning" in line.lower() or "!!" in line) and "Location 'file:" not in line
    ]
    assert not ours, "\n".join(ours)


def test_an_editable_install_prints_no_warning(tmp_path):
    python = new_venv(tmp_path / "venv")
    pip_without_warnings("--python", str(python), "install", "-e", str(ROOT))


def test_the_wheel_builds_without_warnings_and_works_from_a_fresh_venv(tmp_path):
    """Build the wheel as pip does, install it into a new venv, load every data set there."""
    # From a copy without build leftovers: setuptools would reuse a stale build/ folder.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".ipynb_checkpoints"
        ),
    )
    pip_without_warnings("wheel", "-w", str(tmp_path / "dist"), str(source))
    wheel = next((tmp_path / "dist").glob("course_lib-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = {
        p.name
        for p in (ROOT / "course_lib" / "data").iterdir()
        if p.suffix in (".gz", ".json", ".md")
    }
    assert {f"course_lib/data/{name}" for name in data} <= set(names)
    assert not any(n.startswith(("tests/", "tools/", "solutions/", "notebooks/")) for n in names)

    env = tmp_path / "venv"
    python = new_venv(env)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        env=CLEAN_ENV,
        check=True,
    )
    # The dependencies come from this environment, appended after the venv's own packages
    # (a path in a .pth file: this environment's editable install of course_lib is not seen).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    pathlib.Path(site.stdout.strip(), "zz_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    sections = sorted(
        p.stem.split("_", 1)[1] for p in (ROOT / "course_lib" / "data").glob("references_*.json")
    )
    script = textwrap.dedent(f"""
        import pathlib, course_lib
        from course_lib import data
        assert pathlib.Path(course_lib.__file__).is_relative_to({str(env)!r}), course_lib.__file__
        X, y = data.load_diabetes(); assert X.shape == (442, 10) and y.shape == (442,)
        X, y = data.load_digits(); assert X.shape == (1797, 64) and set(y) == set(range(10))
        for section in {sections!r}:
            assert data.load_references(section)["versions"], section
        print("loaded from", course_lib.__file__)
    """)

    result = subprocess.run(
        [str(python), "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- python3 tools/dev.py lab, as the README says: for any user, without a screen ----------
sys.path.insert(0, str(ROOT / "tools"))
import dev  # noqa: E402  (tools/dev.py: which extras .venv holds)

NOBODY = 65534  # the unprivileged user every Linux has


def lab_users():
    """This user, and when it is root, also an unprivileged one (setpriv drops to it)."""
    users = [pytest.param(None, id="this-user")]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv"):
        users.append(pytest.param(NOBODY, id="unprivileged-user"))
    return users


def serve_and_fetch(command, env, timeout=60):
    """Start ``command``, read the URL it prints, fetch lesson 01 over HTTP with the token,
    then shut the server down through its API; returns (notebook, log, exit status)."""
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines, url = [], None
    try:
        deadline = time.monotonic() + timeout
        while url is None and time.monotonic() < deadline:
            line = server.stdout.readline()  # the server logs steadily until it is up
            if not line:
                break
            lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", line)
            if found:
                url, token = found.groups()
        assert url, "JupyterLab printed no URL to open:\n" + "".join(lines)[-3000:]
        headers = {"Authorization": f"token {token}"}
        name = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))[0]
        request = urllib.request.Request(f"{url}/api/contents/{name}", headers=headers)
        while True:  # the URL is printed a moment before the server accepts connections
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    notebook = json.load(response)
                break
            except urllib.error.URLError as error:
                refused = isinstance(error.reason, ConnectionRefusedError)
                if not refused or server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        urllib.request.urlopen(
            urllib.request.Request(f"{url}/api/shutdown", method="POST", headers=headers),
            timeout=30,
        )
        rest, _ = server.communicate(timeout=30)
        return notebook, "".join(lines) + rest, server.returncode
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


@pytest.mark.parametrize("user", lab_users())
def test_dev_py_lab_opens_the_course_for_any_user_without_a_browser(tmp_path, user):
    """`python3 tools/dev.py lab` as the README says: as root or not, on a machine without a
    screen it starts no browser, serves the exercises and stops cleanly when asked."""
    if not dev.installed(["lab"]):
        pytest.skip(".venv is not set up with JupyterLab yet (python3 tools/dev.py lab does it)")
    home = pathlib.Path(tempfile.mkdtemp(prefix="course-lab-"))  # readable by `user` too
    try:
        opened = home / "browser-was-started"
        browser = home / "browser"
        browser.write_text(f"#!/bin/sh\ntouch {opened}\n")
        browser.chmod(0o755)
        env = {
            k: v
            for k, v in CLEAN_ENV.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "CI") and not k.startswith("JUPYTER")
        }
        # Its own home and runtime folder; BROWSER is what Python's webbrowser would start.
        env |= {"HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
        env["BROWSER"] = str(browser)
        command = [shutil.which("python3") or sys.executable, "tools/dev.py", "lab"]
        if user is not None:
            drop = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
            python = str(dev.python_of(dev.VENV))
            probe = subprocess.run([*drop, python, "-c", "import jupyterlab"], capture_output=True)
            if probe.returncode:
                pytest.skip(
                    f"user {user} cannot run {python} here (its Python lives where only "
                    f"root may read): {probe.stderr.decode()[-300:]}"
                )
            shutil.chown(home, user, user)
            command = [*drop, python, "tools/dev.py", "lab"]  # any Python ≥ 3.10 would do
        notebook, log, status = serve_and_fetch(command, env)
        assert notebook["type"] == "notebook" and notebook["content"]["cells"], notebook["name"]
        assert "Running as root is not recommended" not in log
        assert "no display here: open the URL" in log
        assert status == 0, log[-3000:]
        assert not opened.exists(), "dev.py lab started a browser on a machine without a display"
    finally:
        shutil.rmtree(home, ignore_errors=True)
