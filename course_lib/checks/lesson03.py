"""Lesson 03 (adaptive learning rates): PyTorch's convention, ε outside the root, against
torch.optim's own runs (data/references_adaptive.json), and a learning-rate sweep run all at
once. (The steps: ``check_step``.)"""

import numpy as np

from .. import optimizers
from ..problems import course_quadratic, double_well, rosenbrock
from .engine import Budget, Case, evaluate_function, printing
from .steps import evaluate_step


def evaluate_torch_convention(fn, rule):
    """Run a step with ε outside the root on torch.optim's runs of rule ("adagrad_eps_outside"…)."""
    return evaluate_step(fn, rule, section="adaptive")


check_torch_convention = printing(evaluate_torch_convention)


# --- Exercise 3.5: a learning-rate sweep, all runs at once ----------------------------------


def _sweep_reference(step, problem, lrs, steps, shared=False, **hp):
    """One run per η, each with its own state (shared: one state for all, a slip), exactly
    `steps` steps; inf where the final f − f* is not finite."""
    out, state = [], {}
    for lr in lrs:
        x, state = problem.x0.copy(), (state if shared else {})
        with np.errstate(all="ignore"):
            for _ in range(steps):
                x = step(x, problem.grad, state, lr=lr, **hp)
            gap = float(problem.f(x) - problem.f_star)
        out.append(gap if np.isfinite(gap) else np.inf)
    return np.array(out)


SWEEP = (
    "stack one copy of problem.x0 per η, pass lr as a column (shape (len(lrs), 1)) so each "
    "row gets its own η, start from one empty state, run exactly `steps` steps, pass the "
    "hyperparameters on, and report f − f* (np.inf where it is not finite)."
)


def _sweep_hint(step, problem, lrs, steps, hp):
    """diagnose(got, expected) for one sweep: the usual slips, by their values."""

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return one final f − f* per η: shape {expected.shape}."
        with np.errstate(all="ignore"):
            if np.isnan(got).any():
                return "a run that blew up gives nan (inf − inf): report it as np.inf."
            if np.allclose(got, expected + problem.f_star, rtol=1e-9, equal_nan=True):
                return "that is f, not f − f*: subtract problem.f_star."
        overflowed = np.isinf(expected) & np.isfinite(got) & (np.abs(got) > 1e300)
        if overflowed.any():
            return (
                "a run whose f overflowed ends at f − f* = inf with x still finite: report "
                "np.inf, not the largest float (np.nan_to_num turns inf into 1.8e308 unless "
                "you pass posinf=np.inf; np.where(np.isfinite(gap), gap, np.inf) keeps it)."
            )
        capped = np.isinf(got) & np.isfinite(expected)
        if capped.any():
            return (
                f"a run that ends finite is reported as it is, however large (here "
                f"{expected[capped][0]:.3g}): only a result that is not finite becomes np.inf."
            )
        slips = [
            (
                lambda: _sweep_reference(step, problem, lrs, steps - 1, **hp),
                "one step short: run exactly `steps` steps.",
            ),
            (
                lambda: _sweep_reference(step, problem, lrs, steps + 1, **hp),
                "one step too many: run exactly `steps` steps.",
            ),
            (
                lambda: _sweep_reference(step, problem, lrs, steps, shared=True, **hp),
                "each "
                "run needs its own state: start from one empty state for the stack of runs (or "
                "a new one per η), not one state reused from run to run.",
            ),
            (
                lambda: _sweep_reference(step, problem, lrs, steps),
                "pass the hyperparameters "
                "on: step(x, problem.grad, state, lr=…, **hyperparameters).",
            ),
        ]
        for value, text in slips:
            relevant = hp or "hyperparameters" not in text
            if relevant and np.allclose(got, value(), rtol=1e-9, atol=1e-12, equal_nan=True):
                return text
        if len(lrs) == problem.x0.size:  # a row of η multiplies the coordinates
            x, state = np.tile(problem.x0, (len(lrs), 1)), {}
            with np.errstate(all="ignore"):
                for _ in range(steps):
                    x = step(x, problem.grad, state, lr=np.asarray(lrs), **hp)
                gap = problem.f(x) - problem.f_star
            if np.allclose(got, np.where(np.isfinite(gap), gap, np.inf), rtol=1e-9):
                return (
                    "pass lr as a column, shape (len(lrs), 1): a row of η multiplies the "
                    "coordinates, not the runs."
                )
        return ""

    return diagnose


def _broadcast(report):
    if "broadcast" in report.lines[0]:
        return (
            "a broadcasting error: pass lr as a column, np.asarray(lrs)[:, None] of shape "
            "(len(lrs), 1), so that each row of the stack (one run) gets its own η."
        )
    return ""


def lr_sweep_cases():
    """fn(step, problem, lrs, steps, **hp) on five sweeps; expected: one run per η in a loop."""
    sweeps = [
        (
            "GD on the course quadratic, η = 0.1 and 0.4 (two η, two coordinates)",
            optimizers.gd,
            course_quadratic,
            [0.1, 0.4],
            20,
            {},
        ),
        (
            "GD on Rosenbrock, the two largest η end at nan",
            optimizers.gd,
            rosenbrock,
            [1e-4, 1e-3, 3e-3, 1e-2],
            50,
            {},
        ),
        (
            "GD on the course quadratic, 400 steps: f − f* ends small, at 6e117, at inf "
            "(x finite, f overflowed) and at nan",
            optimizers.gd,
            course_quadratic,
            [0.1, 0.6, 1.0, 2.0],
            400,
            {},
        ),
        (
            "momentum, γ = 0.5, on the double well (f* ≠ 0)",
            optimizers.momentum,
            double_well,
            [0.005, 0.02, 0.05],
            40,
            {"gamma": 0.5},
        ),
        (
            "RMSprop, ρ = 0.9, on Rosenbrock, five η",
            optimizers.rmsprop,
            rosenbrock,
            list(np.geomspace(1e-3, 0.3, 5)),
            60,
            {"rho": 0.9, "eps": 1e-8},
        ),
    ]
    return [
        Case(
            name,
            (
                Budget(step, "step", limit=2 * steps * len(lrs) + 100),
                problem,
                np.array(lrs),
                steps,
            ),
            _sweep_reference(step, problem, lrs, steps, **hp),
            kwargs=hp,
            hint=SWEEP,
            rtol=1e-9,
            atol=1e-12,
            diagnose=_sweep_hint(step, problem, lrs, steps, hp),
            on_error=_broadcast,
        )
        for name, step, problem, lrs, steps, hp in sweeps
    ]


def evaluate_lr_sweep(fn):
    """Compare fn(step, problem, lrs, steps, **hp) with one separate run per η."""
    return evaluate_function(fn, lr_sweep_cases(), agree=" agree with one separate run per η.")


check_lr_sweep = printing(evaluate_lr_sweep)
