"""Lesson 03 (adaptive learning rates): PyTorch's convention, ε outside the root, against
torch.optim's own runs (data/references_adaptive.json), and a learning-rate sweep run all at
once. (The steps: ``check_step``.)"""

import numpy as np

from .. import optimizers
from ..problems import course_quadratic, double_well, rosenbrock
from .engine import Case, evaluate_function, printing
from .steps import evaluate_step


def evaluate_torch_convention(fn, rule):
    """Run a step with ε outside the root on torch.optim's runs of rule ("adagrad_eps_outside"…)."""
    return evaluate_step(fn, rule, section="adaptive")


check_torch_convention = printing(evaluate_torch_convention)


# --- Exercise 3.5: a learning-rate sweep, all runs at once ----------------------------------


def _sweep_reference(step, problem, lrs, steps, **hp):
    """One run per η, each with its own state, exactly `steps` steps; inf where it blew up."""
    out = []
    for lr in lrs:
        x, state = problem.x0.copy(), {}
        with np.errstate(all="ignore"):
            for _ in range(steps):
                x = step(x, problem.grad, state, lr=lr, **hp)
            gap = float(problem.f(x) - problem.f_star)
        out.append(gap if np.isfinite(gap) else np.inf)
    return np.array(out)


def _sweep_hint(problem):
    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return one final f − f* per η: shape {expected.shape}."
        if np.isnan(got).any():
            return "a run that blew up gives nan (inf − inf): report it as np.inf."
        if np.allclose(got, expected + problem.f_star, rtol=1e-9, equal_nan=True):
            return "that is f, not f − f*: subtract problem.f_star."
        return (
            "stack one copy of problem.x0 per η, pass lr as a column (shape (len(lrs), 1)) "
            "so each row gets its own η, start from one empty state, run exactly `steps` "
            "steps, and pass the hyperparameters on."
        )

    return diagnose


def lr_sweep_cases():
    """fn(step, problem, lrs, steps, **hp) on four sweeps; expected: one run per η in a loop."""
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
            "GD on Rosenbrock, the largest η diverges",
            optimizers.gd,
            rosenbrock,
            [1e-4, 1e-3, 3e-3, 1e-2],
            50,
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
            (step, problem, np.array(lrs), steps),
            _sweep_reference(step, problem, lrs, steps, **hp),
            kwargs=hp,
            rtol=1e-9,
            atol=1e-12,
            diagnose=_sweep_hint(problem),
        )
        for name, step, problem, lrs, steps, hp in sweeps
    ]


def evaluate_lr_sweep(fn):
    """Compare fn(step, problem, lrs, steps, **hp) with one separate run per η."""
    return evaluate_function(fn, lr_sweep_cases(), agree=" agree with one separate run per η.")


check_lr_sweep = printing(evaluate_lr_sweep)
