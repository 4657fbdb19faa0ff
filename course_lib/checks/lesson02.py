"""Lesson 02 (momentum): Polyak's heavy-ball tuning, the largest stable learning rate by
bisection, the overshoot prediction and the diagnosis of four runs. (The steps: ``check_step``.)"""

import numpy as np

from ..contract import ExerciseNotDone, name_of
from ..optimizers import momentum
from ..problems import course_quadratic, quadratic_with_spectrum
from ..rates import heavy_ball_tuning
from .engine import Budget, Case, Report, call_student, evaluate_function, printing

# --- Exercise 2.5: heavy-ball tuning ----------------------------------------------------------

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


# --- Exercise 2.4: the largest stable learning rate, by bisection ----------------------------


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


def _unfinished(exercise, what):
    """The one-line ExerciseNotDone of an answer given as values, not as a function."""
    return ExerciseNotDone(
        f"{exercise} — not finished yet: fill in {what} above, run its cell, then run this "
        "cell again."
    )


def _not_a_dict(name, what, got):
    return Report(name, False, [f"✘ {name}: expected a dict {{{what}}}, got {type(got).__name__}."])


# --- Exercise 2.3 (predict): does the heavy ball overshoot along the floor? -----------------

OVERSHOOT_LR = 0.1
OVERSHOOT_GAMMAS = (0.5, 0.7, 0.8, 0.9)


def heavy_ball_x1(gamma, lr=OVERSHOOT_LR, steps=300):
    """x1 of the heavy ball on the course quadratic from (−5, −2), steps + 1 values."""
    x, state, x1 = course_quadratic.x0, {}, [course_quadratic.x0[0]]
    for _ in range(steps):
        x = momentum(x, course_quadratic.grad, state, lr=lr, gamma=gamma)
        x1.append(x[0])
    return np.array(x1)


def overshoot(gamma, lr=OVERSHOOT_LR, steps=300):
    """Whether x1 of the heavy ball changes sign within ``steps`` steps, i.e. passes the
    minimum along the floor of the course quadratic: "yes" or "no"."""
    x1 = heavy_ball_x1(gamma, lr, steps)
    return "yes" if np.any(np.sign(x1[1:]) * np.sign(x1[:-1]) < 0) else "no"


def _overshoot_hint(gamma, expected):
    """Why x1 does or does not pass the minimum: ηλ_min against the floor's left end (1 − √γ)²."""
    lam = course_quadratic.eigenvalues.min() * OVERSHOOT_LR
    edge = (1 - np.sqrt(gamma)) ** 2
    if expected == "yes":
        return (
            f"along x1, ηλ_min = {lam:.3g} is above (1 − √γ)² = {edge:.3g}: the roots are complex, "
            "so x1 spirals, passing the minimum and turning back."
        )
    return (
        f"along x1, ηλ_min = {lam:.3g} is below (1 − √γ)² = {edge:.3g}: both roots are real "
        "and positive, so x1 creeps towards the minimum without passing it."
    )


def _yes_no(answer):
    """'yes' / 'no' from a student's answer (True and False are accepted too), else None."""
    if isinstance(answer, (bool, np.bool_)):
        return "yes" if answer else "no"
    word = str(answer).strip().lower()
    return word if word in ("yes", "no") else None


def evaluate_overshoot_predictions(predictions):
    """Compare a dict {γ: "yes" | "no"} with whether the heavy ball overshoots along x1."""
    name = "overshoots"
    if not isinstance(predictions, dict):
        return _not_a_dict(name, "γ: 'yes' or 'no'", predictions)
    if all(predictions.get(g) in (None, "?", ...) for g in OVERSHOOT_GAMMAS):
        raise _unfinished("Exercise 2.3: overshoot or not?", "each '?' in overshoots")
    for i, gamma in enumerate(OVERSHOOT_GAMMAS, 1):
        title = f"{i}/{len(OVERSHOOT_GAMMAS)} (γ = {gamma})"
        got = predictions.get(gamma)
        if got in (None, "?", ...):
            return Report(
                name,
                False,
                [f"✘ {name}: case {title}: no prediction yet.", "  hint: write 'yes' or 'no'."],
            )
        word = _yes_no(got)
        if word is None:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: {got!r} is neither 'yes' nor 'no'.",
                    "  hint: 'yes' if x1 ever passes the minimum (changes sign), 'no' if not.",
                ],
            )
        expected = overshoot(gamma)
        if word != expected:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}",
                    f"  expected {expected!r} (measured: 300 steps of the heavy ball, η = "
                    f"{OVERSHOOT_LR}, from (−5, −2))",
                    f"  got      {word!r}",
                    f"  hint: {_overshoot_hint(gamma, expected)}",
                ],
            )
    lines = [f"✔ {name}: {len(OVERSHOOT_GAMMAS)} values of γ, each as measured:"]
    lines += [f"  · γ = {g}: {overshoot(g)}" for g in OVERSHOOT_GAMMAS]
    return Report(name, True, lines)


check_overshoot_predictions = printing(evaluate_overshoot_predictions)


# --- Exercise 2.6 (diagnose): four heavy-ball runs -----------------------------------------

CAUSES = ("momentum too small", "momentum too large", "learning rate too large", "well tuned")
_MYSTERY = {
    "A": "momentum too small",
    "B": "learning rate too large",
    "C": "well tuned",
    "D": "momentum too large",
}
_SIGNATURES = {
    "momentum too small": "it falls smoothly, quickly at first and then along a slow straight "
    "line: the flat directions crawl as with gradient descent (real roots, no swinging). More "
    "γ would bring them onto the floor √γ.",
    "momentum too large": "it waves up and down while its peaks fall slowly and evenly: every "
    "direction spirals on the floor q = √γ, whatever its curvature, so the loss falls like γ^t, "
    "and γ close to 1 is slow.",
    "learning rate too large": "it grows, a rising line on the log scale: ηλ_max is beyond "
    "2(1 + γ) and the steepest direction diverges. (Polyak's tuning sits only about 1 % below "
    "that limit: an η a few per cent larger diverges.)",
    "well tuned": "it falls fastest and steadily, after a small rise at the start: every "
    "direction sits on the floor √γ = (√κ − 1)/(√κ + 1), as low as the floor can go.",
}
MYSTERY_STEPS = 150


def mystery_problem():
    """Exercise 2.6's quadratic: ten dimensions, eigenvalues from 1 to 100 (κ = 100)."""
    return quadratic_with_spectrum(np.geomspace(1.0, 100.0, 10), seed=1, name="κ = 100")


def _mystery_settings():
    """(η, γ) of each run of ``momentum_mystery_runs``: how they were made is the exercise."""
    lr, gamma = heavy_ball_tuning(1.0, 100.0)
    return {
        "momentum too small": (0.02, 0.3),
        "momentum too large": (lr, 0.97),
        "learning rate too large": (1.02 * lr, gamma),
        "well tuned": (lr, gamma),
    }


def momentum_mystery_runs(steps=MYSTERY_STEPS):
    """Exercise 2.6's runs: f − f* at every step, keyed "A" … "D" (how they were made is the exercise)."""
    q, settings = mystery_problem(), _mystery_settings()
    gaps = {}
    with np.errstate(all="ignore"):
        for run_name, cause in _MYSTERY.items():
            lr, gamma = settings[cause]
            x, state, xs = q.x0, {}, [q.x0]
            for _ in range(steps):
                x = momentum(x, q.grad, state, lr=lr, gamma=gamma)
                xs.append(x)
            gaps[run_name] = q.f(np.array(xs)) - q.f_star
    return gaps


def evaluate_momentum_diagnosis(diagnosis):
    """Compare a dict {run: cause} with the causes of the runs of ``momentum_mystery_runs``."""
    name = "diagnosis"
    if not isinstance(diagnosis, dict):
        return _not_a_dict(name, "run: cause", diagnosis)
    if all(diagnosis.get(k) in (None, "?", ...) for k in _MYSTERY):
        raise _unfinished("Exercise 2.6: four momentum runs", "each '?' in diagnosis")
    for i, (run_name, cause) in enumerate(_MYSTERY.items(), 1):
        title = f"{i}/{len(_MYSTERY)} (run {run_name})"
        got = diagnosis.get(run_name)
        word = None if got is None else str(got).strip().lower()
        if word not in CAUSES:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: {got!r} is not one of "
                    f"{', '.join(map(repr, CAUSES))}.",
                    "  hint: copy one of the four causes exactly.",
                ],
            )
        if word != cause:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}",
                    f"  expected {cause!r}",
                    f"  got      {word!r}",
                    f"  hint: look at run {run_name} again: {_SIGNATURES[cause]}",
                ],
            )
    settings = _mystery_settings()
    lines = [f"✔ {name}: {len(_MYSTERY)} runs, each cause named. They were:"]
    lines += [
        f"  · run {r}: {c}, η = {settings[c][0]:.4f}, γ = {settings[c][1]:.2f}"
        for r, c in _MYSTERY.items()
    ]
    return Report(name, True, lines)


check_momentum_diagnosis = printing(evaluate_momentum_diagnosis)
