"""check_step (lessons 01–04): a step function against its rule's reference trajectories,
recorded from torch.optim and the authors' code by tools/make_reference.py."""

import numpy as np

from ..contract import InputError, name_of
from ..data import load_references
from ..problems import rosenbrock
from .engine import evaluate_trajectories, printing


def problem_from_spec(spec):
    """Gradient callable of a reference case's problem (specs written by make_reference.py)."""
    if spec["kind"] == "quadratic":  # f = Σ ½ a x² − b x, elementwise, any shape
        a, b = np.array(spec["a"], dtype=float), np.array(spec["b"], dtype=float)
        return lambda x: a * x - b
    if spec["kind"] == "rosenbrock":
        return rosenbrock.grad
    raise ValueError(f"unknown problem kind {spec['kind']!r}")


def evaluate_step(fn, rule=None, section="steps"):
    """Run step function ``fn`` on every reference case of ``rule`` (by default fn's name)."""
    rules = load_references(section)["rules"]
    rule = rule or name_of(fn)
    if rule not in rules:
        raise InputError(
            f"no reference trajectories for a rule named {rule!r}: name your function like one "
            f"of {sorted(rules)}, or pass the rule, e.g. check_step(my_step, 'adam')"
        )
    ref = rules[rule]
    return evaluate_trajectories(fn, ref, lambda spec: (problem_from_spec(spec), {}))


check_step = printing(evaluate_step)
