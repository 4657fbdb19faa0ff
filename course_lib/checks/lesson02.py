"""Lesson 02 (momentum): Polyak's heavy-ball tuning. (The steps: ``check_step``.)"""

from ..rates import heavy_ball_tuning
from .engine import Case, evaluate_function, printing


def heavy_ball_tuning_cases():
    """fn(lam_min, lam_max) on four spectra; expected: course_lib.rates.heavy_ball_tuning."""
    hint = (
        "η = 4/(√λ_max + √λ_min)² (sum the square roots, then square) and "
        "γ = ((√κ − 1)/(√κ + 1))² with κ = λ_max/λ_min (note the square); return (η, γ)."
    )
    spectra = [
        ("course quadratic, λ = 0.2 and 4", 0.2, 4.0),
        ("λ_min = 1, λ_max = 100", 1.0, 100.0),
        ("λ_min = 0.5, λ_max = 2", 0.5, 2.0),
        ("κ = 1: no momentum needed", 3.0, 3.0),
    ]
    return [Case(name, (lo, hi), heavy_ball_tuning(lo, hi), hint=hint) for name, lo, hi in spectra]


def evaluate_heavy_ball_tuning(fn):
    """Compare fn(lam_min, lam_max) → (lr, gamma) with Polyak's optimal (η, γ)."""
    return evaluate_function(fn, heavy_ball_tuning_cases())


check_heavy_ball_tuning = printing(evaluate_heavy_ball_tuning)
