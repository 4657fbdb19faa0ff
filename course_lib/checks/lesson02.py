"""Lesson 02 (momentum): Polyak's heavy-ball tuning and the largest stable learning rate by
bisection. (The steps: ``check_step``.)"""

import numpy as np

from ..contract import name_of
from ..rates import heavy_ball_tuning
from .engine import Case, Report, call_student, evaluate_function, printing


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


# --- Exercise 2.3: the largest stable learning rate, by bisection ----------------------------


def _threshold(limit):
    """A stability test with a known answer: stable(η) is True exactly when η < limit."""

    def stable(lr):
        stable.calls += 1
        return bool(lr < limit)

    stable.calls = 0
    return stable


def largest_stable_cases():
    """(name, limit, lo, hi, tol): fn(stable, lo, hi, tol) must return η in [limit − tol, limit)."""
    return [
        ("GD on the course quadratic: 2/λ_max = 0.5", 0.5, 0.01, 1.0, 1e-4),
        ("heavy ball, γ = 0.5, λ_max = 4: 2(1 + γ)/λ_max = 0.75", 0.75, 0.1, 2.0, 1e-6),
        ("a limit of 1/3 (no short binary expansion)", 1 / 3, 0.0, 10.0, 1e-8),
        ("hi only just unstable", 0.9999, 0.5, 1.0, 1e-3),
    ]


def evaluate_largest_stable_lr(fn):
    """Check fn(stable, lo, hi, tol): a stable η within tol of the threshold, found by halving."""
    name = name_of(fn)
    cases = largest_stable_cases()
    for i, (case, limit, lo, hi, tol) in enumerate(cases, 1):
        title = f"{i}/{len(cases)} ({case})"
        stable = _threshold(limit)
        got, failed = call_student(fn, name, title, stable, lo, hi, tol)
        if failed is not None:
            return failed
        head = [f"✘ {name}: case {title}, lo = {lo}, hi = {hi}, tol = {tol:g}"]
        try:
            lr = float(got)
        except (TypeError, ValueError):
            return Report(name, False, head + [f"  got {got!r}", "  hint: return one number, η."])
        budget = int(np.ceil(np.log2((hi - lo) / tol))) + 3
        expected = f"  expected an η with stable(η) True in [{limit - tol:.10g}, {limit:.10g})"
        if lr >= limit:
            hint = (
                "stable(η) is False there: return the end of the interval that is known "
                "to be stable (lo), not hi or the last midpoint."
            )
        elif lr < limit - tol:
            hint = (
                "still more than tol below the threshold: halve [lo, hi] until hi − lo ≤ tol "
                "(a stable midpoint becomes the new lo, an unstable one the new hi)."
            )
        elif stable.calls > budget:
            hint = (
                f"right, but it called stable() {stable.calls} times: halving the interval "
                f"needs about log2((hi − lo)/tol) ≈ {budget - 3} calls, each a whole run."
            )
        else:
            continue
        return Report(
            name, False, head + [expected, f"  got      η = {lr:.10g}", f"  hint: {hint}"]
        )
    lines = [f"✔ {name}: {len(cases)} cases, each within tol below the threshold, by halving."]
    return Report(name, True, lines + [f"  · {c[0]}" for c in cases])


check_largest_stable_lr = printing(evaluate_largest_stable_lr)
