"""INSTRUCTORS.md (tools/instructors.py): generated from the lessons' structure, the stored
cell times and the tests' tables of wrong answers; stale means `build.py check` fails."""

import re

import lesson_stats
import pytest
from lessons import Exercise

import build
import instructors
from course_lib import checks

COURSE = build.course()
LESSONS = build.existing_lessons(COURSE)


def section_of(text, lesson):
    n = build.lesson_number(lesson["file"])
    start = text.index(f"## {n} · {lesson['title']}\n")
    following = text.find("\n## ", start + 1)
    return text[start : following if following > 0 else len(text)]


def test_instructors_md_is_generated_and_checked():
    assert instructors.OUT in build.expected_files(COURSE)
    assert instructors.OUT.read_text() == instructors.instructors_md(COURSE), (
        "INSTRUCTORS.md is stale: run python tools/build.py stamp"
    )


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson["file"] for lesson in LESSONS])
def test_each_lesson_has_a_plan_whose_minutes_add_up_to_its_class_time(lesson):
    text = section_of(instructors.OUT.read_text(), lesson)
    read = lesson_stats.read_lesson(build.read(build.SOLUTIONS / lesson["file"]))
    rows = re.findall(r"^\| (\d*) \| .*? \| (\d+) \| (\d+) \|", text, re.M)
    assert len(rows) == len(read.core_sections)
    assert sum(int(minutes) for _, minutes, _ in rows) == read.class_minutes()
    assert f"**Class time:** {read.class_minutes()} of 90 minutes" in text
    in_class = [e for e in read.exercises if e.in_class]
    said = text.split("**In class:** ")[1].split("\n")[0]
    for e in in_class:
        assert f"Exercise {e.label}" in said
    home = text.split("**For home:** ")[1].split("\n")[0]
    for e in read.exercises:
        assert (f"Exercise {e.label} " in said) != (f"Exercise {e.label} " in home), e.label


def test_cell_time_comes_from_the_stored_measurements_only():
    lesson = LESSONS[0]
    times = {
        "measured": "2030-01-01",
        "machine": "a test machine",
        "lessons": {lesson["file"]: {"cell_seconds": 7.25, "slowest_cell": 0.91}},
    }
    text = instructors.lesson_section(lesson, COURSE, times, [])
    assert "**Cell time:** 7.2 s top to bottom, slowest cell 0.91 s (a test machine" in text
    text = instructors.lesson_section(lesson, COURSE, {}, [])
    assert "**Cell time:** not measured yet" in text


def test_the_mistakes_listed_are_the_tables_wrong_versions_and_their_hints():
    """A table's new wrong version shows up at once: nothing is typed twice."""
    table = {
        "sweep": Exercise(
            checks.evaluate_lr_sweep,
            right=[],
            wrong={"a made-up slip": (None, "a hint the check prints")},
        )
    }
    said = instructors.mistakes_of("checks.check_lr_sweep(lr_sweep)", [table])
    assert said == [("a made-up slip", "a hint the check prints")]
    assert instructors.mistakes_of("checks.check_step_ratio(step_ratio)", [table]) == []


def test_a_step_rule_lists_the_slips_its_check_recognises():
    from course_lib.checks import steps

    said = instructors.mistakes_of('checks.check_step(adagrad, "adagrad")', [])
    assert [text for _, text in said] == [text for _, _, text in steps.SLIPS["adagrad"]]
    assert instructors.mistakes_of("checks.check_step(adagrad)", []) == said


def test_lesson_03_names_its_explorer_and_its_in_class_exercises():
    lesson = build.select_lessons(COURSE, ["03"])[0]
    text = section_of(instructors.OUT.read_text(), lesson)
    assert "`compare(…)`" in text
    assert "Exercise 3.3 · predict" in text.split("**In class:** ")[1].split("\n")[0]
    assert "η a row, not a column: “pass lr as a column”" in text


# --- slides (tools/build.py stamp_slides) ------------------------------------------------


def slide_type(cell):
    return cell.metadata.get(build.SLIDESHOW, {}).get("slide_type")


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson["file"] for lesson in LESSONS])
def test_slides_follow_the_core_path(lesson):
    """A slide per core section; pictures on sub-slides; takeaways as fragments; exercises,
    Questions and Going further skipped; and the exercise notebook carries the same slides."""
    nb = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, COURSE)
    read = lesson_stats.read_lesson(nb)
    starts = sorted({s.cell for s in read.sections if s.kind != "why"} | {len(nb.cells) - 1})
    assert slide_type(nb.cells[0]) == "slide"  # the title
    for s in read.sections:
        if s.kind in ("core", "summary"):
            assert slide_type(nb.cells[s.cell]) == "slide", s.title
        elif s.kind in ("questions", "further"):
            end = next(i for i in starts if i > s.cell)
            # a cell that also opens the Summary (lesson 01 puts both in one) is its slide
            shared = any(t.cell == s.cell and t.kind == "summary" for t in read.sections)
            first = s.cell + 1 if shared else s.cell
            assert {slide_type(c) for c in nb.cells[first:end]} <= {"skip"}, s.title
    for e in read.exercises:
        if e.cell not in starts:
            assert slide_type(nb.cells[e.cell]) == "skip", e.label
    core_end = min(s.cell for s in read.sections if s.kind not in ("why", "core"))
    for i, cell in enumerate(nb.cells[:core_end]):
        shown = slide_type(cell) != "skip"
        if cell.cell_type == "code" and shown and any(lesson_stats.pictures_of(cell)):
            before = slide_type(nb.cells[i - 1])
            assert slide_type(cell) == "subslide" or before == "subslide", f"cell {i}"
        if cell.cell_type == "markdown" and lesson_stats.TAKEAWAY.search(cell.source):
            assert slide_type(cell) in ("fragment", "slide"), f"cell {i}"
        if "# YOUR CODE HERE" in cell.source or build.BEGIN in cell.source:
            assert slide_type(cell) == "skip", f"cell {i}"
    exercise = build.make_exercise(nb, lesson, COURSE)
    kinds = {c.get("id"): slide_type(c) for c in nb.cells}
    assert all(slide_type(c) == kinds[c.get("id")] for c in exercise.cells)


def test_slide_stamping_is_idempotent():
    lesson = build.select_lessons(COURSE, ["03"])[0]
    once = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, COURSE)
    assert build.stamp(once, lesson, COURSE) == once
