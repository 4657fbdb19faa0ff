"""Autograded assignments from the solutions: ``python tools/build.py release [NN…] [--out DIR]``.

For each lesson, an otter-grader assignment in ``DIR/NN-name/`` (default ``dist/release``):

    NN-name.ipynb          the student notebook: the exercise notebook of notebooks/, with a
                           cell that starts otter's grader and a ``grader.check("qN_k")`` cell
                           after each autograded exercise's check
    tests/qN_k.py          public tests: the course's own check of the exercise
    solved/NN-name.ipynb   the same notebook with the solutions in (what full marks look like),
                           with a copy of tests/ beside it
    autograder.zip         otter's autograder: public and hidden tests (further cases the
                           student never sees), for ``otter run`` or Gradescope

An exercise is autograded when its section holds an exercise cell (``### BEGIN SOLUTION``)
and a ``checks.check_*`` call after it; its marks (1 per exercise) are split evenly over its
test cases. Skipped while grading (tagged ``otter_ignore``): explorers and races (cells
tagged ``live``) and every cell that no exercise or check needs (figures, printed tables,
training runs shown and not reused, most of Going further), found by following the names
the graded cells read back to where they are defined.
Needs the ``instructor`` extra (otter-grader); nothing here needs Docker.
"""

import ast
import contextlib
import io
import json
import pathlib
import re
import shutil
import tempfile

import lesson_stats
import nbformat

import build

IGNORE = "otter_ignore"
GRADER_CELL = "grader"
# A step rule's hidden case: the rule against course_lib.optimizers' own, on a quadratic the
# public check never uses (rotated, 4-D, off-default hyperparameters, a large ε), 30 steps.
HIDDEN_STEP = '''
@test_case(hidden=True)
def further_cases(env):
    """The rule against the course's own on a rotated 4-D quadratic, off-default settings."""
    import inspect

    import numpy as np

    from course_lib import Quadratic, optimizers, run

    rng = np.random.default_rng(24)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    problem = Quadratic(q @ np.diag([0.3, 1.0, 2.5, 6.0]) @ q.T, x0=rng.normal(size=4))
    reference, step = getattr(optimizers, {rule!r}), env[{name!r}]
    accepted = inspect.signature(step).parameters  # the exercise's own hyperparameters
    defaults = {{k: p.default for k, p in inspect.signature(reference).parameters.items()
                if p.default is not inspect.Parameter.empty and k in accepted}}
    # η × 0.7, each decay × 0.9, ε = 0.1: large enough that where ε sits shows
    settings = {{k: (v * 0.7 if k == "lr" else v * 0.9 if k.startswith(("rho", "beta", "gamma"))
                    else 0.1 if k == "eps" else v)
                for k, v in defaults.items() if isinstance(v, float)}}
    expected = run(reference, problem, steps=30, **settings).xs
    got = run(step, problem, steps=30, **settings).xs
    assert np.allclose(got, expected, rtol=1e-7, atol=1e-10), (
        f"{name} differs from the course's {rule} on a further case: " + str(settings)
    )
'''


def question_name(n, k):
    return f"q{n}_{k}"


def _check_calls(source):
    """The ``checks.check_*(…)`` expressions of a cell, as source text (a cell that does not
    parse, an IPython magic for instance, has none)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = []
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "checks"
            and call.func.attr.startswith("check_")
        ):
            calls.append(ast.get_source_segment(source, call))
    return calls


def _defined(source):
    """The names an exercise cell defines (functions, and variables assigned at top level)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def graded_exercises(nb):
    """[{number, kind, title, question, names, checks, after, core}] for each autograded
    exercise of a solution notebook; ``after`` is the id of its last check cell."""
    out, current, core = [], None, True
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                section = lesson_stats.SECTION_HEADING.match(line)
                if section:
                    current = None
                    if lesson_stats._section_kind(section.group(1), not core) != "core":
                        core = False
            found = lesson_stats.EXERCISE_HEADING.findall(cell.source)
            if found:
                n, k, kind, title = found[-1]
                current = {
                    "number": f"{n}.{k}",
                    "kind": kind,
                    "title": title.strip().strip("*"),
                    "question": question_name(n, k),
                    "names": [],
                    "checks": [],
                    "after": None,
                    "core": core,
                }
                out.append(current)
        elif cell.cell_type == "code" and current is not None:
            if build.BEGIN in cell.source or "# YOUR CODE HERE" in cell.source:
                current["names"] += _defined(cell.source)
            calls = _check_calls(cell.source)
            if calls and current["names"]:
                current["checks"] += calls
                current["after"] = cell.get("id", i)
    return [e for e in out if e["checks"]]


SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _free(node):
    """The names a function, lambda or comprehension reads from outside it."""
    local, read = set(), set()
    if not isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        a = node.args
        local |= {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
        local |= {x.arg for x in (a.vararg, a.kwarg) if x}
        read |= _reads(a.defaults + a.kw_defaults)
    if hasattr(node, "generators"):  # a comprehension: its targets are its own
        body = [
            node.generators,
            getattr(node, "elt", None),
            getattr(node, "key", None),
            getattr(node, "value", None),
        ]
    else:
        body = node.body if isinstance(node.body, list) else [node.body]
        read |= _reads(getattr(node, "decorator_list", []))
    for sub in _walk(body):
        if isinstance(sub, ast.Name):
            (local if isinstance(sub.ctx, ast.Store) else read).add(sub.id)
        elif isinstance(sub, SCOPES):
            read |= _free(sub)
        elif isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
            local.add(sub.name)
    return read - local


def _walk(nodes):
    """Every node under ``nodes``, not entering nested scopes (yielded, not walked)."""
    stack = [n for n in (nodes if isinstance(nodes, list) else [nodes]) if n is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack += [n for n in node if n is not None]
            continue
        yield node
        if not isinstance(node, SCOPES):
            stack += list(ast.iter_child_nodes(node))


def _reads(nodes):
    read = set()
    for sub in _walk([n for n in nodes if n is not None]):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            read.add(sub.id)
        elif isinstance(sub, SCOPES):
            read |= _free(sub)
    return read


def _names(source):
    """(names a cell binds or changes at top level: assigned, ``d[k] = …``, ``d.update(…)``;
    names it reads from outside its functions and comprehensions), or None if it does not
    parse (an IPython magic)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            for sub in _walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    bound.add(sub.id)
                elif isinstance(sub, (ast.Subscript, ast.Attribute)) and isinstance(
                    sub.ctx, ast.Store
                ):  # d[k] = …, obj.a = …: a change to d, obj
                    bound |= _base(sub)
                elif (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr in MUTATORS
                ):  # d.update(…), runs.append(…)
                    bound |= _base(sub.func.value)
    return bound, _reads(tree.body)


MUTATORS = {"append", "extend", "insert", "update", "setdefault", "add", "pop", "clear", "sort"}


def _base(node):
    """The name at the root of ``a.b[c].d`` ({"a"}), or none."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def _ignored(nb, exercises):
    """Indices of the code cells skipped while grading: explorers and races (tagged
    ``live``), and every cell whose names no graded cell needs (a figure, a printed table,
    a training run shown but not reused, most of Going further). Kept: exercise cells and
    their checks wherever they are, core cells that do not parse (IPython magics), and
    every cell that defines a name they read, followed back from the last cell."""
    skip, core, kind = set(), True, {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                section = lesson_stats.SECTION_HEADING.match(line)
                if section and lesson_stats._section_kind(section.group(1), not core) != "core":
                    core = False
        elif cell.cell_type == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            # after the core, only what a graded cell needs (an exercise may sit there)
            kind[i] = "live" if "live" in tags else "core" if core else "after"
    checked = {e["after"] for e in exercises}
    needed = {"checks"}
    for i in sorted(kind, reverse=True):
        cell = nb.cells[i]
        names = _names(cell.source)
        graded = (
            build.BEGIN in cell.source
            or "# YOUR CODE HERE" in cell.source
            or cell.get("id") in checked
            or cell.get("id") in build.STAMPED
        )
        magic = names is None and kind[i] == "core"  # the set-up cell: kept
        if kind[i] == "live" or not (graded or magic or (names and names[0] & needed)):
            skip.add(i)
        elif names is not None:
            needed |= names[1]
    return skip


def _tag(cell, tag):
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def grader_source(c):
    return "\n".join(
        [
            "# Grading: otter-grader runs the course's checks on your answers (tests/ beside",
            "# this notebook). On Colab it is installed first.",
            "import sys",
            "",
            'if "google.colab" in sys.modules:',
            f'    %pip install --quiet "otter-grader=={otter_version()}"',
            "import otter",
            "",
            'grader = otter.Notebook(tests_dir="tests")',
        ]
    )


def otter_version():
    """The otter-grader release pinned in pyproject.toml's ``instructor`` extra."""
    text = (build.ROOT / "pyproject.toml").read_text()
    return re.search(r'"otter-grader==([^"]+)"', text).group(1)


def assignment_notebook(nb, c, exercises):
    """``nb`` (a stamped solution or its exercise notebook) as otter grades it: a grader cell
    after the set-up, ``grader.check`` after each graded exercise, skipped cells tagged."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    skip = _ignored(nb, exercises)
    checks_after = {}
    for e in exercises:
        checks_after.setdefault(e["after"], []).append(e["question"])
    cells = []
    for i, cell in enumerate(nb.cells):
        if i in skip:
            _tag(cell, IGNORE)
        cells.append(cell)
        if cell.get("id") == "setup":
            grader = build._cell("code", grader_source(c), GRADER_CELL)
            cells.append(grader)
        for q in checks_after.get(cell.get("id"), []):
            check = nbformat.v4.new_code_cell(f'grader.check("{q}")')
            check["id"] = f"check-{q}".replace("_", "-")
            cells.append(check)
    nb.cells = cells
    return nb


def test_file(e, rule_names, hidden):
    """The otter test file (exception format) of one exercise: its course check, and with
    ``hidden`` the further cases."""
    lines = [
        f'"""Exercise {e["number"]} · {e["kind"] or "exercise"} — {e["title"]}."""',
        "",
        "from otter.test_files import test_case",
        "",
        "OK_FORMAT = False",
        f'name = "{e["question"]}"',
        "points = 1",
    ]
    for j, call in enumerate(e["checks"]):
        evaluate = re.sub(r"^checks\.check_", "checks.evaluate_", call)
        lines += [
            "",
            "",
            "@test_case(hidden=False)",
            f"def course_check_{j + 1}(env):",
            f'    """The course\'s check: {call.splitlines()[0]}"""',
            "    from course_lib import checks",
            "",
            f"    report = eval({evaluate!r}, {{**env, 'checks': checks}})",
            "    assert report, str(report)",
        ]
    if hidden:
        for call in e["checks"]:
            # check_step(fn, "rule"), or check_step(fn): the rule is fn's name
            m = re.fullmatch(r"checks\.check_step\((\w+)(?:,\s*[\"'](\w+)[\"'])?\)", call)
            rule = m and (m.group(2) or m.group(1))
            if rule in rule_names:
                lines.append(HIDDEN_STEP.format(name=m.group(1), rule=rule).rstrip())
    return "\n".join(lines) + "\n"


def step_rules():
    from course_lib import optimizers

    return {name for name in dir(optimizers) if not name.startswith("_")}


def build_lesson(lesson, c, out, autograder=True):
    """Write the lesson's assignment into ``out`` (created); return its graded exercises."""
    sol = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, c)
    student = build.make_exercise(sol, lesson, c)
    exercises = graded_exercises(sol)
    ids = {cell.get("id") for cell in student.cells}
    lost = [e["number"] for e in exercises if e["after"] not in ids]
    if lost:
        raise ValueError(f"{lesson['file']}: the check of exercise(s) {lost} is solution-only")
    out.mkdir(parents=True, exist_ok=True)
    build.write(assignment_notebook(student, c, exercises), out / lesson["file"])
    (out / "solved").mkdir(exist_ok=True)
    solved = assignment_notebook(sol, c, exercises)
    for cell in solved.cells:  # the solved notebook as a student would hand it in
        if cell.cell_type == "code":
            cell.source = "\n".join(
                line
                for line in cell.source.split("\n")
                if line.strip() not in (build.BEGIN, build.END)
            )
            cell.outputs, cell.execution_count = [], None
    build.write(solved, out / "solved" / lesson["file"])
    rules = step_rules()
    for folder, hidden in (("tests", False), ("solved/tests", False), ("hidden-tests", True)):
        shutil.rmtree(out / folder, ignore_errors=True)
        (out / folder).mkdir()
        for e in exercises:
            (out / folder / f"{e['question']}.py").write_text(test_file(e, rules, hidden))
    if autograder:
        make_autograder(out, c)
    return exercises


def make_autograder(out, c):
    """autograder.zip from hidden-tests/ with ``otter generate`` (requirements: course_lib at
    the course's release, for a grader that installs them; ``otter run`` uses this Python)."""
    # otter's own generate, called here: its command line spends 5 s importing otter, once
    # per lesson.
    from otter.generate import main as otter_generate

    with tempfile.TemporaryDirectory() as tmp:
        req = pathlib.Path(tmp) / "requirements.txt"
        req.write_text(build.install_spec(c) + "\n")
        with contextlib.redirect_stdout(io.StringIO()):
            otter_generate(
                tests_dir=str(out / "hidden-tests"),
                output_path=str(out / "autograder.zip"),
                requirements=str(req),
                no_config=True,
                no_environment=True,
            )
    shutil.rmtree(out / "hidden-tests")


def main(c, names, out=None):
    out = pathlib.Path(out or build.ROOT / "dist" / "release")
    for lesson in build.select_lessons(c, names):
        folder = out / lesson["file"].removesuffix(".ipynb")
        exercises = build_lesson(lesson, c, folder)
        print(f"{folder.relative_to(out.parent)}: {len(exercises)} autograded exercise(s)")
