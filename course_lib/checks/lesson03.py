"""Lesson 03 (adaptive learning rates): PyTorch's convention, ε outside the root, against
torch.optim's own runs (data/references_adaptive.json). (The steps: ``check_step``.)"""

from .engine import printing
from .steps import evaluate_step


def evaluate_torch_convention(fn, rule):
    """Run a step with ε outside the root on torch.optim's runs of rule ("adagrad_eps_outside"…)."""
    return evaluate_step(fn, rule, section="adaptive")


check_torch_convention = printing(evaluate_torch_convention)
