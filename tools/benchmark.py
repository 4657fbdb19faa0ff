"""Benchmarks: how fast the course runs live, and where the test suite spends its time.

    python tools/benchmark.py             # everything below
    python tools/benchmark.py widgets     # median / p90 redraw time of explore() and compare()
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
import functools
import pathlib
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

REDRAWS = 30
LESSON_GOAL, CELL_GOAL, REDRAW_GOAL, SUITE_GOAL = 15.0, 2.0, 50.0, 240.0


def _stats(name, seconds):
    ms = 1000 * np.asarray(seconds)
    print(
        f"{name:<44} median {np.median(ms):6.1f} ms   p90 {np.percentile(ms, 90):6.1f} ms"
        f"   max {ms.max():6.1f} ms   ({len(ms)} redraws)",
        flush=True,
    )
    return float(np.median(ms))


def _time_updates(explorer, changes):
    seconds = []
    for values in changes:
        started = time.perf_counter()
        explorer.update(**values)
        seconds.append(time.perf_counter() - started)
    return seconds


@functools.cache
def _digits_subset():
    """The 256 training images of lesson 07's deep networks (loaded once)."""
    from course_lib import data
    from course_lib.mlp import split_train_validation

    X_train, y_train, _, _ = split_train_validation(*data.load_digits(), seed=0)
    return X_train[:256], y_train[:256]


def _gradient_norms(depth=10, scale=1.0, activation="relu"):
    """Lesson 07's explorer figure: ‖∂L/∂W_l‖ by layer of a deep MLP at initialisation."""
    from course_lib import plots
    from course_lib.mlp import MLP

    X_train, y_train = _digits_subset()
    sizes = (64,) + (32,) * int(depth) + (10,)
    net = MLP(X_train[:256], y_train[:256], sizes, activation, init=float(scale))
    fig, ax = plots.subplots(figsize=(7, 3.2), layout=None)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.16, top=0.9)
    ax.semilogy(np.arange(1, int(depth) + 2), net.layer_grad_norms(net.x0), "o-", ms=4)
    ax.axhspan(1e-2, 1e2, color="C2", alpha=0.08)
    ax.set(xlabel="layer l", ylabel="‖∂L/∂W_l‖", ylim=(1e-12, 1e12))
    ax.set_yticks(10.0 ** np.arange(-12, 13, 4), [f"1e{k}" for k in range(-12, 13, 4)])
    ax.minorticks_off()  # 24 decades of (math-text) ticks would cost more than the network
    ax.grid(alpha=0.3)
    return fig


def bench_widgets(redraws=REDRAWS):
    """Redraw times with a slider changed each time, as when a teacher drags it."""
    from course_lib import optimizers
    from course_lib.widgets import compare, explore, explore_plot

    lrs = np.geomspace(1e-3, 0.5, redraws)
    results = {}
    e = explore(optimizers.adam, "course quadratic", steps=30)
    results["explore(adam): lr slider"] = _time_updates(e, [{"lr": v} for v in lrs])
    results["explore(adam): start slider"] = _time_updates(
        e, [{"x1": v} for v in np.linspace(-5.5, 5.5, redraws)]
    )
    e = explore(optimizers.momentum, "Rosenbrock", steps=100, lr=1e-3)
    results["explore(momentum), Rosenbrock, 100 steps"] = _time_updates(
        e, [{"gamma": v} for v in np.linspace(0.5, 0.95, redraws)]
    )
    c = compare(
        {
            "GD": optimizers.gd,
            "momentum": optimizers.momentum,
            "RMSprop": optimizers.rmsprop,
            "Adam": optimizers.adam,
        },
        "Beale",
        steps=50,
    )
    results["compare(4 optimisers), Beale, 50 steps"] = _time_updates(
        c, [{"Adam.lr": v} for v in lrs]
    )
    # Each lesson's own explorer cell (course_lib's rules stand in for the students' own),
    # its learning-rate slider dragged across its range.
    from course_lib import hessian_free, second_order

    lesson = {
        "01: explore(gd), course quadratic": (
            explore(optimizers.gd, "course quadratic", steps=20, lr=(1e-3, 0.6, 0.4)),
            "lr",
            (1e-3, 0.6),
        ),
        "02: explore(momentum), course quadratic": (
            explore(
                optimizers.momentum,
                "course quadratic",
                steps=40,
                lr=(1e-3, 1.0, 0.1),
                gamma=(0.0, 0.99, 0.5),
            ),
            "lr",
            (1e-3, 1.0),
        ),
        "03: compare(4 optimisers), course quadratic": (
            compare(
                {
                    "GD": (optimizers.gd, {"lr": 0.1}),
                    "Adagrad": (optimizers.adagrad, {"lr": 0.5}),
                    "RMSprop": (optimizers.rmsprop, {"lr": 0.05}),
                    "Adadelta": (optimizers.adadelta, {"lr": 1.0}),
                },
                "course quadratic",
                steps=60,
            ),
            "Adagrad.lr",
            (1e-2, 1.0),
        ),
        "04: explore(adam), Beale, 100 steps": (
            explore(optimizers.adam, "Beale", steps=100, lr=(1e-3, 1.0, 0.05)),
            "lr",
            (1e-3, 1.0),
        ),
        "05: compare(GD, momentum, damped Newton), Rosenbrock": (
            compare(
                {
                    "GD": (optimizers.gd, {"lr": 1e-3}),
                    "momentum": (optimizers.momentum, {"lr": 1e-3, "gamma": 0.9}),
                    "damped Newton": (second_order.damped_newton, {}),
                },
                "Rosenbrock",
                steps=40,
                x0=[-1.2, 1.0],
            ),
            "momentum.lr",
            (1e-4, 2e-3),
        ),
        "05b: compare(momentum, nonlinear CG), Rosenbrock": (
            compare(
                {
                    "momentum": (optimizers.momentum, {"lr": 1e-3, "gamma": 0.9}),
                    "nonlinear CG": (hessian_free.nonlinear_cg, {"c2": (0.01, 0.9, 0.1)}),
                },
                "Rosenbrock",
                steps=30,
                x0=[-1.2, 1.0],
                sliders=("lr", "c2"),
            ),
            "nonlinear CG.c2",
            (0.01, 0.9),
        ),
    }
    lesson["07: explore_plot(gradient norms by layer), depth 10"] = (
        explore_plot(_gradient_norms, scale=(0.3, 3.0, 1.0), depth=(1, 20, 10)),
        "scale",
        (0.3, 3.0),
    )
    for name, (explorer, slider, (lo, hi)) in lesson.items():
        values = np.geomspace(lo, hi, redraws)
        with warnings.catch_warnings():  # a slider at its top may diverge: that is fine here
            warnings.simplefilter("ignore")
            results[name] = _time_updates(explorer, [{slider: v} for v in values])
    problems = ["Rosenbrock", "Beale", "saddle", "Himmelblau", "double well", "course quadratic"]
    results["explore(gd): problem drop-down"] = _time_updates(
        explore(optimizers.gd, lr=0.01), [{"problem": problems[k % 6]} for k in range(12)]
    )
    print(
        f"Explorer redraws (ipywidgets {__import__('ipywidgets').__version__}, "
        f"matplotlib {__import__('matplotlib').__version__}):"
    )
    medians = {name: _stats(name, s) for name, s in results.items()}
    slider_medians = [m for name, m in medians.items() if "drop-down" not in name]
    worst = max(slider_medians)
    print(
        f"worst slider median {worst:.1f} ms (goal ≤ {REDRAW_GOAL:.0f} ms; a new problem "
        "renders its contours once, then is cached)"
    )
    return [] if worst <= REDRAW_GOAL else [f"explorer redraw {worst:.0f} ms"]


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
    parser.add_argument("notebooks", nargs="*", help="with 'notebooks': which ones")
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
        missed += bench_widgets()
    if args.what in (None, "notebooks"):
        missed += bench_notebooks(args.notebooks, save=args.save)
    if args.what in (None, "tests"):
        missed += bench_tests()
    if missed:
        print("Goals missed: " + "; ".join(missed))
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
