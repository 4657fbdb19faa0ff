"""Lesson 02 (momentum): Polyak's heavy-ball tuning and the largest stable learning rate by
bisection. (The steps: ``check_step``.)"""

import numpy as np

from ..contract import name_of
from .engine import Budget, Case, Report, call_student, evaluate_function, printing

# --- Exercise 2.4: heavy-ball tuning ----------------------------------------------------------

TUNING = (
    "η = 4/(√λ_max + √λ_min)² and γ = ((√κ − 1)/(√κ + 1))² with κ = λ_max/λ_min: "
    "return the pair (η, γ)."
)


def _tuning_slips(lo, hi):
    """diagnose(got, expected) for one spectrum [lo, hi]: the usual slips, by value."""
    root = np.sqrt(hi / lo)
    lr, gamma = 4 / (np.sqrt(hi) + np.sqrt(lo)) ** 2, ((root - 1) / (root + 1)) ** 2
    slips = [
        ((gamma, lr), "(η, γ) in that order: return lr first, then gamma."),
        ((lr, np.sqrt(gamma)), "γ is a square: ((√κ − 1)/(√κ + 1))², the rate ρ squared."),
        (
            (lr, ((hi / lo - 1) / (hi / lo + 1)) ** 2),
            "γ uses √κ, not κ: ((√κ − 1)/(√κ + 1))² with κ = λ_max/λ_min.",
        ),
        (
            (2 / (lo + hi), gamma),
            "that is gradient descent's best η, 2/(λ_min + λ_max): the heavy ball's is "
            "4/(√λ_max + √λ_min)².",
        ),
        (
            (1 / hi, gamma),
            "that is Nesterov's η = 1/λ_max: the heavy ball's is 4/(√λ_max + √λ_min)².",
        ),
        (
            (4 / (hi + lo), gamma),
            "sum the square roots, then square: 4/(√λ_max + √λ_min)², not 4/(λ_max + λ_min).",
        ),
    ]

    def diagnose(got, expected):
        if got.shape != (2,):
            return "return the pair (lr, gamma): `return lr, gamma`, not η alone."
        for value, text in slips:
            if np.allclose(got, value, rtol=1e-9, atol=1e-15):
                return text
        return ""

    return diagnose


def heavy_ball_tuning_cases():
    """fn(lam_min, lam_max) on four spectra; expected: Polyak's (η, γ), worked out by hand
    for each (tests/test_lesson02.py checks them against the iteration matrices)."""
    spectra = [  # (name, λ_min, λ_max, η, γ); course quadratic: √κ = 2√5
        (
            "course quadratic, λ = 0.2 and 4",
            0.2,
            4.0,
            4 / (2 + 5**-0.5) ** 2,
            ((2 * 5**0.5 - 1) / (2 * 5**0.5 + 1)) ** 2,
        ),
        ("λ_min = 1, λ_max = 100: η = 4/121, γ = 81/121", 1.0, 100.0, 4 / 121, 81 / 121),
        ("λ_min = 0.5, λ_max = 2: η = 8/9, γ = 1/9", 0.5, 2.0, 8 / 9, 1 / 9),
        ("κ = 1: no momentum needed, η = 1/3, γ = 0", 3.0, 3.0, 1 / 3, 0.0),
    ]
    return [
        Case(name, (lo, hi), (lr, gamma), hint=TUNING, diagnose=_tuning_slips(lo, hi), atol=1e-15)
        for name, lo, hi, lr, gamma in spectra
    ]


def evaluate_heavy_ball_tuning(fn):
    """Compare fn(lam_min, lam_max) → (lr, gamma) with Polyak's optimal (η, γ)."""
    return evaluate_function(fn, heavy_ball_tuning_cases())


check_heavy_ball_tuning = printing(evaluate_heavy_ball_tuning)


# --- Exercise 2.3: the largest stable learning rate, by bisection ----------------------------


def _threshold(limit):
    """A stability test with a known answer: stable(η) is True exactly when η < limit; it
    stops a loop that calls it 200 times."""
    return Budget(lambda lr: bool(lr < limit), "stable", limit=200)


def _loop_hint(queries, lo, hi, tol):
    """Why a bisection asked stable() so often, from the η it asked about."""
    halvings = int(np.ceil(np.log2((hi - lo) / tol)))
    asked = np.array([float(q) for q in queries])
    outside = asked[(asked < lo) | (asked > hi)]
    if outside.size:
        return (
            f"stable() was asked about η = {outside[0]:.6g}, outside [lo, hi] = [{lo:g}, {hi:g}]: "
            "the midpoint is mid = (lo + hi) / 2 (mind the brackets: lo + hi / 2 is not "
            "between lo and hi)."
        )
    values, counts = np.unique(asked, return_counts=True)
    if counts.max() > 2:
        return (
            f"stable() was asked about η = {values[np.argmax(counts)]:.6g} "
            f"{counts.max()} times: the interval stopped shrinking. Take the midpoint "
            "mid = (lo + hi) / 2 and move lo or hi to it (mind the brackets: lo + hi / 2 is "
            "not the midpoint; and with lo = 0, √(lo·hi) stays 0)."
        )
    steps = np.diff(asked[:50])
    if steps.size > 3 and np.allclose(steps, tol, rtol=1e-6):
        return (
            "it tries η = lo + tol, lo + 2·tol, …: a scan needs (hi − lo)/tol runs; halve "
            f"[lo, hi] instead, about log2((hi − lo)/tol) ≈ {halvings} runs."
        )
    return (
        f"halving [lo, hi] needs about log2((hi − lo)/tol) ≈ {halvings} calls: does the loop "
        "stop once hi − lo ≤ tol, and does each call move lo or hi to the midpoint?"
    )


def largest_stable_cases():
    """(name, limit, lo, hi, tol): fn(stable, lo, hi, tol) must return η in [limit − tol, limit)."""
    return [
        ("GD on the course quadratic: 2/λ_max = 0.5", 0.5, 0.01, 1.0, 1e-4),
        ("heavy ball, γ = 0.5, λ_max = 4: 2(1 + γ)/λ_max = 0.75", 0.75, 0.1, 2.0, 1e-6),
        ("a limit of 1/3 (no short binary expansion), lo = 0", 1 / 3, 0.0, 10.0, 1e-8),
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
            if stable.calls > stable.limit:  # stopped by the budget: say what it asked
                failed.lines.append(f"  hint: {_loop_hint(stable.queries, lo, hi, tol)}")
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
