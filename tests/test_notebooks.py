"""Notebook invariants: exercises generated and in sync, no leaks, links that resolve,
solutions executed in order, and exercises that run up to their first unfinished task."""

import json
import pathlib
import re

import nbformat
import pytest

import build  # tools/build.py (pytest's pythonpath includes tools/)

ROOT = pathlib.Path(__file__).resolve().parents[1]

COURSE = build.course()
LESSONS = build.existing_lessons(COURSE)
IDS = [lesson["file"] for lesson in LESSONS]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def cells(folder, lesson):
    return nbformat.read(ROOT / folder / lesson["file"], as_version=4).cells


def test_some_lessons_exist():
    assert LESSONS, "no lesson in solutions/"


def test_generated_files_are_in_sync_with_solutions():
    assert build.cmd_check(COURSE) == []


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_exercises_leak_no_solution(lesson):
    sol, ex = cells("solutions", lesson), cells("notebooks", lesson)
    text = "\n".join(c.source for c in ex)
    for marker in (build.BEGIN, build.END, build.MD_BEGIN, build.MD_END, "NBVAL_"):
        assert marker not in text
    for c in ex:
        assert not c.get("outputs") and not c.get("execution_count")
        assert "solution-only" not in c.get("metadata", {}).get("tags", [])
    blocks = re.findall(
        re.escape(build.BEGIN) + r"\n(.*?)\n\s*" + re.escape(build.END),
        "\n".join(c.source for c in sol if c.cell_type == "code"),
        re.S,
    )
    assert blocks, "a lesson without exercises"
    for block in blocks:
        body = "\n".join(line.strip() for line in block.split("\n") if line.strip())
        if len(body) > 25:
            assert body not in "\n".join(line.strip() for line in text.split("\n")), body[:80]
    answers = re.findall(
        re.escape(build.MD_BEGIN) + r"(.*?)" + re.escape(build.MD_END),
        "\n".join(c.source for c in sol if c.cell_type == "markdown"),
        re.S,
    )
    for answer in answers:
        if len(answer.strip()) > 25:
            assert answer.strip() not in text


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_exercises_are_numbered_and_fail_loudly(lesson):
    n = build.exercise_number(lesson["file"])
    headings = [
        (a, int(b))
        for c in cells("solutions", lesson)
        if c.cell_type == "markdown"
        for a, b, _kind, _title in build.EXERCISE_HEADING.findall(c.source)
    ]
    assert headings and all(a == n for a, _ in headings)
    assert [b for _, b in headings] == list(range(1, len(headings) + 1))
    code = "\n".join(c.source for c in cells("notebooks", lesson) if c.cell_type == "code")
    raised = set(
        re.findall(r'raise NotImplementedError\("Exercise (\d+[a-z]?)\.(\d+): .+"\)', code)
    )
    assert raised == {(a, str(b)) for a, b in headings}


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_solutions_are_executed_top_to_bottom_without_errors(lesson):
    path = ROOT / "solutions" / lesson["file"]
    code = [c for c in cells("solutions", lesson) if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    for c in code:
        assert not [o for o in c.outputs if o.output_type == "error"], c.source[:80]
    assert path.stat().st_size < 3_000_000


@pytest.mark.parametrize("folder", ["notebooks", "solutions"])
@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_header_badge_setup_and_footer(lesson, folder):
    nb = cells(folder, lesson)
    assert [nb[0].id, nb[1].id, nb[-1].id] == ["header", "setup", "footer"]
    badge = re.search(r'href="https://colab\.research\.google\.com/github/([^"]+)"', nb[0].source)
    assert badge.group(1) == (
        f"{COURSE['repository']}/blob/{COURSE['branch']}/{folder}/{lesson['file']}"
    )
    # Offline, a picture from the web is a broken-image icon: the header loads none.
    assert not re.search(r"!\[[^\]]*\]\(http|<img", nb[0].source)
    notation = f"https://github.com/{COURSE['repository']}/blob/{COURSE['branch']}/NOTATION.md"
    assert f"]({notation})" in nb[0].source and "](../NOTATION.md)" in nb[0].source
    assert f'@{COURSE["release"]}"' in nb[1].source and "google.colab" in nb[1].source
    for c in nb:
        if c.cell_type == "markdown":
            for target in LINK.findall(c.source):
                if target.startswith("http"):
                    continue
                file = target.split("#")[0]
                assert (ROOT / folder / file).resolve().exists(), f"{folder}: broken link {target}"


def test_readme_links_and_badges_point_at_existing_files():
    text = (ROOT / "README.md").read_text()
    for target in LINK.findall(text):
        if target.startswith("http"):
            m = re.search(r"colab\.research\.google\.com/github/(.+?)/blob/(.+?)/(.+)$", target)
            if m:
                assert m.group(1) == COURSE["repository"]
                assert (ROOT / m.group(3)).exists(), target
            continue
        assert (ROOT / target.split("#")[0]).exists(), target
    for lesson in LESSONS:
        for folder in ("notebooks", "solutions"):
            assert f"/{folder}/{lesson['file']}" in text


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_exercise_notebook_runs_until_its_first_unfinished_exercise(lesson):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    n = build.exercise_number(lesson["file"])
    nb = nbformat.read(ROOT / "notebooks" / lesson["file"], as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    with pytest.raises(CellExecutionError):
        client.execute()
    failed = [
        (i, o)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert len(failed) == 1
    index, error = failed[0]
    assert error.ename in ("ExerciseNotDone", "NotImplementedError"), error.ename
    assert f"Exercise {n}.1:" in error.evalue, error.evalue
    assert "course_lib" not in json.dumps(error.traceback), "a traceback from course_lib internals"
    first = next(i for i, c in enumerate(nb.cells) if 'NotImplementedError("Exercise' in c.source)
    assert index >= first


def test_lessons_are_selected_by_number_or_file_and_a_typo_is_an_error():
    c = build.course()
    files = [lesson["file"] for lesson in c["lessons"]]
    assert [x["file"] for x in build.select_lessons(c, ["05b"])] == ["05b-hessian-free.ipynb"]
    assert [x["file"] for x in build.select_lessons(c, ["06"])] == ["06-training-a-network.ipynb"]
    assert [x["file"] for x in build.select_lessons(c, [f"solutions/{files[0]}"])] == files[:1]
    assert [x["file"] for x in build.select_lessons(c, [])] == files
    with pytest.raises(SystemExit, match="no lesson is called '5b'"):
        build.select_lessons(c, ["5b"])  # it ran nothing, silently, before


def test_stored_figures_keep_their_picture():
    # Executed under MPLBACKEND=Agg, a figure is stored as "<Figure size …>" alone.
    nb = nbformat.v4.new_notebook()
    shown = {"text/plain": "<Figure size 600x300 with 1 Axes>", "image/png": "iVBOR..."}
    blind = {"text/plain": "<Figure size 600x300 with 1 Axes>"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "fig",
            outputs=[nbformat.v4.new_output("execute_result", data=d) for d in (shown, blind)],
        )
    ]
    assert build.figures_without_picture(nb) == 1
    for lesson in build.existing_lessons():
        assert build.figures_without_picture(build.read(build.SOLUTIONS / lesson["file"])) == 0


def test_not_yet_in_shape_names_lessons_of_the_course():
    numbers = {build.lesson_number(lesson["file"]) for lesson in COURSE["lessons"]}
    assert numbers >= build.NOT_YET_IN_SHAPE, build.NOT_YET_IN_SHAPE - numbers


@pytest.mark.parametrize(
    "lesson",
    [x for x in LESSONS if not build.in_shape(x)],
    ids=[x["file"] for x in LESSONS if not build.in_shape(x)],
)
def test_a_lesson_not_yet_in_shape_does_miss_it(lesson):
    # The allow-list only shrinks: a lesson that follows the shape and meets every goal leaves it.
    structure = build.shape_problems(lesson, enforce=True)
    _, goals = build.lesson_measures(lesson)
    assert structure or not all(g.ok for g in goals), (
        f"{lesson['file']} is in shape and meets every goal: remove "
        f"{build.lesson_number(lesson['file'])!r} from NOT_YET_IN_SHAPE in tools/build.py"
    )
