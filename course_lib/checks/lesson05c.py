"""Lesson 05c (curvature for networks): K-FAC's preconditioner, the effect of measuring an
input in other units (predicted), and K-FAC with exact damping.
The factors are K_a = E[a aᵀ] (the layer's inputs) and K_δ = E[δ δᵀ] (its output gradients);
the functions take them as K_a and K_delta, and the damping ν as damping."""

import numpy as np

from ..contract import ExerciseNotDone
from ..second_order import kfac_precondition
from .engine import Case, Report, evaluate_function, printing

# --- Exercise 5c.1: K-FAC --------------------------------------------------------------------


class KroneckerFormed(Exception):
    """A K-FAC exercise formed a Kronecker product or an inverse it was asked to avoid."""


class Factor(np.ndarray):
    """A factor K_a or K_δ of a K-FAC case: np.kron (and, where asked, np.linalg.inv) on it
    raise KroneckerFormed, so that the check can enforce "without forming the Kronecker
    product" (and "use np.linalg.solve"). Everything else works as on any array."""

    forbid_inv = False

    def __array_finalize__(self, obj):  # copies and views keep the rule
        self.forbid_inv = getattr(obj, "forbid_inv", False)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.kron:
            raise KroneckerFormed(
                "np.kron forms the Kronecker product, (in·out)² numbers: the exercise asks "
                "for the factors only"
            )
        if func is np.linalg.inv and self.forbid_inv:
            raise KroneckerFormed("np.linalg.inv: the exercise asks for np.linalg.solve")
        return super().__array_function__(func, types, args, kwargs)


def _factor(M, forbid_inv=False):
    view = np.asarray(M, dtype=float).copy().view(Factor)
    view.forbid_inv = forbid_inv
    return view


def _kron_solve(A, S, grad_W, damping=0.0):
    """vec⁻¹((K_a ⊗ K_δ + νI)⁻¹ vec(∇W)), vec stacking columns (order="F"): numpy.linalg.solve
    on the explicit product, the definition the exercises ask to avoid."""
    K = np.kron(np.asarray(A), np.asarray(S)) + damping * np.eye(len(A) * len(S))
    return np.linalg.solve(K, grad_W.reshape(-1, order="F")).reshape(grad_W.shape, order="F")


def _formed(report):
    if "ValueError" in report.lines[0] and "mismatch" in report.lines[0]:
        return (
            "the shapes tell which factor goes where: K_δ (out×out) multiplies ∇W (out×in) from "
            "the left, K_a (in×in) from the right: K_δ⁻¹ ∇W K_a⁻¹."
        )
    if "KroneckerFormed" not in report.lines[0]:
        return ""
    if "inv" in report.lines[0]:
        return (
            "solve, do not invert: K_δ⁻¹ ∇W K_a⁻¹ is np.linalg.solve(K_delta, ∇W) for K_δ⁻¹∇W, and a "
            "second solve with K_a for the right factor (K_a is symmetric: X K_a⁻¹ = (K_a⁻¹ Xᵀ)ᵀ)."
        )
    return (
        "(K_a ⊗ K_δ)⁻¹ vec(∇W) = vec(K_δ⁻¹ ∇W K_a⁻¹): two solves with the small factors, "
        "O(in³ + out³), never the (in·out)×(in·out) product."
    )


KFAC = (
    "(K_a ⊗ K_δ)⁻¹ = K_a⁻¹ ⊗ K_δ⁻¹ and (K_a ⊗ K_δ) vec(X) = vec(K_δ X K_aᵀ) with vec stacking "
    "columns: K_δ (outputs) acts from the left, K_a (inputs) from the right: K_δ⁻¹ ∇W K_a⁻¹."
)


def _kfac_slips(grad_W, A, S):
    """diagnose(got, expected) for one case: the usual slips, by value."""
    inv_A, inv_S = np.linalg.inv(A), np.linalg.inv(S)
    slips = [
        (
            grad_W @ inv_S if grad_W.shape[1] == len(S) else None,
            "the factors are the other way round: K_δ (out×out) acts from the left and K_a "
            "(in×in) from the right, K_δ⁻¹ ∇W K_a⁻¹.",
        ),
        (
            inv_A @ grad_W @ inv_S
            if grad_W.shape[0] == len(A) and grad_W.shape[1] == len(S)
            else None,
            "the factors are the other way round: K_δ (out×out) acts from the left and K_a "
            "(in×in) from the right, K_δ⁻¹ ∇W K_a⁻¹.",
        ),
        (
            np.linalg.solve(np.kron(A, S), grad_W.ravel()).reshape(grad_W.shape),
            'vec stacks the columns (order="F"), not the rows: with columns, '
            "(K_a ⊗ K_δ) vec(X) = vec(K_δ X K_aᵀ).",
        ),
        (S @ grad_W @ A.T, "the factors multiply ∇W, they must be inverted: K_δ⁻¹ ∇W K_a⁻¹."),
        (S @ grad_W @ A, "the factors multiply ∇W, they must be inverted: K_δ⁻¹ ∇W K_a⁻¹."),
        (inv_S @ grad_W, "K_a⁻¹ is missing, on the right: K_δ⁻¹ ∇W K_a⁻¹."),
        (grad_W @ inv_A, "K_δ⁻¹ is missing, on the left: K_δ⁻¹ ∇W K_a⁻¹."),
    ]

    def diagnose(got, expected):
        if got.shape != expected.shape:
            return f"return a matrix shaped like ∇W, {expected.shape} (out, in)."
        for value, text in slips:
            if value is not None and np.allclose(got, value, rtol=1e-8, atol=1e-12):
                return text
        return ""

    return diagnose


def kfac_cases():
    """fn(grad_W, K_a, K_delta); expected: numpy.linalg.solve on the explicit Kronecker product."""
    rng = np.random.default_rng(2015)

    def spd(n):
        M = rng.standard_normal((n, n))
        return M @ M.T / n + 0.5 * np.eye(n)

    cases = []
    for name, d_out, d_in in [
        ("W of shape (3, 5)", 3, 5),
        ("W of shape (2, 4)", 2, 4),
        ("W of shape (3, 3): square, the factors' order matters", 3, 3),
    ]:
        A, S, grad_W = spd(d_in), spd(d_out), rng.standard_normal((d_out, d_in))
        cases.append(
            Case(
                name,
                (grad_W, _factor(A, forbid_inv=True), _factor(S, forbid_inv=True)),
                _kron_solve(A, S, grad_W),
                hint=KFAC,
                rtol=1e-9,
                diagnose=_kfac_slips(grad_W, A, S),
                on_error=_formed,
            )
        )
    return cases


def evaluate_kfac_precondition(fn):
    """Compare fn(grad_W, K_a, K_delta) with numpy.linalg.solve(np.kron(K_a, K_delta), vec(grad_W))."""
    return evaluate_function(fn, kfac_cases())


check_kfac_precondition = printing(evaluate_kfac_precondition)

# --- Exercise 5c.3: K-FAC with exact damping -------------------------------------------------


def _exact_damping_slips(grad_W, A, S, damping):
    """diagnose(got, expected) for one case: names the result of each usual slip."""
    a, Q_A = np.linalg.eigh(A)
    s, Q_S = np.linalg.eigh(S)
    V = Q_S.T @ grad_W @ Q_A
    root = np.sqrt(damping)
    eye_in, eye_out = np.eye(len(A)), np.eye(len(S))
    slips = [
        (
            kfac_precondition(grad_W, A + root * eye_in, S + root * eye_out),
            "that is the factored damping (K_a + √νI) ⊗ (K_δ + √νI) = K_a ⊗ K_δ + "
            "√ν(K_a ⊗ I + I ⊗ K_δ) + νI: it damps more than νI. Go through the eigenvectors "
            "of K_a and K_δ instead.",
        ),
        (
            Q_S @ (V / (np.add.outer(s, a) + damping)) @ Q_A.T,
            "the eigenvalues of K_a ⊗ K_δ are the products λᵢ(K_δ)·λⱼ(K_a) of the factors' "
            "eigenvalues, not their sums: divide by λᵢ(K_δ)·λⱼ(K_a) + ν.",
        ),
        (
            V / (np.outer(s, a) + damping),
            "that is the answer in the eigenbases: rotate back, Q_δ (…) Q_aᵀ.",
        ),
        (
            kfac_precondition(grad_W, A, S + damping * eye_out),
            "ν is added to one factor only: (K_a ⊗ (K_δ + νI))⁻¹ is not (K_a ⊗ K_δ + νI)⁻¹.",
        ),
        (
            kfac_precondition(grad_W, A + damping * eye_in, S),
            "ν is added to one factor only: ((K_a + νI) ⊗ K_δ)⁻¹ is not (K_a ⊗ K_δ + νI)⁻¹.",
        ),
    ]

    def diagnose(got, expected):
        for value, text in slips:
            if got.shape == value.shape and np.allclose(got, value, rtol=1e-7, atol=1e-10):
                return text
        return ""

    return diagnose


def kfac_exact_damping_cases():
    """fn(grad_W, K_a, K_delta, damping); expected: numpy.linalg.solve on K_a ⊗ K_δ + νI."""
    rng = np.random.default_rng(2019)
    hint = (
        "with K_a = Q_a diag(λ(K_a)) Q_aᵀ and K_δ = Q_δ diag(λ(K_δ)) Q_δᵀ (np.linalg.eigh), "
        "K_a ⊗ K_δ + νI = (Q_a ⊗ Q_δ)(diag(λ(K_a)) ⊗ diag(λ(K_δ)) + νI)(Q_a ⊗ Q_δ)ᵀ: rotate "
        "∇W into the eigenbases, V = Q_δᵀ ∇W Q_a, divide entry (i, j) by λᵢ(K_δ)·λⱼ(K_a) + ν, "
        "and rotate back, Q_δ V Q_aᵀ."
    )

    def psd(n):
        M = rng.standard_normal((n, n))
        return M @ M.T / n

    p = rng.dirichlet(np.ones(4))
    specs = [
        ("W of shape (3, 5), ν = 0.1", psd(5), psd(3), 0.1),
        (
            "W of shape (4, 6), K_δ singular as the softmax's (rows sum to 0), ν = 10⁻³",
            psd(6),
            np.diag(p) - np.outer(p, p),
            1e-3,
        ),
        ("W of shape (3, 3): square, the factors' order matters, ν = 1", psd(3), psd(3), 1.0),
    ]
    cases = []
    for name, A, S, damping in specs:
        grad_W = rng.standard_normal((len(S), len(A)))
        expected = _kron_solve(A, S, grad_W, damping)
        diagnose = _exact_damping_slips(grad_W, A, S, damping)
        cases.append(
            Case(
                name,
                (grad_W, _factor(A), _factor(S), damping),
                expected,
                hint=hint,
                diagnose=diagnose,
                rtol=1e-8,
                on_error=_formed,
            )
        )
    return cases


def evaluate_kfac_exact_damping(fn):
    """Compare fn(grad_W, K_a, K_delta, damping) with numpy.linalg.solve on the explicit
    np.kron(K_a, K_delta) + νI."""
    return evaluate_function(fn, kfac_exact_damping_cases())


check_kfac_exact_damping = printing(evaluate_kfac_exact_damping)


# --- Exercise 5c.2 (predict): the same data in other units -----------------------------------

RESCALING_METHODS = ("GD", "K-FAC", "natural gradient")
EFFECTS = ("worse", "unchanged", "better")
RESCALING_WHY = {
    "GD": "the gradient along the rescaled column grew tenfold and the curvature a "
    "hundredfold, so GD's largest safe η shrank, and every other direction now crawls",
    "K-FAC": "K_a = E[a aᵀ] grows by the same factors as the curvature, and K_a⁻¹ undoes the "
    "rescaling: the same steps in predictions, up to the damping",
    "natural gradient": "it measures a step by how much it changes the predictions, and "
    "the rescaling changed no prediction: the same run, up to the damping",
}


def rescaling_effect(before, after, tol=0.02):
    """'worse', 'unchanged' or 'better': after against before, each a loss (lower is better),
    unchanged within the relative tolerance tol."""
    if after > before * (1 + tol):
        return "worse"
    if after < before * (1 - tol):
        return "better"
    return "unchanged"


def _best_loss(tuned):
    """The best mean score of a ``tune`` result (or a number as it is)."""
    return float(getattr(tuned, "best_mean", tuned))


def evaluate_rescaling_predictions(predictions, before, after):
    """Compare {method: "worse" | "unchanged" | "better"} with the measured effect of
    rescaling one input: before, after are {method: tune result (or loss)}, each method's
    loss after its tuned run on the standardised and on the rescaled inputs."""
    name = "predictions"
    if not isinstance(predictions, dict):
        return Report(
            name,
            False,
            [f"✘ {name}: expected a dict {{method: effect}}, got {type(predictions).__name__}."],
        )
    if all(predictions.get(m) in (None, "?", ...) for m in RESCALING_METHODS):
        raise ExerciseNotDone(
            "Exercise 5c.2: the same data in other units — not finished yet: fill in each '?' "
            "in predictions above, run its cell, then run this cell again."
        )
    measured = {}
    for i, method in enumerate(RESCALING_METHODS, 1):
        title = f"{i}/{len(RESCALING_METHODS)} ({method})"
        b, a = _best_loss(before[method]), _best_loss(after[method])
        measured[method] = (b, a, rescaling_effect(b, a))
        got = predictions.get(method)
        if got in (None, "?", ...):
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: no prediction yet.",
                    f"  hint: write one of {', '.join(map(repr, EFFECTS))} for {method}.",
                ],
            )
        word = str(got).strip().lower()
        if word not in EFFECTS:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}: {got!r} is not one of "
                    f"{', '.join(map(repr, EFFECTS))}.",
                    "  hint: compare the loss after 30 steps at the tuned η, before and after "
                    "the rescaling.",
                ],
            )
        if word != measured[method][2]:
            return Report(
                name,
                False,
                [
                    f"✘ {name}: case {title}",
                    f"  expected {measured[method][2]!r} (measured: loss {b:.4f} → {a:.4f}, "
                    "each at its tuned η; 'unchanged' within 2 %)",
                    f"  got      {word!r}",
                    f"  hint: {RESCALING_WHY[method]}.",
                ],
            )
    lines = [f"✔ {name}: 3 methods, each as measured (loss after its tuned run, before → after):"]
    lines += [
        f"  · {m}: {measured[m][2]} ({measured[m][0]:.3f} → {measured[m][1]:.3f}): "
        f"{RESCALING_WHY[m]}."
        for m in RESCALING_METHODS
    ]
    return Report(name, True, lines)


check_rescaling_predictions = printing(evaluate_rescaling_predictions)
