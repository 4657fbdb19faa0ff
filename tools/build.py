"""The notebook pipeline: solutions/ is the source, everything else is stamped or generated.

    python tools/build.py stamp                 # header, set-up and footer cells; README lesson
                                                # table; INSTRUCTORS.md (tools/instructors.py)
    python tools/build.py exercises             # notebooks/ from solutions/
    python tools/build.py execute [NOTEBOOK…]   # re-execute solutions top to bottom, save outputs
    python tools/build.py all                   # stamp, execute every solution, exercises
    python tools/build.py check                 # exit 1 if anything is out of sync, or a
                                                # lesson in shape leaves the lesson shape
    python tools/build.py stats [NN…] [--json] [--strict]   # each lesson against the shape's
                                                # goals (rules: tools/lesson_stats.py); named
                                                # lessons also get a row per core section
                                                # and their departures from the shape
    python tools/build.py retarget OWNER/REPO [--release TAG]   # point a fork at itself
    python tools/build.py release [NN…] [--out DIR]   # otter-grader assignments, one per
                                                # lesson (tools/release.py; the instructor extra)

The repository, release and lesson list live in course.json, only there.

Exercise generation: in code cells, the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` become ``# YOUR CODE HERE`` and ``raise
NotImplementedError("Exercise N.k: title")`` at the same indentation, where
N.k and the title come from the nearest markdown heading above
("### Exercise N.k — title"; a lesson added after another, 05b, numbers them 5b.k);
in markdown cells, text between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes
"*Your answer here.*"; cells tagged ``solution-only`` are dropped; ``# NBVAL_``
markers, outputs and execution counts are removed.
"""

import argparse
import copy
import dataclasses
import json
import os
import pathlib
import re
import sys
import time

import lesson_stats  # tools/lesson_stats.py: the lesson shape, measured
import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "notebooks"
COURSE_FILE = ROOT / "course.json"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
# "### Exercise N.k · kind — title": (lesson, k, kind or "", title); see lesson_stats.
EXERCISE_HEADING = lesson_stats.EXERCISE_HEADING
STAMPED = lesson_stats.STAMPED  # ids (and tags) of the stamped cells: header, setup, footer
# Lessons not yet rewritten to the lesson shape (README, "The shape of a lesson"): `check`
# does not hold them to it, nor `stats --strict` to its goals. Remove a lesson when it is
# converted; tests/test_notebooks.py fails while a listed lesson already passes both.
NOT_YET_IN_SHAPE: set[str] = set()
README_BEGIN, README_END = "<!-- BEGIN LESSONS -->", "<!-- END LESSONS -->"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "(interactive: run this cell in Jupyter or Colab to get the sliders)"


def course():
    return json.loads(COURSE_FILE.read_text())


def lesson_number(file):
    """The lesson's number as its file names it: "05", or "05b" for a lesson after 05."""
    return file.split("-", 1)[0]


def exercise_number(file):
    """The lesson's number as its exercises are numbered: "5" for 05, "5b" for 05b."""
    return lesson_number(file).lstrip("0")


def existing_lessons(c=None):
    """Lessons of course.json whose solution notebook exists, in course order."""
    return [
        lesson for lesson in (c or course())["lessons"] if (SOLUTIONS / lesson["file"]).exists()
    ]


def colab_url(c, folder, file):
    return (
        f"https://colab.research.google.com/github/{c['repository']}/blob/{c['branch']}/"
        f"{folder}/{file}"
    )


def github_url(c):
    return f"https://github.com/{c['repository']}"


def package_version():
    """course_lib.__version__, read without importing course_lib (the one place it is set)."""
    text = (ROOT / "course_lib" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def install_spec(c):
    return f"{c['package']} @ git+{github_url(c)}@{c['release']}"


# --- stamped cells ---------------------------------------------------------------


def header_source(c, lesson, folder):
    n = lesson_number(lesson["file"])
    other = "solutions" if folder == "notebooks" else "notebooks"
    kind = (
        "**Exercises.** Fill in each `# YOUR CODE HERE`; the check below it says ✔ or ✘."
        if folder == "notebooks"
        else "**Solutions**, executed."
    )
    return "\n".join(
        [
            f"# {n} · {lesson['title']}",
            "",
            colab_badge(colab_url(c, folder, lesson["file"])),
            "",
            f"{kind} The {'solved' if other == 'solutions' else 'exercise'} version: "
            f"[{other}/{lesson['file']}](../{other}/{lesson['file']}).",
            "",
            f"*In this lesson:* {lesson['teaches']}",
            "",
            f"Part of [*{c['title']}*](../README.md#lessons). Symbols: the course's "
            f"[notation table]({notation_url(c)}) (offline: [NOTATION.md](../NOTATION.md)).",
        ]
    )


# A text link styled as a badge, not the badge image from the web: offline (a classroom
# without internet) an image would show a broken-image icon. JupyterLab and Colab keep the
# style; GitHub drops it and shows a plain link.
BADGE_STYLE = (
    "padding:2px 7px;border-radius:3px;background-color:#F9AB00;color:#000;"
    "text-decoration:none;font-size:12px;font-weight:bold"
)


def colab_badge(url):
    return f'<a href="{url}" style="{BADGE_STYLE}">▶ Open in Colab</a>'


def notation_url(c):
    """NOTATION.md on GitHub: a link that works on Colab too, where ../NOTATION.md does not."""
    return f"{github_url(c)}/blob/{c['branch']}/NOTATION.md"


def setup_source(c):
    return "\n".join(
        [
            "# Set-up: on Colab, install course_lib pinned to the course's release (Colab's numpy,",
            "# matplotlib and ipywidgets are kept); elsewhere it is installed already (see README).",
            "import sys",
            "",
            'if "google.colab" in sys.modules:',
            f'    %pip install --quiet "{install_spec(c)}"',
        ]
    )


def footer_source(c, lesson):
    lessons = existing_lessons(c)
    files = [x["file"] for x in lessons]
    i = files.index(lesson["file"])
    parts = []
    if i > 0:
        p = lessons[i - 1]
        parts.append(f"[← {lesson_number(p['file'])} · {p['title']}]({p['file']})")
    parts.append("[Contents](../README.md#lessons)")
    if i + 1 < len(lessons):
        q = lessons[i + 1]
        parts.append(f"[{lesson_number(q['file'])} · {q['title']} →]({q['file']})")
    return "---\n" + " · ".join(parts)


def _cell(kind, source, cell_id):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source)
    cell["id"] = cell_id
    cell["metadata"] = {"tags": [cell_id]}
    if cell_id in STAMPED:
        cell["metadata"][SLIDESHOW] = {"slide_type": "slide" if cell_id == "header" else "skip"}
    return cell


# --- slides ----------------------------------------------------------------------------
# jupyterlab-rise presents a notebook by each cell's metadata.slideshow.slide_type. Stamped
# from the lesson's structure (solutions, with their outputs; the exercise notebook takes
# its solution's), never edited by hand: the title is the header; each core section opens a
# slide; a picture (figure, explorer, race) opens a sub-slide, with the text just before it;
# a takeaway is a fragment; the Summary is the last slide. Skipped: the set-up and import
# cells, every exercise (its heading cell and the code cells under it, to its check),
# Questions, Going further, the footer.
SLIDESHOW = "slideshow"


def slide_types(nb):
    """[slide_type of each cell] of a (stamped) solution notebook, from its structure."""
    types, part, in_exercise = [], "why", False
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("id") in STAMPED:
            types.append("slide" if cell.get("id") == "header" else "skip")
            continue
        kind = "-"
        if cell.cell_type == "markdown":
            starts = None
            for line in cell.source.split("\n"):
                m = lesson_stats.SECTION_HEADING.match(line)
                if m:
                    kind_of = lesson_stats._section_kind(m.group(1), part not in ("why", "core"))
                    starts = starts or kind_of
                    part = kind_of
            in_exercise = bool(EXERCISE_HEADING.search(cell.source))
            if starts in ("core", "summary"):
                kind = "slide"
            elif part not in ("why", "core", "summary") or in_exercise:
                kind = "skip"
            elif lesson_stats.TAKEAWAY.search(cell.source):
                kind = "fragment"
            elif part == "why":
                kind = "subslide"  # why the lesson: after the title
        elif part not in ("why", "core", "summary") or in_exercise or "solution-only" in tags:
            kind = "skip"
            if in_exercise and "checks.check_" in cell.source:
                in_exercise = False  # the exercise ends at its check; the story goes on
        elif any(lesson_stats.pictures_of(cell)):
            kind = "subslide"
            if types and types[-1] == "-" and nb.cells[len(types) - 1].cell_type == "markdown":
                types[-1], kind = "subslide", "-"  # the text that introduces the picture
        elif part == "why":
            kind = "skip"  # the imports
        types.append(kind)
    return types


def stamp_slides(nb):
    """``nb`` with every cell's slide type stamped from the lesson's structure (in place)."""
    for cell, kind in zip(nb.cells, slide_types(nb)):
        cell.setdefault("metadata", {})[SLIDESHOW] = {"slide_type": kind}
    return nb


def stamp(nb, lesson, c, folder="solutions"):
    """Put the header, set-up and footer cells in place, keeping outputs of unchanged cells."""
    nb = copy.deepcopy(nb)
    body = [cell for cell in nb.cells if cell.get("id") not in STAMPED]
    fresh = {
        "header": _cell("markdown", header_source(c, lesson, folder), "header"),
        "setup": _cell("code", setup_source(c), "setup"),
        "footer": _cell("markdown", footer_source(c, lesson), "footer"),
    }
    old = {cell.get("id"): cell for cell in nb.cells if cell.get("id") in STAMPED}
    for key, cell in fresh.items():  # an unchanged stamped cell keeps its outputs
        if key in old and old[key].source == cell.source:
            fresh[key] = old[key]
    nb.cells = [fresh["header"], fresh["setup"]] + body + [fresh["footer"]]
    return stamp_slides(nb) if folder == "solutions" else nb


# --- exercises -------------------------------------------------------------------


def _strip_code(source, number, where):
    out, inside, heading = [], False, number
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped.startswith("# NBVAL_"):
            continue
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"{where}: nested {BEGIN}")
            if heading is None:
                raise ValueError(
                    f"{where}: a solution block with no 'Exercise N.k — title' heading above it"
                )
            indent = line[: len(line) - len(line.lstrip())]
            n, k, title = heading
            out += [
                f"{indent}# YOUR CODE HERE",
                f'{indent}raise NotImplementedError("Exercise {n}.{k}: {title}")',
            ]
            inside = True
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"{where}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def _strip_markdown(source, where):
    pattern = re.compile(re.escape(MD_BEGIN) + r".*?" + re.escape(MD_END), re.S)
    out = pattern.sub("*Your answer here.*", source)
    if MD_BEGIN in out or MD_END in out:
        raise ValueError(f"{where}: unbalanced {MD_BEGIN} / {MD_END}")
    return out


def make_exercise(solution, lesson, c):
    """The exercise notebook generated from a (stamped) solution notebook."""
    number = exercise_number(lesson["file"])
    nb = copy.deepcopy(solution)
    cells, heading = [], None
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        where = f"solutions/{lesson['file']} cell {i}"
        if "solution-only" in tags:
            continue
        if cell.cell_type == "markdown":
            found = EXERCISE_HEADING.findall(cell.source)
            if found:
                n, k, _kind, title = found[-1]
                if n != number:
                    raise ValueError(f"{where}: 'Exercise {n}.{k}' in lesson {number}")
                heading = (n, int(k), title.strip().strip("*"))
            cell.source = _strip_markdown(cell.source, where)
        elif cell.cell_type == "code":
            cell.source = _strip_code(cell.source, heading, where)
            cell.outputs, cell.execution_count = [], None
        slides = cell.metadata.get(SLIDESHOW)
        cell.metadata = {"tags": tags} if tags else {}
        if slides:  # the solution's slide, which its outputs decided
            cell.metadata[SLIDESHOW] = slides
        cells.append(cell)
    nb.cells = cells
    nb.cells = stamp(nb, lesson, c, folder="notebooks").cells
    nb.metadata = clean_metadata(nb.metadata)
    return nb


# --- execution -------------------------------------------------------------------


def clean_metadata(meta):
    """Notebook metadata without what changes from run to run or machine to machine."""
    return {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }


def execute(nb, timeout=120):
    """Run a notebook top to bottom in a fresh kernel; return it and each code cell's seconds."""
    from nbclient import NotebookClient

    # Races name their player from a per-kernel nonce: a fixed one keeps stored outputs
    # identical from one execution to the next (course_lib/animation.py).
    os.environ["COURSE_RACE_NONCE"] = "stored"
    # The kernel inherits the environment: a maintainer's MPLBACKEND=Agg (set for tests)
    # would store every figure as the text "<Figure size …>" without its picture.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(SOLUTIONS)}},
    )
    client.execute()
    seconds = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            # A stored widget view has no live model to attach to: keep a one-line note instead
            # of "Error displaying widget" (and of the widget state, which would weigh the file).
            if WIDGET_VIEW in output.get("data", {}):
                output["data"] = {"text/plain": WIDGET_NOTE}
        timing = cell.metadata.pop("execution", None)
        if cell.cell_type == "code" and timing:
            start = timing.get("iopub.execute_input") or timing.get("shell.execute_reply.started")
            end = timing.get("shell.execute_reply")
            seconds.append(_seconds(start, end))
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
    nb.metadata = clean_metadata(nb.metadata)
    return nb, seconds


def figures_without_picture(nb):
    """How many outputs show a figure only as its repr, "<Figure size … with … Axes>"."""
    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join(data.get("text/plain", ""))
            count += text.startswith("<Figure size") and "image/png" not in data
    return count


def _seconds(start, end):
    from datetime import datetime

    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds() if start and end else float("nan")


# --- README ------------------------------------------------------------------------


def readme_table(c):
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    lines = ["| # | Lesson | What it teaches | Exercises | Solutions |", "|---|---|---|---|---|"]
    have = {lesson["file"] for lesson in existing_lessons(c)}
    for lesson in c["lessons"]:
        n, f = lesson_number(lesson["file"]), lesson["file"]
        if f in have:
            lines.append(
                f"| {n} | [{lesson['title']}](solutions/{f}) | {lesson['teaches']} "
                f"| [![Open In Colab]({badge})]({colab_url(c, 'notebooks', f)}) "
                f"[notebook](notebooks/{f}) "
                f"| [![Open In Colab]({badge})]({colab_url(c, 'solutions', f)}) "
                f"[notebook](solutions/{f}) |"
            )
        else:
            lines.append(f"| {n} | {lesson['title']} | {lesson['teaches']} | coming | coming |")
    binder = (
        f"[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/"
        f"{c['repository']}/{c['branch']}?urlpath=lab/tree/notebooks)"
    )
    return "\n".join([binder, "", *lines])


def stamp_readme(text, c):
    pattern = re.compile(re.escape(README_BEGIN) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md lacks the {README_BEGIN} … {README_END} markers")
    return pattern.sub(lambda _: f"{README_BEGIN}\n{readme_table(c)}\n{README_END}", text)


# --- commands ----------------------------------------------------------------------


def read(path):
    return nbformat.read(path, as_version=4)


def write(nb, path):
    text = nbformat.writes(nb) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _instructors():
    import instructors  # tools/instructors.py (it imports this module)

    return instructors


def expected_files(c=None):
    """Every generated file's expected text, from the current solutions: {path: text}."""
    c = c or course()
    out = {}
    for lesson in existing_lessons(c):
        sol = stamp(read(SOLUTIONS / lesson["file"]), lesson, c)
        out[SOLUTIONS / lesson["file"]] = nbformat.writes(sol) + "\n"
        out[EXERCISES / lesson["file"]] = nbformat.writes(make_exercise(sol, lesson, c)) + "\n"
    out[ROOT / "README.md"] = stamp_readme((ROOT / "README.md").read_text(), c)
    instructors = _instructors()
    out[instructors.OUT] = instructors.instructors_md(c)
    return out


def cmd_stamp(c):
    for lesson in existing_lessons(c):
        path = SOLUTIONS / lesson["file"]
        write(stamp(read(path), lesson, c), path)
    (ROOT / "README.md").write_text(stamp_readme((ROOT / "README.md").read_text(), c))
    instructors = _instructors()
    text = instructors.instructors_md(c)
    if not instructors.OUT.exists() or instructors.OUT.read_text() != text:
        instructors.OUT.write_text(text)


def cmd_exercises(c):
    EXERCISES.mkdir(exist_ok=True)
    wanted = set()
    for lesson in existing_lessons(c):
        sol = stamp(read(SOLUTIONS / lesson["file"]), lesson, c)
        write(make_exercise(sol, lesson, c), EXERCISES / lesson["file"])
        wanted.add(lesson["file"])
    for stale in EXERCISES.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
            print("removed", stale.relative_to(ROOT))


def select_lessons(c, names):
    """The lessons named by file name, path or number ("05b", "06", "solutions/07-….ipynb").

    No names: every lesson. A name that matches no lesson is an error, not a silent no-op.
    """
    lessons = existing_lessons(c)
    if not names:
        return lessons
    chosen = []
    for name in names:
        name = pathlib.Path(name).name
        found = [
            lesson
            for lesson in lessons
            if lesson["file"] == name or lesson["file"].startswith(name + "-")
        ]
        if not found:
            sys.exit(
                f"no lesson is called {name!r}: give a number or a file name, one of "
                + ", ".join(lesson["file"] for lesson in lessons)
            )
        chosen += [lesson for lesson in found if lesson not in chosen]
    return chosen


def cmd_execute(c, names):
    for lesson in select_lessons(c, names):
        path = SOLUTIONS / lesson["file"]
        started = time.perf_counter()
        nb, seconds = execute(stamp(read(path), lesson, c))
        write(nb, path)
        print(
            f"{lesson['file']}: {time.perf_counter() - started:.1f} s, "
            f"slowest cell {max(seconds, default=0):.2f} s"
        )


def cmd_check(c):
    problems = []
    for path, text in expected_files(c).items():
        if not path.exists() or path.read_text() != text:
            problems.append(
                f"{path.relative_to(ROOT)} is out of date: run python tools/build.py "
                + ("stamp" if path.parent != EXERCISES else "exercises")
            )
    if c["release"] != f"v{package_version()}":
        problems.append(
            f"course.json's release {c['release']} is not v + course_lib.__version__ "
            f"({package_version()}): the set-up cells would install another version"
        )
    for lesson in existing_lessons(c):
        blind = figures_without_picture(read(SOLUTIONS / lesson["file"]))
        if blind:
            problems.append(
                f"solutions/{lesson['file']} stores {blind} figure(s) as text without the "
                "picture (executed with a non-inline MPLBACKEND?): run python tools/build.py "
                f"execute {lesson['file']}"
            )
    for lesson in existing_lessons(c):
        problems += shape_problems(lesson)
    listed = {lesson["file"] for lesson in c["lessons"]}
    for folder in (SOLUTIONS, EXERCISES):
        for nb in folder.glob("*.ipynb"):
            if nb.name not in listed:
                problems.append(f"{nb.relative_to(ROOT)} is not a lesson of course.json")
    return problems


def in_shape(lesson):
    """Whether the lesson is held to the lesson shape (it is not in NOT_YET_IN_SHAPE)."""
    return lesson_number(lesson["file"]) not in NOT_YET_IN_SHAPE


def shape_problems(lesson, nb=None, enforce=None):
    """One line per departure from the lesson shape: every rule for a lesson in shape; for
    the others only what is wrong in any lesson (a malformed exercise heading, an unknown
    kind, an ``in-class`` tag on a cell without an exercise)."""
    nb = nb if nb is not None else read(SOLUTIONS / lesson["file"])
    where = f"solutions/{lesson['file']}"
    read_back = lesson_stats.read_lesson(nb)
    problems = lesson_stats.malformed_headings(nb, where)
    if in_shape(lesson) if enforce is None else enforce:
        problems += lesson_stats.structure_problems(read_back, where)
    else:
        problems += lesson_stats.kind_problems(read_back, where) + [
            f"{where} cell {cell}: tagged '{lesson_stats.IN_CLASS}' but holds no exercise heading"
            for cell in read_back.misplaced_tags
        ]
    cell = lambda p: int(m.group(1)) if (m := re.search(r" cell (\d+): ", p)) else -1
    return sorted(problems, key=cell)  # in the order an author reads the notebook


def lesson_measures(lesson, nb=None):
    """(measures, goals) of a lesson, from its solution notebook (see tools/lesson_stats.py)."""
    nb = nb if nb is not None else read(SOLUTIONS / lesson["file"])
    m = lesson_stats.measures(lesson_stats.read_lesson(nb))
    return m, lesson_stats.goals(m)


def cmd_stats(c, names, as_json=False, strict=False, out=print):
    """Print each lesson's measures beside the goals; return 1 under --strict when a lesson
    in shape misses a goal."""
    rows, missed, report = [], [], []
    for lesson in select_lessons(c, names):
        n = lesson_number(lesson["file"])
        m, goals = lesson_measures(lesson)
        rows.append((n, m, goals))
        failed = [g.name for g in goals if not g.ok]
        if in_shape(lesson) and failed:
            missed.append(f"{lesson['file']} misses: {', '.join(failed)}")
        report.append(
            {
                "lesson": n,
                "file": lesson["file"],
                "in_shape": in_shape(lesson),
                **m,
                "goals": [dataclasses.asdict(g) for g in goals],
                "shape_problems": shape_problems(lesson, enforce=True),
            }
        )
    if as_json:
        out(json.dumps({"lessons": report}, indent=1, ensure_ascii=False))
    else:
        for (n, m, goals), lesson, r in zip(rows, select_lessons(c, names), report):
            out(lesson_stats.format_lesson(f"{n} · {lesson['title']}", m, goals, in_shape(lesson)))
            if names:  # what an author converting the lesson needs: where, and what is left
                out(lesson_stats.format_sections(m))
                problems = r["shape_problems"]
                out(f"  structure: {len(problems)} departure(s) from the lesson shape")
                out("\n".join(f"    {p}" for p in problems[:40]))
            out("")
        if len(rows) > 1:
            out(lesson_stats.format_table(rows))
        if strict and missed:
            out("\n".join(["", "goals missed by lessons in shape:"] + missed))
    return 1 if strict and missed else 0


def cmd_retarget(c, repository, release):
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        sys.exit("retarget takes OWNER/REPO, as on GitHub")
    c["repository"] = repository
    if release:
        if release != f"v{package_version()}":
            sys.exit(
                f"the release must be v + course_lib.__version__ (v{package_version()}): "
                "change __version__ in course_lib/__init__.py first"
            )
        c["release"] = release
    COURSE_FILE.write_text(json.dumps(c, indent=2, ensure_ascii=False) + "\n")
    pyproject = ROOT / "pyproject.toml"
    text = re.sub(
        r'(Repository = )"[^"]*"', lambda m: f'{m.group(1)}"{github_url(c)}"', pyproject.read_text()
    )
    pyproject.write_text(text)
    cmd_stamp(c)
    cmd_exercises(c)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "command",
        choices=["stamp", "exercises", "execute", "all", "check", "stats", "retarget", "release"],
    )
    parser.add_argument("args", nargs="*")
    parser.add_argument("--release")
    parser.add_argument("--out", help="release: where the assignments go (dist/release)")
    parser.add_argument("--json", action="store_true", help="stats: machine-readable")
    parser.add_argument(
        "--strict", action="store_true", help="stats: exit 1 when a lesson in shape misses a goal"
    )
    a = parser.parse_intermixed_args(argv)
    c = course()
    if a.command == "stamp":
        cmd_stamp(c)
    elif a.command == "exercises":
        cmd_stamp(c)
        cmd_exercises(c)
    elif a.command == "execute":
        cmd_stamp(c)
        cmd_execute(c, a.args)
        cmd_exercises(c)
    elif a.command == "all":
        cmd_stamp(c)
        cmd_execute(c, [])
        cmd_exercises(c)
    elif a.command == "check":
        problems = cmd_check(c)
        print("\n".join(problems) or "everything is in sync")
        return 1 if problems else 0
    elif a.command == "stats":
        return cmd_stats(c, a.args, as_json=a.json, strict=a.strict)
    elif a.command == "retarget":
        if len(a.args) != 1:
            parser.error("retarget takes OWNER/REPO")
        cmd_retarget(c, a.args[0], a.release)
    elif a.command == "release":
        import release  # tools/release.py: needs otter-grader (the instructor extra)

        release.main(c, a.args, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
