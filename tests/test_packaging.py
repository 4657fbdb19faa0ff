"""Packaging: runtime dependencies stay few and agree everywhere; one source for the URL."""
import json
import pathlib
import re
import subprocess
import sys
import zipfile


try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
COURSE = json.loads((ROOT / "course.json").read_text())


def requirement(spec):
    name, rest = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", spec).groups()
    return name.lower(), rest.replace(" ", "")


def test_runtime_dependencies_are_numpy_matplotlib_ipywidgets_without_upper_bounds():
    deps = dict(map(requirement, PYPROJECT["project"]["dependencies"]))
    assert set(deps) == {"numpy", "matplotlib", "ipywidgets"}
    assert deps["ipywidgets"] == ">=7.6"              # keeps Colab's 7.7.1
    assert not any("<" in v or "==" in v for v in deps.values())


def test_environment_yml_agrees_with_pyproject():
    lines = [l.strip()[2:] for l in (ROOT / "environment.yml").read_text().splitlines()
             if l.strip().startswith("- ")]
    conda = dict(map(requirement, lines))
    for name, spec in map(requirement, PYPROJECT["project"]["dependencies"]):
        assert conda.get(name) == spec, f"environment.yml: {name}{conda.get(name)} vs {spec}"
    assert conda["python"] == PYPROJECT["project"]["requires-python"]
    assert "pip install --no-deps ." in (ROOT / "postBuild").read_text()


def test_repository_url_has_one_source():
    assert PYPROJECT["project"]["urls"]["Repository"] == f"https://github.com/{COURSE['repository']}"


def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "python3 tools/dev.py test" in readme and "python3 tools/dev.py lab" in readme
    assert "python3 tools/dev.py test" in ci


def test_lessons_are_named_nn_slug_in_order():
    files = [lesson["file"] for lesson in COURSE["lessons"]]
    assert all(re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", f) for f in files)
    assert [int(f[:2]) for f in files] == list(range(1, len(files) + 1))


def test_wheel_ships_the_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("course_lib-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("course_lib/data/references_steps.json", "course_lib/data/digits.csv.gz",
                   "course_lib/data/diabetes_data_raw.csv.gz", "course_lib/data/README.md"):
        assert needed in names
    assert not any(n.startswith(("tests/", "tools/", "solutions/")) for n in names)
