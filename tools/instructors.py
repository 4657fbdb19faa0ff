"""INSTRUCTORS.md, generated: ``python tools/build.py stamp`` writes it, ``check`` compares.

Per lesson, from the lesson's structure (tools/lesson_stats.py), never typed:

- a 90-minute plan: each core section with its minutes (lesson_stats.MINUTES: 3 a section,
  2 a picture, 1 a printed table, 8 an exercise done in class), the explorers and races to
  drive in it (code cells tagged ``live``), the question to put to the room before moving
  a slider (the section's opening question), and the exercise done in class (its heading
  cell tagged ``in-class``);
- what to leave for home: the other exercises, the Questions, the Going further sections;
- the lesson's cell time, from the stored measurements of ``tools/benchmark.py notebooks
  --save`` (``tools/notebook_times.json``), never measured here;
- the mistakes each check catches: for a step rule, the slips its check recognises
  (``course_lib.checks.steps.SLIPS``, with the hint it prints); for every check, the wrong
  versions and hint words of the tests' tables (``tests/lessons.py``: every table given to
  ``exercise_tests``), which the tests prove the check rejects with that hint.
"""

import ast
import importlib
import json
import re
import sys

import lesson_stats

import build
import release

ROOT = build.ROOT
TIMES = ROOT / "tools" / "notebook_times.json"
OUT = ROOT / "INSTRUCTORS.md"
HEADING3 = re.compile(r"^###\s+(.*?)\s*$", re.M)


def registered_tables():
    """Every table of exercises the tests check (tests/lessons.py REGISTERED, filled when
    the test modules that call exercise_tests or answer_tests are imported), in the order of
    their modules."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    lessons = importlib.import_module("lessons")
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text()
        if "exercise_tests(" in text or "answer_tests(" in text:  # the modules with such tables
            importlib.import_module(path.stem)
    # by module, whatever order they were imported in (a test run picks its own)
    order = sorted(range(len(lessons.REGISTERED)), key=lambda i: (lessons.REGISTERED[i][0], i))
    return [lessons.REGISTERED[i][1] for i in order]


def _call_parts(call):
    """(evaluate name, literal extra arguments or None) of a ``checks.check_x(fn, …)`` call."""
    node = ast.parse(call, mode="eval").body
    name = node.func.attr.replace("check_", "evaluate_", 1)
    try:
        extra = tuple(ast.literal_eval(a) for a in node.args[1:])
    except ValueError:
        extra = None
    if name == "evaluate_step" and not extra and isinstance(node.args[0], ast.Name):
        extra = (node.args[0].id,)  # check_step(fn): the rule is fn's name
    return name, extra


def mistakes_of(call, tables):
    """[(label or "", what the check says)] for one check call, from the checks' slips and
    the tests' tables of wrong versions."""
    from course_lib.checks import steps

    name, extra = _call_parts(call)
    out = []
    if name == "evaluate_step" and extra and extra[0] in steps.SLIPS:
        out += [("", text) for _, _, text in steps.SLIPS[extra[0]] if isinstance(text, str)]
    for table in tables:
        for exercise in table.values():
            if getattr(exercise.evaluate, "__name__", "") != name:
                continue
            if extra is not None and (callable(exercise.args) or tuple(exercise.args) != extra):
                continue  # (arguments measured when a test runs are never literals)
            for label, entry in exercise.wrong.items():
                hint = entry[1] if isinstance(entry, tuple) and len(entry) >= 2 else ""
                if not any(hint and hint in said for _, said in out):
                    out.append((label, hint))
    return out


def _one_line(text):
    return re.sub(r"\s+", " ", text).strip()


def _question(opening):
    """The sentence of a section's opening paragraph that asks a question, or ""."""
    text = _one_line(opening) if "?" in opening else ""
    found = re.findall(r"(?:[^.?!]|\.\d|\$[^$]*\$)*\?", text)  # a decimal or formula is no end
    return found[0].strip().replace("|", "\\|") if found else ""


def _live_cells(nb, sections):
    """{section heading cell: [what each explorer or race is called]}: the ``###`` heading
    above it in its section, else the function its cell calls."""
    starts = sorted(s.cell for s in sections)
    out, heading = {}, None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.split("\n"):
                if lesson_stats.SECTION_HEADING.match(line) or lesson_stats.EXERCISE_HEADING.match(
                    line
                ):
                    heading = None
                elif HEADING3.match(line):
                    heading = HEADING3.match(line).group(1)
        elif "live" in cell.get("metadata", {}).get("tags", []):
            owner = max((s for s in starts if s <= i), default=None)
            call = re.findall(r"^(?:\w+\s*=\s*)?(\w+)\(", cell.source, re.M)
            what = heading or (f"`{call[-1]}(…)`" if call else f"cell {i}")
            out.setdefault(owner, []).append(what)
    return out


def _questions(section):
    """How many questions a ``## Questions`` section asks."""
    text = "\n".join(t for _, t in section.markdown)
    return sum(bool(lesson_stats.QUESTION.match(line)) for line in text.split("\n"))


def lesson_section(lesson, c, times, tables):
    """The INSTRUCTORS.md section of one lesson."""
    nb = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, c)
    read = lesson_stats.read_lesson(nb)
    n = build.lesson_number(lesson["file"])
    live = _live_cells(nb, read.sections)
    m = lesson_stats.MINUTES
    lines = [f"## {n} · {lesson['title']}", ""]
    if not build.in_shape(lesson):
        lines += [
            "*Not yet in the lesson shape: the plan below follows its current sections and may "
            "not fit 90 minutes.*",
            "",
        ]
    measured = times.get("lessons", {}).get(lesson["file"])
    if measured:
        lines += [
            f"**Cell time:** {measured['cell_seconds']:.1f} s top to bottom, slowest cell "
            f"{measured['slowest_cell']:.2f} s ({times['machine']}, {times['measured']}"
            + (
                f", load average {times['load_average']} while measured"
                if times.get("load_average")
                else ""
            )
            + ").",
            "",
        ]
    else:
        lines += [
            "**Cell time:** not measured yet (`python tools/benchmark.py notebooks "
            f"{lesson['file']} --save`).",
            "",
        ]
    lines += [
        f"**Class time:** {read.class_minutes()} of 90 minutes by the course's estimate "
        f"({m['section']} a section, {m['picture']} a picture, {m['table']} a printed table, "
        f"{m['in-class exercise']} an exercise done in class).",
        "",
        "| § | Section | min | Pictures | Drive live | Ask the room first |",
        "|---|---|---|---|---|---|",
    ]
    in_class, home = [], []
    for s in read.core_sections:
        done_here = [e for e in s.exercises if e.in_class]
        minutes = (
            m["section"]
            + m["picture"] * s.pictures
            + m["table"] * s.tables
            + m["in-class exercise"] * len(done_here)
        )
        drive = "; ".join(live.get(s.cell, [])) or "—"
        title = re.sub(r"^\d+\.\s*", "", s.title).replace("|", "\\|")
        lines.append(
            f"| {s.number or ''} | {title} | {minutes} | {s.pictures} | {drive} "
            f"| {_question(s.opening) or '—'} |"
        )
        in_class += done_here
        home += [e for e in s.exercises if not e.in_class]
    later = [s for s in read.sections if s.kind in ("summary", "questions", "further", "after")]
    home += [e for s in later for e in s.exercises]

    def named(e):
        return f"{e.label}{f' · {e.kind}' if e.kind else ''} — {e.title}"

    lines += [
        "",
        "**In class:** "
        + ("; ".join(f"Exercise {named(e)}" for e in in_class) or "no exercise tagged in-class yet")
        + ".",
        "",
        "**For home:** "
        + "; ".join(
            [f"Exercise {named(e)}" for e in home]
            + [f"the {_questions(s)} Questions" for s in later if s.kind == "questions"]
            + [f"*{s.title}*" for s in later if s.kind == "further"]
        )
        + ".",
        "",
    ]
    graded = release.graded_exercises(nb)
    if graded:
        lines += ["**Common mistakes, as the checks name them:**", ""]
        for e in graded:
            said = [x for call in e["checks"] for x in mistakes_of(call, tables)]
            lines.append(
                f"- *Exercise {e['number']} — {e['title']}*"
                + (
                    ": its wrong answers are tested (tests/), but in no table this page reads yet"
                    if not said
                    else ":"
                )
            )
            for label, text in said:
                text = _one_line(text).removeprefix("hint: ")
                lines.append(
                    f"  - {label}{': ' if label and text else ''}" + (f"“{text}”" if text else "")
                )
        lines.append("")
    return "\n".join(lines)


def instructors_md(c=None):
    """INSTRUCTORS.md's text."""
    c = c or build.course()
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    tables = registered_tables()
    head = [
        "# For instructors",
        "",
        "<!-- Generated by tools/build.py stamp (tools/instructors.py) from the solutions, the",
        "checks and the tests' tables of wrong answers: do not edit; build.py check fails when",
        "it is stale. -->",
        "",
        "Each lesson's core is one 90-minute class: present it from the solution notebook "
        "(`solutions/`) or as slides (JupyterLab with the `lab` extra: *Render as Reveal "
        "Slideshow*, Alt+R; explorers render only in the notebook view for now: README, *For "
        "instructors*), drive its explorers and races live, do the exercise marked *in class* "
        "together, and leave the rest for home. `python tools/build.py release` builds an "
        "otter-grader assignment per lesson (README, *For instructors*).",
        "",
        "Minutes are the course's estimate from the lesson's structure; cell times were "
        "measured by `python tools/benchmark.py notebooks --save` on the machine named.",
        "",
    ]
    body = [lesson_section(lesson, c, times, tables) for lesson in build.existing_lessons(c)]
    return "\n".join(head + body).rstrip() + "\n"
