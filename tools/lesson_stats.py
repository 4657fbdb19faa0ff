"""How a lesson measures against the course's lesson shape: ``python tools/build.py stats``.

Every counting rule, as the code applies it:

What is read. The solution notebook, as a student reads it: the stamped cells (header,
set-up, footer), cells tagged ``solution-only`` and the markdown answers between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` are left out. Outputs are the
stored ones.

Sections. A markdown line ``## …`` (outside a fenced code block) starts a section; one
markdown cell may hold several. ``## Summary`` and ``## Questions`` are named so; a heading
starting ``## Going further`` opens an optional section. Every other ``##`` section before
the first Summary, Questions or Going further is a **core section** (numbered ``## N. …``
in a lesson in shape); after them, it is out of place. Text and cells before the first
``##`` are the lesson's *why*: on the core path, not a section. The **core path** is every
cell before the first ``## Summary``, ``## Questions`` or ``## Going further``; the
**whole lesson** is every cell. A section owns the cells from its heading to the next.

Prose words. The words of the markdown cells: a word is a whitespace-separated token with
at least one letter or digit. A formula (``$…$``, ``$$…$$``, ``\\[…\\]``, a LaTeX
environment), a code span and a fenced code block each count as one word. A link counts
its text, not its address; an HTML tag or comment counts nothing. Headings count their
words, not the numbers that number them (``## 2.``, ``Exercise 2.3 · derive —``); a
numbered list counts its items' words, not its markers (``1.``, ``**1.**``, ``**Q1.**``);
tables count their words.

Numbers. The numbers a student reads in running text, inline formulas included: a maximal
run of digits with its decimal point, thousands separators (``3,590``, ``10 000``), exponent
(``1e-6``; ``10⁻³`` and ``$10^{-3}$`` are one number) or LaTeX fraction (``\\tfrac12``,
``\\frac{1}{2}``), or a vulgar fraction (½). In an inline formula a one-digit integer is
the formula's constant (the 1 of ``$1 - \\eta\\lambda$``, the 2 of ``$2/\\lambda$``) and
is not counted, unless it is the whole formula (``$4$``) or a relation's value
(``$s = 2$``, ``$\\eta \\approx 1$``); every longer number there counts (``$\\eta = 0.1$``).
Never counted: digits inside a name (``L2``, ``β2``, ``float64``, ``Q1``); sub- and
superscripts (``x_1``, ``x_{t+1}``, ``β₂``, ``x²``, ``x^2``); references to a lesson,
exercise, section, question, figure or chapter (``lesson 05``, ``lessons 02–05``,
``Exercises 1.3 and 1.4``, ``§4``, ``section 2``); years (a four-digit 1900–2039 in text,
unless a count follows: ``2000 steps``); the numbers of headings and list items; anything
in display formulas, code spans, code blocks and markdown tables (a small table is where
measured numbers belong). Reported per 100 prose words.

Pictures. In a code cell's stored outputs: an image (png, jpeg, svg, gif) is a
**figure**; an explorer's output (a widget view, or the note "(interactive: …)" that
``build.py execute`` stores in its place) is an **explorer**; a race's output (its text
``<Race of …>``) is a **race**. An image in markdown (``![…](…)``, ``<img>``) is a figure
too. Pictures = figures + explorers + races.

Printed tables. A code cell whose text output (stdout and ``text/plain`` results; a
figure's ``<Figure …>`` and an explorer's note aside) has at least 3 **tabular lines**:
lines with at least two numbers (as above: digits inside names and sub/superscripts left
out) or with at least two column gaps (two or more spaces, a tab, or ``|`` between text).
A check's report (a line starting ✔ or ✘ and the indented lines under it) is never
tabular. A cell is at most one table.

"…: True" lines. Output lines with ``True`` or ``False`` right after a colon (``equal:
True``), or ending with one after a comma or "?" (``…, True``); a check's report line
aside (``SGD(nesterov=True)`` is not one). A claim's evidence is a test, not such a line.

Questions and takeaways. A section opens with a question when its opening paragraph (the
first paragraph of prose after its heading, other headings skipped, in the same or a later
markdown cell) holds a "?". A takeaway is a markdown line starting ``**Takeaway.**``.

Questions. Each question of ``## Questions`` starts a line ``**Q1.**``, ``**Q2.**``, … in
order (``build.py check``; the old ``**1.**`` is reported).

Exercises. Headings ``### Exercise N.k · kind — title`` (``EXERCISE_HEADING``), kind one
of ``KINDS``. An exercise is done in class when its heading's cell is tagged ``in-class``;
the others are homework.

Class time, in minutes (``MINUTES``): 3 per core section + 2 per core picture + 1 per core printed table
+ 8 per exercise done in class.

Goals (``goals``, limits in ``MAX_*``): core prose ≤ 2,000 words; core numbers ≤ 1.5 per 100 words; a picture
in every core section; class time ≤ 90 min; no "…: True" line in the whole lesson; at
least one exercise whose kind is not *implement*; at least one exercise done in class.
"""

import dataclasses
import re

KINDS = ("implement", "derive", "predict", "design", "diagnose")
# The goals of a lesson's core path, and the class-time estimate (minutes per item).
MAX_CORE_WORDS, MAX_NUMBERS_PER_100_WORDS, MAX_CLASS_MINUTES = 2000, 1.5, 90
MINUTES = {"section": 3, "picture": 2, "table": 1, "in-class exercise": 8}
IN_CLASS = "in-class"
STAMPED = ("header", "setup", "footer")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE_START = "(interactive:"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)

# "### Exercise 2.3 · design — title": groups (lesson, k, kind or "", title). The separator
# before the title may be —, –, - or :, as it always could; the kind is optional here so that
# lessons not yet in shape parse (build.py check reports a missing kind for the others).
EXERCISE_HEADING = re.compile(
    r"^#+\s*Exercise\s+(\d+[a-z]?)\.(\d+)\s*(?:·\s*([A-Za-z]+)\s*)?[—:–-]\s*(.+?)\s*$", re.M
)
EXERCISE_MENTION = re.compile(r"^#+\s*Exercise\s+\d", re.M)  # a heading that means to be one
SECTION_HEADING = re.compile(r"^##(?!#)\s*(.*?)\s*$")
NUMBERED = re.compile(r"^(\d+)\.\s+\S")
QUESTION = re.compile(r"^\s*\*\*(?:Q(\d+)|\d+)\.\*\*")  # **Q1.** (group 1), or the old **1.**
TAKEAWAY = re.compile(r"^\s*(?:>\s*)?\*\*Takeaway\.\*\*", re.M)
TRUE_LINE = re.compile(r":\s*(?:True|False)\b|[,?]\s*(?:True|False)\W*$")

# --- prose: words and numbers ------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.S | re.M)
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\s)([^$]+?)(?<![\\\s])\$")
IMAGE_MD = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>", re.I)
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
HTML = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>\n]*>", re.S)
HEADING_LINE = re.compile(
    r"^(#+)\s*(?:Exercise\s+\d+[a-z]?\.\d+\s*(?:·\s*[A-Za-z]+\s*)?[—:–-]?|\d+(?:\.\d+)*\.?(?=\s))?",
    re.M,
)
LIST_MARKER = re.compile(r"^(\s*)(?:\*\*)?(?:Q\s*)?\d+[.)](?:\*\*)?\s+", re.M)
TABLE_LINE = re.compile(r"^\s*\|.*$", re.M)
WORD = re.compile(r"\w")

REFERENCE = re.compile(
    r"(?:\b(?:lessons?|exercises?|sections?|questions?|figures?|chapters?)\s+|§+\s*)"
    r"\d+[a-z]?(?:\.\d+)?"
    r"(?:\s*(?:,|–|—|-|\band\b|\bor\b|\bto\b)\s*\d+[a-z]?(?:\.\d+)?(?![\d.]*\s*%))*",
    re.I,
)
SCRIPT = re.compile(r"[_^][-−]?(?:\{(?:[^{}]|\{[^{}]*\})*\}|\\?\w+)")
FRACTION = re.compile(r"\\[dt]?frac\s*(?:\{\s*\d+\s*\}|\d)\s*(?:\{\s*\d+\s*\}|\d)")
NUMBER = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:[,\u2009\u202f\u00a0 ]\d{3}(?!\d))+|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?"
    r"|[½⅓⅔¼¾⅕⅙⅛]"
)
# In printed output, a space separates columns, not thousands.
OUTPUT_NUMBER = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?")
YEAR = re.compile(
    r"(?<![\w.,])(?:19\d\d|20[0-3]\d)(?![\w.,]\d)"
    r"(?!\s*(?:steps|epochs|iterations|examples|images|samples|parameters|weights|runs|"
    r"seeds|points|updates|evaluations|times|batches|words|cells)\b)"
)
RELATION = re.compile(r"(?:[=<>≈≤≥∼]|\\(?:approx|leq?|geq?|lt|gt|sim|simeq|ll|gg))\s*[-−+]?\s*$")
PLACEHOLDER = "⟨f⟩"


def _strip_markup(md):
    """(text for words, text for numbers) of a markdown fragment: see the module's rules."""
    md = MD_SOLUTION.sub(" ", md)
    md = FENCE.sub(f" {PLACEHOLDER} ", md)
    md = re.sub(r"<!--.*?-->", " ", md, flags=re.S)
    md = DISPLAY_MATH.sub(f" {PLACEHOLDER} ", md)
    md = CODE_SPAN.sub(f" {PLACEHOLDER} ", md)
    md = IMAGE_MD.sub(" ", md)
    md = LINK.sub(r"\1", md)
    md = HTML.sub(" ", md)
    md = HEADING_LINE.sub(" ", md)
    md = LIST_MARKER.sub(r"\1", md)
    words_text = INLINE_MATH.sub(f" {PLACEHOLDER} ", md)
    numbers_text = TABLE_LINE.sub(" ", md)
    return words_text, numbers_text


def count_words(md):
    """Prose words of a markdown text (a formula, code span or code block is one word)."""
    words_text, _ = _strip_markup(md)
    return sum(1 for token in words_text.split() if token == PLACEHOLDER or WORD.search(token))


def find_numbers(md):
    """The numbers a student reads in a markdown text's running prose (see the module's rules)."""
    _, text = _strip_markup(md)
    found = []
    pieces = INLINE_MATH.split(text)  # even: text, odd: an inline formula's content
    for i, piece in enumerate(pieces):
        piece = REFERENCE.sub(" ", piece)
        if i % 2:
            piece = SCRIPT.sub(" ", FRACTION.sub(" ½ ", piece))
            found += [
                m.group()
                for m in NUMBER.finditer(piece)
                if len(m.group()) > 1  # a one-digit integer is a formula's constant …
                or piece.strip() == m.group()  # … unless it is the whole formula
                or RELATION.search(piece[: m.start()])  # … or the value of a relation
            ]
        else:
            found += NUMBER.findall(YEAR.sub(" ", SCRIPT.sub(" ", piece)))
    return found


def output_numbers(line):
    """Numbers in a line of printed output (digits inside names and after _ left out)."""
    return OUTPUT_NUMBER.findall(SCRIPT.sub(" ", line))


# --- cells and outputs -------------------------------------------------------------------


def _text(value):
    return "".join(value) if isinstance(value, list) else (value or "")


def output_lines(cell):
    """The lines of a code cell's text outputs (figure reprs and explorer notes left out)."""
    lines = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            if out.get("name") == "stdout":
                lines += _text(out.get("text")).split("\n")
            continue
        data = out.get("data", {})
        text = _text(data.get("text/plain"))
        if not text or any(k in data for k in IMAGE_TYPES + (WIDGET_VIEW, "text/html")):
            continue
        if text.startswith(("<Figure size", WIDGET_NOTE_START)):
            continue
        lines += text.split("\n")
    return lines


def pictures_of(cell):
    """(figures, explorers, races) that a code cell's stored outputs show."""
    figures = explorers = races = 0
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        text = _text(data.get("text/plain"))
        if WIDGET_VIEW in data or text.startswith(WIDGET_NOTE_START):
            explorers += 1
        elif text.startswith("<Race of"):
            races += 1
        elif any(k in data for k in IMAGE_TYPES):
            figures += 1
    return figures, explorers, races


def is_tabular(line):
    stripped = line.strip()
    if not stripped or stripped.startswith(("✔", "✘")):
        return False
    gaps = len(re.findall(r"\S(?: {2,}|\t| ?\| ?)(?=\S)", stripped))
    return len(output_numbers(stripped)) >= 2 or gaps >= 2


def is_printed_table(cell):
    count, in_report = 0, False
    for line in output_lines(cell):
        # A check's report: its ✔/✘ line and the indented lines under it (its cases).
        in_report = line.lstrip().startswith(("✔", "✘")) or (in_report and line[:1].isspace())
        count += not in_report and is_tabular(line)
    return count >= 3


def true_lines(cell):
    """The cell's "…: True" output lines."""
    return [
        line.strip()
        for line in output_lines(cell)
        if TRUE_LINE.search(line) and not line.strip().startswith(("✔", "✘"))
    ]


# --- a lesson ----------------------------------------------------------------------------


@dataclasses.dataclass
class Section:
    title: str
    cell: int  # index of the cell holding its heading
    kind: str  # "why", "core", "summary", "questions", "further", "after"
    number: int | None = None
    words: int = 0
    numbers: int = 0
    figures: int = 0
    explorers: int = 0
    races: int = 0
    tables: int = 0
    takeaways: int = 0
    opening: str = ""  # the first paragraph of prose after the heading
    markdown: list = dataclasses.field(default_factory=list)  # (cell, text) of its markdown
    exercises: list = dataclasses.field(default_factory=list)

    @property
    def pictures(self):
        return self.figures + self.explorers + self.races

    @property
    def question(self):
        return "?" in self.opening


@dataclasses.dataclass
class Exercise:
    label: str  # "2.3"
    kind: str  # "" when the heading names none
    title: str
    cell: int
    in_class: bool


@dataclasses.dataclass
class Lesson:
    sections: list
    true_lines: list  # (cell, line)
    misplaced_tags: list  # cells tagged in-class without an exercise heading

    def part(self, core):
        return [s for s in self.sections if not core or s.kind in ("why", "core")]

    @property
    def core_sections(self):
        return [s for s in self.sections if s.kind == "core"]

    @property
    def exercises(self):
        return [e for s in self.sections for e in s.exercises]

    def total(self, name, core):
        return sum(getattr(s, name) for s in self.part(core))

    def class_minutes(self):
        in_class = sum(e.in_class for e in self.exercises)
        return (
            MINUTES["section"] * len(self.core_sections)
            + MINUTES["picture"] * self.total("pictures", True)
            + MINUTES["table"] * self.total("tables", True)
            + MINUTES["in-class exercise"] * in_class
        )


def _section_kind(title, seen_end):
    lowered = title.lower()
    if lowered.startswith("going further"):
        return "further"
    if lowered == "summary":
        return "summary"
    if lowered == "questions":
        return "questions"
    return "after" if seen_end else "core"


def _split_markdown(source):
    """[(heading title or None, text)]: a markdown cell cut at its ``##`` headings."""
    parts, lines, in_fence = [], [], False
    title = None
    for line in source.split("\n"):
        if re.match(r"^\s*(```|~~~)", line):
            in_fence = not in_fence
        m = None if in_fence else SECTION_HEADING.match(line)
        if m:
            parts.append((title, "\n".join(lines)))
            title, lines = m.group(1), []
        else:
            lines.append(line)
    parts.append((title, "\n".join(lines)))
    return parts


def _opening_paragraph(text):
    """The first paragraph of prose in a markdown text, headings skipped."""
    paragraph = []
    for line in text.split("\n"):
        if line.strip().startswith("#"):
            if paragraph:
                break
            continue
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line)
    return "\n".join(paragraph)


def read_lesson(nb):
    """A lesson's sections, exercises and "…: True" lines, from a notebook (dict or nbformat)."""
    why = Section(title="(why)", cell=0, kind="why")
    sections, true, misplaced = [why], [], []
    seen_end = False
    current = why
    for i, cell in enumerate(nb["cells"]):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("id") in STAMPED or any(t in STAMPED for t in tags):
            continue
        if "solution-only" in tags:
            continue
        source = _text(cell.get("source"))
        if cell["cell_type"] == "markdown":
            source = MD_SOLUTION.sub(" ", source)
            found = EXERCISE_HEADING.findall(source)
            if IN_CLASS in tags and not found:
                misplaced.append(i)
            for title, text in _split_markdown(source):
                if title is not None:
                    kind = _section_kind(title, seen_end)
                    seen_end = seen_end or kind in ("summary", "questions", "further")
                    m = NUMBERED.match(title)
                    current = Section(
                        title=title, cell=i, kind=kind, number=int(m.group(1)) if m else None
                    )
                    sections.append(current)
                    current.words += count_words("## " + title)
                    current.numbers += len(find_numbers("## " + title))
                if not current.opening and current.kind != "why":
                    current.opening = _opening_paragraph(text)
                current.markdown.append((i, text))
                current.words += count_words(text)
                current.numbers += len(find_numbers(text))
                current.takeaways += len(TAKEAWAY.findall(text))
                current.figures += len(IMAGE_MD.findall(text))
                for n, k, ex_kind, ex_title in EXERCISE_HEADING.findall(text):
                    current.exercises.append(
                        Exercise(f"{n}.{k}", ex_kind, ex_title.strip("*"), i, IN_CLASS in tags)
                    )
        elif cell["cell_type"] == "code":
            f, e, r = pictures_of(cell)
            current.figures += f
            current.explorers += e
            current.races += r
            current.tables += is_printed_table(cell)
            true += [(i, line) for line in true_lines(cell)]
    return Lesson(sections, true, misplaced)


def measures(lesson):
    """A dict of every measure, for the core path and the whole lesson."""

    def part(core):
        words = lesson.total("words", core)
        numbers = lesson.total("numbers", core)
        return {
            "prose_words": words,
            "numbers": numbers,
            "numbers_per_100_words": round(100 * numbers / words, 2) if words else 0.0,
            "figures": lesson.total("figures", core),
            "explorers": lesson.total("explorers", core),
            "races": lesson.total("races", core),
            "pictures": lesson.total("pictures", core),
            "printed_tables": lesson.total("tables", core),
        }

    core = lesson.core_sections
    kinds = dict.fromkeys(KINDS + ("none",), 0)
    for e in lesson.exercises:
        kinds[e.kind or "none"] = kinds.get(e.kind or "none", 0) + 1
    return {
        "core": part(True),
        "whole": part(False),
        "core_sections": len(core),
        "sections_with_question": sum(s.question for s in core),
        "sections_with_takeaway": sum(s.takeaways > 0 for s in core),
        "sections_with_picture": sum(s.pictures > 0 for s in core),
        "exercises": len(lesson.exercises),
        "exercises_by_kind": kinds,
        "exercises_in_class": sum(e.in_class for e in lesson.exercises),
        "true_lines": len(lesson.true_lines),
        "class_minutes": lesson.class_minutes(),
        "sections": [
            {
                "title": s.title,
                "cell": s.cell,
                "words": s.words,
                "pictures": s.pictures,
                "tables": s.tables,
                "question": s.question,
                "takeaway": s.takeaways > 0,
            }
            for s in core
        ],
    }


@dataclasses.dataclass
class Goal:
    name: str
    measured: str
    target: str
    ok: bool


def goals(m):
    """Every goal of a lesson's core path, measured: a list of Goal."""
    core = m["core"]
    not_implement = (
        m["exercises"] - m["exercises_by_kind"]["implement"] - m["exercises_by_kind"].get("none", 0)
    )
    return [
        Goal(
            "core prose",
            f"{core['prose_words']:,} words",
            f"≤ {MAX_CORE_WORDS:,}",
            core["prose_words"] <= MAX_CORE_WORDS,
        ),
        Goal(
            "core numbers",
            f"{core['numbers_per_100_words']:.1f} per 100 words",
            f"≤ {MAX_NUMBERS_PER_100_WORDS}",
            core["numbers_per_100_words"] <= MAX_NUMBERS_PER_100_WORDS,
        ),
        Goal(
            "pictures",
            f"{m['sections_with_picture']} of {m['core_sections']} core sections have one",
            "every core section",
            m["core_sections"] > 0 and m["sections_with_picture"] == m["core_sections"],
        ),
        Goal(
            "class time",
            f"{m['class_minutes']} min",
            f"≤ {MAX_CLASS_MINUTES} min",
            m["class_minutes"] <= MAX_CLASS_MINUTES,
        ),
        Goal("“…: True” lines", str(m["true_lines"]), "0 anywhere", m["true_lines"] == 0),
        Goal(
            "exercises beyond implement",
            str(not_implement),
            "≥ 1",
            not_implement >= 1,
        ),
        Goal(
            "exercises in class", str(m["exercises_in_class"]), "≥ 1", m["exercises_in_class"] >= 1
        ),
    ]


def structure_problems(lesson, where):
    """One line per departure from the lesson shape; ``where`` names the notebook."""
    problems = []
    say = lambda cell, text: problems.append(f"{where} cell {cell}: {text}")
    kinds = [s.kind for s in lesson.sections]
    core = lesson.core_sections
    for expected, s in enumerate(core, start=1):
        if s.number != expected:
            say(s.cell, f"core section '## {s.title}' should be numbered '## {expected}. …'")
        if s.takeaways == 0:
            say(s.cell, f"core section '## {s.title}' has no '**Takeaway.** …' line")
        elif s.takeaways > 1:
            say(s.cell, f"core section '## {s.title}' has {s.takeaways} takeaways (one, please)")
    if not core:
        problems.append(f"{where}: no core section ('## 1. …')")
    for name in ("summary", "questions"):
        if name not in kinds:
            problems.append(f"{where}: no '## {name.capitalize()}' section")
    order = [k for k in kinds if k in ("summary", "questions")]
    if order and order != sorted(order, key=["summary", "questions"].index):
        problems.append(f"{where}: '## Questions' comes before '## Summary'")
    for i, s in enumerate(lesson.sections):
        if s.kind == "further" and any(k in ("summary", "questions") for k in kinds[i:]):
            say(s.cell, f"'## {s.title}' comes before '## Summary' and '## Questions'")
        if s.kind == "after":
            say(s.cell, f"'## {s.title}' after the core: name it '## Going further: …'")
    for s in lesson.sections:
        if s.kind == "questions":
            problems += question_problems(s, where)
    for e in lesson.exercises:
        if not e.kind:
            say(
                e.cell,
                f"Exercise {e.label} names no kind: '### Exercise {e.label} · kind — "
                f"title', kind one of {', '.join(KINDS)}",
            )
    problems += kind_problems(lesson, where)
    for cell in lesson.misplaced_tags:
        say(cell, f"tagged '{IN_CLASS}' but holds no exercise heading")
    for cell, line in lesson.true_lines:
        say(cell, f"prints a '…: True' line (make it a test or a checked cell): {line[:70]}")
    return problems


def question_problems(section, where):
    """Questions numbered **Q1.**, **Q2.**, … in order (not **1.**: one format, course-wide)."""
    problems, expected = [], 1
    for cell, text in section.markdown:
        for line in text.split("\n"):
            m = QUESTION.match(line)
            if m and m.group(1):
                if int(m.group(1)) != expected:
                    problems.append(
                        f"{where} cell {cell}: **Q{m.group(1)}.** should be **Q{expected}.**"
                    )
                expected = int(m.group(1)) + 1
            elif m:
                problems.append(
                    f"{where} cell {cell}: '{line.strip()[:30]}…': number questions **Q1.**, **Q2.**, …"
                )
    if expected == 1 and not problems:
        problems.append(f"{where} cell {section.cell}: '## Questions' holds no question **Q1.** …")
    return problems


def kind_problems(lesson, where):
    """Exercise headings whose kind is not one of KINDS (a typo, in any lesson)."""
    return [
        f"{where} cell {e.cell}: Exercise {e.label}'s kind '{e.kind}' is not one of "
        + ", ".join(KINDS)
        for e in lesson.exercises
        if e.kind and e.kind not in KINDS
    ]


def malformed_headings(nb, where):
    """Headings that start 'Exercise N' but do not parse as an exercise heading."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for line in _text(cell.get("source")).split("\n"):
            if EXERCISE_MENTION.match(line) and not EXERCISE_HEADING.match(line):
                out.append(
                    f"{where} cell {i}: '{line.strip()[:60]}' is not "
                    "'### Exercise N.k · kind — title'"
                )
    return out


# --- printing ----------------------------------------------------------------------------


def format_lesson(name, m, gs, in_shape=True):
    """A lesson's measures as text, the goals beside them."""
    c, w = m["core"], m["whole"]
    mark = lambda ok: "✔" if ok else "✘"
    g = {goal.name: goal for goal in gs}

    def row(label, core, whole, goal=None):
        tail = f"{goal.target:<20} {mark(goal.ok)}" if goal else ""
        return f"  {label:<26}{core!s:>13}{whole!s:>13}   {tail}".rstrip()

    def pics(p):
        return f"{p['pictures']} ({p['figures']}/{p['explorers']}/{p['races']})"

    kinds = " · ".join(f"{k} {n}" for k, n in m["exercises_by_kind"].items() if n)
    lines = [
        f"{name}{'' if in_shape else '   (not yet in shape: goals not enforced)'}",
        f"  {'':<26}{'core':>13}{'whole':>13}   goal",
        row("prose words", f"{c['prose_words']:,}", f"{w['prose_words']:,}", g["core prose"]),
        row(
            "numbers per 100 words",
            f"{c['numbers_per_100_words']:.1f}",
            f"{w['numbers_per_100_words']:.1f}",
            g["core numbers"],
        ),
        row("pictures (fig/expl/race)", pics(c), pics(w)),
        row("printed tables", c["printed_tables"], w["printed_tables"]),
        row("core sections", m["core_sections"], ""),
        row("  with a question", m["sections_with_question"], ""),
        row("  with a takeaway", m["sections_with_takeaway"], ""),
        row("  with a picture", m["sections_with_picture"], "", g["pictures"]),
        row("exercises", m["exercises"], ""),
        f"  {'  by kind':<26}   {kinds}",
        row(
            "  not implement",
            m["exercises"] - m["exercises_by_kind"]["implement"] - m["exercises_by_kind"]["none"],
            "",
            g["exercises beyond implement"],
        ),
        row("  in class", m["exercises_in_class"], "", g["exercises in class"]),
        row("“…: True” lines", "", m["true_lines"], g["“…: True” lines"]),
        row("class time (min)", m["class_minutes"], "", g["class time"]),
    ]
    return "\n".join(lines)


def format_sections(m):
    """A row per core section: its cell, words, pictures, tables, question and takeaway."""
    mark = lambda ok: "✔" if ok else "✘"
    lines = [f"  {'core section':<44} cell  words  pictures  tables  question  takeaway"]
    for s in m["sections"]:
        lines.append(
            f"  {s['title'][:44]:<44} {s['cell']:>4} {s['words']:>6} {s['pictures']:>9} "
            f"{s['tables']:>7} {mark(s['question']):>9} {mark(s['takeaway']):>9}"
        )
    return "\n".join(lines)


def format_table(rows):
    """One markdown row per lesson: rows is [(name, measures, goals)]."""
    head = (
        "| lesson | core words | numbers /100 | core pictures | core tables | sections "
        "(question / takeaway / picture) | exercises (not implement / in class) "
        "| “: True” | class min | goals met |"
    )
    lines = [head, "|" + "---|" * 10]
    for name, m, gs in rows:
        c = m["core"]
        beyond = (
            m["exercises"] - m["exercises_by_kind"]["implement"] - m["exercises_by_kind"]["none"]
        )
        lines.append(
            f"| {name} | {c['prose_words']:,} | {c['numbers_per_100_words']:.1f} "
            f"| {c['pictures']} | {c['printed_tables']} | {m['core_sections']} "
            f"({m['sections_with_question']} / {m['sections_with_takeaway']} / "
            f"{m['sections_with_picture']}) | {m['exercises']} ({beyond} / "
            f"{m['exercises_in_class']}) | {m['true_lines']} | {m['class_minutes']} "
            f"| {sum(g.ok for g in gs)} of {len(gs)} |"
        )
    return "\n".join(lines)
