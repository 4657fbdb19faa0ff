"""Lesson 08b (memory, schedules and sharpness): Adafactor's factored estimate (Exercise 8b.1),
the design of SAM's flatness experiment (8b.2) and SAM's step (8b.3)."""

import numpy as np

from .. import optimizers
from ..contract import name_of
from .engine import Case, Report, call_student, evaluate_function, printing
from .lesson08 import evaluate_rule
from .steps import recognise

# --- Exercise 8b.1: Adafactor's rank-one estimate ------------------------------------------------


def factored_estimate(V):
    """Adafactor's estimate of V (positive) from its row and column means alone:
    V̂ = r cᵀ / mean(r), r the row means, c the column means."""
    r, c = V.mean(axis=1), V.mean(axis=0)
    return np.outer(r, c) / r.mean()


def _factored_diagnose(V):
    r, c = V.mean(axis=1), V.mean(axis=0)
    R, C = V.sum(axis=1), V.sum(axis=0)
    slips = [
        (
            np.outer(r, c),
            "r cᵀ alone counts the overall scale twice (r and c each carry it): divide by the "
            "mean of all entries, mean(r).",
        ),
        (
            np.outer(R, C),
            "the outer product of row and column sums carries the total twice: divide by the "
            "total Σ V (or use means, and divide by their mean).",
        ),
        (
            np.outer(r, c) / r.sum(),
            "with means, divide by the mean of r (the mean of all entries), not by its sum: "
            "that is m times too small.",
        ),
        (
            np.outer(R, C) / R.mean(),
            "with sums, divide by the total Σ R (= Σ C), not by the mean of R.",
        ),
        (
            (r[:, None] + c[None, :]) / 2,
            "the estimate is a product, r_i c_j / mean(r), not a sum: a rank-one V = a bᵀ is "
            "then recovered exactly.",
        ),
        (
            np.sqrt(np.outer(r, c)),
            "no square root: V̂ estimates V itself (Adafactor takes √V̂ in the step, later).",
        ),
    ]

    def diagnose(got, expected):
        for value, text in slips:
            if got.shape == value.shape and np.allclose(got, value, rtol=1e-6, atol=1e-12):
                return text
        if got.shape == expected.T.shape:
            return "the shape is transposed: V̂ is shaped like V, rows from r, columns from c."
        return ""

    return diagnose


def factored_estimate_cases():
    """fn(V) → V̂; expected: r cᵀ / mean(r) (torch.optim.Adafactor's estimate from its means)."""
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.5, 2.0, size=4), rng.uniform(0.1, 3.0, size=3)
    cases = []
    for name, V in [
        ("a rank-one V = a bᵀ (4×3): recovered exactly", np.outer(a, b)),
        ("squared gradients of a 3×5 matrix", rng.normal(size=(3, 5)) ** 2),
        ("a tall 6×2 V", rng.uniform(0.01, 1.0, size=(6, 2))),
    ]:
        cases.append(
            Case(
                name,
                (V,),
                factored_estimate(V),
                rtol=1e-9,
                atol=1e-12,
                diagnose=_factored_diagnose(V),
                hint="r = V.mean(axis=1), c = V.mean(axis=0), V̂ = np.outer(r, c) / r.mean().",
            )
        )
    return cases


def evaluate_factored_estimate(fn):
    """Compare fn(V) with Adafactor's factored estimate r cᵀ / mean(r)."""
    return evaluate_function(fn, factored_estimate_cases())


check_factored_estimate = printing(evaluate_factored_estimate)

# --- Exercise 8b.2: the design of SAM's flatness experiment ---------------------------------------

DESIGN_KEYS = ("radii", "lr", "seeds", "sharpness_on")


def _design_flaws(design):
    """(what is wrong, hint) for each flaw of a design, in the order a reader meets them."""
    flaws = []
    radii = np.asarray(design["radii"], dtype=float).ravel()
    if radii.size == 0 or not np.all((radii >= 0) & (radii < 1)):
        flaws.append(
            (
                f"radii = {design['radii']!r}",
                "radii are SAM's τ, each in [0, 1): a perturbation of norm τ in a space where "
                "the weights have norm ~10.",
            )
        )
        return flaws
    if not np.any(radii == 0):
        flaws.append(
            (
                f"radii = {design['radii']!r} has no 0",
                "τ = 0 is AdamW itself: without it, nothing tells SAM's effect from the rest of "
                "the set-up. Put the control in the same sweep.",
            )
        )
    if np.sum(radii > 0) < 2:
        flaws.append(
            (
                f"radii = {design['radii']!r}: one τ > 0",
                "with one τ > 0 you see a difference, not a trend: use two or more (e.g. 0.05, "
                "0.2) to see the sharpness follow τ.",
            )
        )
    if design["lr"] != "same for all":
        flaws.append(
            (
                f"lr = {design['lr']!r}",
                "η itself sets how sharp a minimum a run can settle in (a step η is only stable "
                "where the curvature is below about 2/η): an η tuned per radius changes two "
                'things at once. Keep η fixed, "same for all", and vary τ alone.',
            )
        )
    if not (isinstance(design["seeds"], int) and design["seeds"] >= 3):
        flaws.append(
            (
                f"seeds = {design['seeds']!r}",
                "at least 3 seeds (a whole number): the sharpness of one run's minimum varies "
                "from seed to seed, and the difference must stand out of that spread.",
            )
        )
    if design["sharpness_on"] != "training set":
        flaws.append(
            (
                f"sharpness_on = {design['sharpness_on']!r}",
                'measure λ_max on the "training set", the loss that was minimised: one '
                "mini-batch's Hessian is a noisy, and larger, estimate of it.",
            )
        )
    return flaws


def evaluate_sam_design(fn):
    """Check fn() → a design dict for the experiment that shows SAM's flatter minimum."""
    name = name_of(fn)
    title = "1/1 (the design)"
    design, failed = call_student(fn, name, title)
    if failed is not None:
        return failed
    missing = [k for k in DESIGN_KEYS if not isinstance(design, dict) or k not in design]
    if missing:
        return Report(
            name,
            False,
            [
                f"✘ {name}: case {title}: the design has no {', '.join(missing)}",
                f"  hint: return a dict with the keys {', '.join(DESIGN_KEYS)}.",
            ],
        )
    flaws = _design_flaws(design)
    if flaws:
        what, hint = flaws[0]
        more = f" (and {len(flaws) - 1} more)" if len(flaws) > 1 else ""
        return Report(name, False, [f"✘ {name}: case {title}: {what}{more}", f"  hint: {hint}"])
    return Report(
        name,
        True,
        [
            f"✔ {name}: a controlled experiment: τ ∈ {list(design['radii'])} at one η, "
            f"{design['seeds']} seeds, λ_max on the training set."
        ],
    )


check_sam_design = printing(evaluate_sam_design)

# --- Exercise 8b.3: SAM --------------------------------------------------------------------------


def _sam(slip):
    """SAM around the course's AdamW with one slip, replayed by identify()."""

    def sam(x, grad, state, lr=1e-3, radius=0.05, beta1=0.9, beta2=0.999, eps=1e-8,
            weight_decay=1e-2):  # fmt: skip
        g = grad(x)
        norm = np.linalg.norm(g)
        e = {
            "descent": -radius * g / (norm + 1e-12),
            "not normalised": radius * g,
            "squared norm": radius * g / (norm**2 + 1e-12),
        }.get(slip, radius * g / (norm + 1e-12))
        g_sam = grad(x) if slip == "plain" else grad(x + e)
        start = x + e if slip == "from perturbed" else x
        base = {} if slip == "fresh state" else state.setdefault("base", {})
        hp = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
        return optimizers.adamw(start, lambda _: g_sam, base, **hp)

    return sam


SAM_SLIPS = [
    (
        _sam("descent"),
        None,
        "the perturbation climbs: x + τ g/‖g‖, towards the worst nearby point, not x − τ g/‖g‖.",
    ),
    (_sam("not normalised"), None, "normalise: e = τ g/‖g‖ has length τ, whatever the size of g."),
    (_sam("squared norm"), None, "divide by ‖g‖, not ‖g‖²: e = τ g/‖g‖ has length τ."),
    (
        _sam("plain"),
        None,
        "that is AdamW alone: the gradient AdamW is given is the one at x + e.",
    ),
    (
        _sam("from perturbed"),
        None,
        "the base step starts from x itself: the perturbation only decides where the gradient "
        "is taken, and is undone before the step.",
    ),
    (
        _sam("fresh state"),
        None,
        "AdamW's moments must persist between calls: keep them in state (e.g. state['base']).",
    ),
]


def evaluate_sam(fn):
    """Run a SAM step (around AdamW) on pytorch-optimizer's SAM reference trajectories."""
    return evaluate_rule(fn, "sam", identify=recognise(SAM_SLIPS))


check_sam = printing(evaluate_sam)
