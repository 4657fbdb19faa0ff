"""Benchmarks: how fast the course runs live. A command, not a test: it prints, never fails.

    python tools/benchmark.py             # everything below
    python tools/benchmark.py widgets     # median / p90 redraw time of explore() and compare()
    python tools/benchmark.py notebooks [solutions/NN-….ipynb …]   # per notebook, not saved
    python tools/benchmark.py tests       # python -m pytest -q, timed

Targets (README): a redraw ≤ 100 ms median on a 2-core machine, every cell < 2 s,
a lesson < 20 s (lesson 06 < 45 s).
"""
import argparse
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

REDRAWS = 30


def _stats(name, seconds):
    ms = 1000 * np.asarray(seconds)
    print(f"{name:<44} median {np.median(ms):6.1f} ms   p90 {np.percentile(ms, 90):6.1f} ms"
          f"   max {ms.max():6.1f} ms   ({len(ms)} redraws)", flush=True)
    return float(np.median(ms))


def _time_updates(explorer, changes):
    seconds = []
    for values in changes:
        started = time.perf_counter()
        explorer.update(**values)
        seconds.append(time.perf_counter() - started)
    return seconds


def bench_widgets(redraws=REDRAWS):
    """Redraw times with a slider changed each time, as when a teacher drags it."""
    from course_lib import optimizers
    from course_lib.widgets import compare, explore

    lrs = np.geomspace(1e-3, 0.5, redraws)
    results = {}
    e = explore(optimizers.adam, "course quadratic", steps=30)
    results["explore(adam): lr slider"] = _time_updates(e, [{"lr": v} for v in lrs])
    results["explore(adam): start slider"] = _time_updates(
        e, [{"x1": v} for v in np.linspace(-5.5, 5.5, redraws)])
    e = explore(optimizers.momentum, "Rosenbrock", steps=100, lr=1e-3)
    results["explore(momentum), Rosenbrock, 100 steps"] = _time_updates(
        e, [{"gamma": v} for v in np.linspace(0.5, 0.95, redraws)])
    c = compare({"GD": optimizers.gd, "momentum": optimizers.momentum,
                 "RMSprop": optimizers.rmsprop, "Adam": optimizers.adam}, "Beale", steps=50)
    results["compare(4 optimisers), Beale, 50 steps"] = _time_updates(
        c, [{"Adam.lr": v} for v in lrs])
    problems = ["Rosenbrock", "Beale", "saddle", "Himmelblau", "double well", "course quadratic"]
    results["explore(gd): problem drop-down"] = _time_updates(
        explore(optimizers.gd, lr=0.01), [{"problem": problems[k % 6]} for k in range(12)])
    print(f"Explorer redraws (ipywidgets {__import__('ipywidgets').__version__}, "
          f"matplotlib {__import__('matplotlib').__version__}):")
    medians = {name: _stats(name, s) for name, s in results.items()}
    slider_medians = [m for name, m in medians.items() if "drop-down" not in name]
    print(f"worst slider median {max(slider_medians):.1f} ms (target ≤ 100 ms; a new problem "
          "renders its contours once, then is cached)")
    return medians


def bench_notebooks(names=()):
    """Execute solution notebooks in a fresh kernel with tools/build.py, without saving."""
    import build
    lessons = build.existing_lessons()
    if names:
        wanted = {pathlib.Path(n).name for n in names}
        lessons = [lesson for lesson in lessons if lesson["file"] in wanted]
    c = build.course()
    total = 0.0
    for lesson in lessons:
        nb = build.stamp(build.read(build.SOLUTIONS / lesson["file"]), lesson, c)
        started = time.perf_counter()
        _, seconds = build.execute(nb)
        took = time.perf_counter() - started
        total += took
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        slowest = int(np.nanargmax(seconds)) if seconds else 0
        where = code[slowest].source.splitlines()[0][:50] if code else ""
        print(f"{lesson['file']:<38} {took:6.1f} s   slowest cell {max(seconds, default=0):5.2f} s"
              f" (code cell {slowest + 1}: {where!r})", flush=True)
    print(f"{'all notebooks':<38} {total:6.1f} s")


def bench_tests():
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=ROOT,
                            capture_output=True, text=True)
    tail = [line for line in result.stdout.splitlines() if line.strip()][-1:]
    print(f"python -m pytest -q: {time.perf_counter() - started:.1f} s  "
          f"({tail[0] if tail else 'no output'}; exit {result.returncode})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", nargs="?", choices=["widgets", "notebooks", "tests"])
    parser.add_argument("notebooks", nargs="*", help="with 'notebooks': which ones")
    args = parser.parse_args(argv)
    if args.what in (None, "widgets"):
        bench_widgets()
    if args.what in (None, "notebooks"):
        bench_notebooks(args.notebooks)
    if args.what in (None, "tests"):
        bench_tests()


if __name__ == "__main__":
    main()
