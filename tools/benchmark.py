"""Benchmarks: how fast the course runs live, and where the test suite spends its time.

    python tools/benchmark.py             # everything below
    python tools/benchmark.py widgets [NN …]   # every lesson's explorers, timed in the lesson
    python tools/benchmark.py notebooks [solutions/NN-….ipynb …]   # per notebook, not saved
    python tools/benchmark.py notebooks [NN …] --save   # and store each lesson's cell time in
                                          # tools/notebook_times.json (INSTRUCTORS.md quotes it)
    python tools/benchmark.py tests       # the whole suite, timed per test file and notebook
    python tools/benchmark.py notebooks --strict   # exit 1 if a notebook misses its goal

A command, not a test: it prints its measurements beside the goals and exits 0,
unless --strict is given (then 1 when a goal is missed). Goals, on a 2-core
machine: a lesson ≤ 15 s of cell time top to bottom, no cell over 2 s, an
explorer redraw ≤ 50 ms median, the whole test suite ≤ 4 min after set-up.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

MOVES = 16  # redraws per control, as the browser review's median of 16 key presses
LESSON_GOAL, CELL_GOAL, REDRAW_GOAL, SUITE_GOAL = 15.0, 2.0, 50.0, 240.0


def explorer_moves(control, moves):
    """The values a presenter steps ``control`` through: its range in ``moves`` even steps
    (a slider), or its options in turn (a drop-down, a selection slider); [] otherwise."""
    options = getattr(control, "options", None)
    if options:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        return [values[k % len(values)] for k in range(1, moves + 1)]
    if not all(hasattr(control, a) for a in ("min", "max", "value")):
        return []
    grid = np.linspace(control.min, control.max, moves)
    if hasattr(control, "base"):  # a log slider: its min and max are exponents
        return [float(control.base**g) for g in grid]
    if isinstance(control.value, int) and not isinstance(control.value, bool):
        return [int(round(g)) for g in grid]
    return [float(g) for g in grid]


def time_explorer(explorer, moves=MOVES):
    """Seconds per redraw, wall and CPU, for each control of an explorer moved through its
    range: {name: {"wall": [...], "cpu": [...]}}. Its controls are set back afterwards."""
    controls = getattr(explorer, "controls", None) or explorer.sliders
    start = {name: c.value for name, c in controls.items()}
    out = {}
    with warnings.catch_warnings():  # a slider at its top may diverge: that is fine here
        warnings.simplefilter("ignore")
        for name, control in controls.items():
            wall, cpu = [], []
            for value in explorer_moves(control, moves):
                w, c = time.perf_counter(), time.process_time()
                explorer.update(**{name: value})
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - w)
            if wall:
                out[name] = {"wall": wall, "cpu": cpu}
        explorer.update(**start)
    return out


# Run in the lesson's kernel right after an explorer cell, given its widget's model id.
PROBE = (
    "import json as _json, sys as _sys\n"
    "_sys.path.insert(0, {tools!r})\n"
    "from benchmark import time_explorer as _time_explorer, widget_of as _widget_of\n"
    "_w = _widget_of({model_id!r})\n"
    "print({marker!r} + _json.dumps({{'name': repr(_w), 'times': _time_explorer(_w)}}))"
)
MARKER = "EXPLORER-TIMES "


def widget_of(model_id):
    """The live widget with this model id (in the kernel that shows it)."""
    from ipywidgets.widgets import widget

    instances = getattr(widget, "_instances", None)  # ipywidgets 8
    return (widget.Widget.widgets if instances is None else instances)[model_id]


def lesson_explorers(nb):
    """Execute a lesson in a fresh kernel and time every explorer it shows, in place.

    An explorer cell is one whose output is a widget (found by running the lesson, so a new
    or rewritten lesson needs no change here); the lesson runs up to its last such cell
    (as stored) and each explorer is timed right after its cell, with the lesson's state.
    Returns [(cell index, name, times)].
    """
    import nbformat
    from nbclient import NotebookClient

    import build

    stored = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and any(
            build.WIDGET_VIEW in o.get("data", {})
            or build.WIDGET_NOTE in "".join(o.get("data", {}).get("text/plain", ""))
            for o in cell.get("outputs", [])
        )
    ]
    if not stored:
        return []
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(build.SOLUTIONS)}},
    )
    found = []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells[: stored[-1] + 1]):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, i)
            views = [o.get("data", {}).get(build.WIDGET_VIEW, {}) for o in cell.outputs]
            views = [v["model_id"] for v in views if "model_id" in v]
            if not views:
                continue
            check = nbformat.v4.new_code_cell(
                PROBE.format(tools=str(ROOT / "tools"), marker=MARKER, model_id=views[-1])
            )
            client.execute_cell(check, i)
            text = "".join(o.get("text", "") for o in check.outputs if o.output_type == "stream")
            errors = [o for o in check.outputs if o.output_type == "error"]
            if errors or MARKER not in text:
                raise RuntimeError(
                    f"cell {i}: could not time its widget: "
                    + (errors[0].get("evalue", "") if errors else text[-500:])
                )
            result = json.loads(text.split(MARKER, 1)[1])
            found.append((i, result["name"], result["times"]))
    return found


def _load():
    """The machine's load averages over 1, 5 and 15 minutes, for the record."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def bench_widgets(names=()):
    """Every explorer of every lesson, timed in the lesson's own kernel: each control moved
    through its range as a presenter would, MOVES redraws per control."""
    import build

    c = build.course()
    lessons = build.select_lessons(c, names)
    print(
        f"Explorer redraws, kernel-side (each lesson run up to its explorers; every control "
        f"moved {MOVES} times; wall ms, the kernel's CPU ms in brackets: on a busy machine "
        f"the wall time grows, the CPU time much less; machine load {_load()}; goal: median "
        f"≤ {REDRAW_GOAL:.0f} ms):",
        flush=True,
    )
    missed, medians = [], []
    for lesson in lessons:
        nb = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, c)
        for index, name, times in lesson_explorers(nb):
            wall = np.concatenate([t["wall"] for t in times.values()])
            cpu = np.concatenate([t["cpu"] for t in times.values()])
            worst = max(np.median(t["wall"]) for t in times.values())
            flag = "ok  " if worst * 1000 <= REDRAW_GOAL else "OVER"
            print(
                f"  {flag} {build.lesson_number(lesson['file']):<3} cell {index:>2} {name[:64]}: median "
                f"{1000 * np.median(wall):5.1f} ({1000 * np.median(cpu):5.1f}) ms, p90 "
                f"{1000 * np.percentile(wall, 90):5.1f} ms, max {1000 * wall.max():5.1f} ms",
                flush=True,
            )
            per = ", ".join(
                f"{k} {1000 * np.median(t['wall']):.0f} ({1000 * np.median(t['cpu']):.0f})"
                for k, t in times.items()
            )
            print(f"         per control, median ms: {per}", flush=True)
            medians.append(worst)
            if worst * 1000 > REDRAW_GOAL:
                missed.append(f"{lesson['file']} cell {index}: {1000 * worst:.0f} ms")
    if medians:
        print(
            f"  worst control's median: {1000 * max(medians):.1f} ms over {len(medians)} "
            f"explorers (machine load {_load()})"
        )
    else:
        print("  no explorer found")
    return missed


TIMES = ROOT / "tools" / "notebook_times.json"


def save_times(measured):
    """Store {file: (cell seconds, slowest cell)} in tools/notebook_times.json, keeping the
    other lessons' entries; the machine and date are those of this run."""
    import datetime
    import json
    import os
    import platform

    old = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    lessons = {**old.get("lessons", {})}
    for file, (cell_time, slowest) in measured.items():
        lessons[file] = {"cell_seconds": round(cell_time, 1), "slowest_cell": round(slowest, 2)}
    data = {
        "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        # what else ran: a shared machine's load inflates every time measured on it
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "lessons": dict(sorted(lessons.items())),
    }
    TIMES.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"saved {len(measured)} lesson(s) to {TIMES.relative_to(ROOT)}")


def bench_notebooks(names=(), save=False):
    """Execute solution notebooks in a fresh kernel with tools/build.py, without saving them
    (with ``save``, their cell times go to tools/notebook_times.json).

    Cell time is what the kernel spends in the cells (what a class waits for); the wall
    time adds the kernel's start-up."""
    import build

    c = build.course()
    lessons = build.select_lessons(c, names)
    missed, total, measured = [], 0.0, {}
    print(
        f"Solution notebooks, top to bottom in a fresh kernel (goals: ≤ {LESSON_GOAL:.0f} s "
        f"of cell time, every cell ≤ {CELL_GOAL:.0f} s):"
    )
    for lesson in lessons:
        nb = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, c)
        started = time.perf_counter()
        _, seconds = build.execute(nb)
        wall = time.perf_counter() - started
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        cell_time = float(np.nansum(seconds))
        measured[lesson["file"]] = (cell_time, float(np.nanmax(seconds, initial=0.0)))
        total += cell_time
        flag = "ok  " if cell_time <= LESSON_GOAL else "OVER"
        print(
            f"  {flag} {lesson['file']:<36} {cell_time:5.1f} s of cell time "
            f"({wall:4.1f} s wall, {len(code)} code cells)",
            flush=True,
        )
        if cell_time > LESSON_GOAL:
            missed.append(f"{lesson['file']}: {cell_time:.1f} s")
        for i in np.argsort(np.nan_to_num(seconds, nan=0.0))[::-1][:3]:
            first = code[i].source.strip().splitlines()[0][:56] if code[i].source.strip() else ""
            over = "OVER" if seconds[i] > CELL_GOAL else "    "
            print(f"       {over} code cell {i + 1:>2}: {seconds[i]:5.2f} s  {first!r}")
            if seconds[i] > CELL_GOAL:
                missed.append(f"{lesson['file']} code cell {i + 1}: {seconds[i]:.2f} s")
    print(f"  all lessons: {total:.1f} s of cell time")
    if save:
        save_times(measured)
    return missed


def bench_tests(args=()):
    """Run the whole suite once, as dev.py test does, and say where its time goes: per test
    file and per notebook (summed over both workers, so the column adds up to more)."""
    import re

    import dev

    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *dev.WORKERS,
            "-q",
            "--durations=0",
            "--durations-min=0",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    per_file = {}
    for line in result.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)s (?:setup|call|teardown)\s+(\S+?)::", line)
        if m:
            per_file[m.group(2)] = per_file.get(m.group(2), 0.0) + float(m.group(1))
    tail = [line for line in result.stdout.splitlines() if line.strip()][-1:]
    print(
        f"Test suite: {took:.0f} s (goal ≤ {SUITE_GOAL:.0f} s after set-up), "
        f"{tail[0] if tail else 'no output'}; exit {result.returncode}"
    )
    for file, seconds in sorted(per_file.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:6.1f} s  {file}")
    missed = [] if took <= SUITE_GOAL else [f"test suite {took:.0f} s"]
    return missed + ([f"pytest exit {result.returncode}"] if result.returncode else [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", nargs="?", choices=["widgets", "notebooks", "tests"])
    parser.add_argument("notebooks", nargs="*", help="with 'notebooks' or 'widgets': which lessons")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a goal is missed (a benchmark, not a test, otherwise)",
    )
    parser.add_argument(
        "--save", action="store_true", help="notebooks: store the cell times for INSTRUCTORS.md"
    )
    args = parser.parse_args(argv)
    missed = []
    if args.what in (None, "widgets"):
        missed += bench_widgets(args.notebooks if args.what == "widgets" else ())
    if args.what in (None, "notebooks"):
        missed += bench_notebooks(args.notebooks, save=args.save)
    if args.what in (None, "tests"):
        missed += bench_tests()
    if missed:
        print("Goals missed: " + "; ".join(missed))
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
