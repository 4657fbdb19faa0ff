"""Lesson 05c (curvature for networks): the checks accept the right answers and reject the
usual wrong ones, each with its hint (K-FAC's preconditioner, the effect of measuring an input
in other units, K-FAC with exact damping); the notebook's own answers pass; and the claims the
lesson's prose makes without printing them hold, on other data seeds too."""

import warnings

import numpy as np
import pytest
from lessons import Exercise, answer_tests, exercise_tests, solution_functions

from course_lib import LeastSquares, checks, optimizers, run
from course_lib import second_order as so
from course_lib.contract import ExerciseNotDone

LESSON = "05c-curvature-for-networks.ipynb"

# --- Exercise 5c.1: K-FAC preconditioning ------------------------------------------------------


def kfac_by_kron(X, A, S):  # right numbers, but it forms the product the exercise avoids
    return so.unvec(np.linalg.solve(np.kron(A, S), so.vec(X)), X.shape)


def kfac_by_inverses(X, A, S):
    return np.linalg.inv(S) @ X @ np.linalg.inv(A)


KFAC_WRONG = {
    "factors in the wrong order": (
        lambda X, A, S: (
            np.linalg.solve(S, np.linalg.solve(A, X.T).T).T
            if X.shape[0] == X.shape[1]
            else np.linalg.solve(A, X.T).T @ np.linalg.solve(S, np.eye(len(S)))
        ),
        "the shapes tell which factor goes where",
    ),
    "row-major vec": (
        lambda X, A, S: np.linalg.solve(np.kron(np.asarray(A), np.asarray(S)), X.ravel()).reshape(
            X.shape
        ),
        "vec stacks the columns",
    ),
    "A and S multiplied, not inverted": (
        lambda X, A, S: S @ X @ A.T,
        "the factors multiply ∇W, they must be inverted",
    ),
    "only S inverted": (lambda X, A, S: np.linalg.solve(S, X), "K_a⁻¹ is missing"),
    "forms the Kronecker product": (kfac_by_kron, "never the (in·out)×(in·out) product"),
    "np.linalg.inv": (kfac_by_inverses, "solve, do not invert"),
}
for _fn, _ in KFAC_WRONG.values():
    _fn.__name__ = "kfac_precondition"


def test_the_kfac_check_expects_the_solve_with_the_explicit_product():
    # vec stacks columns: vec(X)[i + j·out] = X[i, j]; the expected X solves (A ⊗ S) vec(X) =
    # vec(∇W) with A ⊗ S built entry by entry, (A ⊗ S)[(i + j·out), (k + m·out)] = A[j, m] S[i, k]
    for case in checks.lesson05c.kfac_cases():
        grad_W, A, S = (np.asarray(a) for a in case.args)
        out, n_in = grad_W.shape
        K = np.zeros((out * n_in, out * n_in))
        for i, j, k, m in np.ndindex(out, n_in, out, n_in):
            K[i + j * out, k + m * out] = A[j, m] * S[i, k]
        X = case.expected
        vec = lambda M: np.array([M[i, j] for j in range(n_in) for i in range(out)])
        np.testing.assert_allclose(K @ vec(X), vec(grad_W), rtol=1e-10, atol=1e-12)


(
    test_kfac_right_passes,
    test_kfac_mistake_fails,
    test_kfac_unfinished,
) = exercise_tests(
    {
        "kfac_precondition": Exercise(
            checks.evaluate_kfac_precondition,
            right=[
                so.kfac_precondition,
                lambda X, A, S: np.linalg.solve(S, np.linalg.solve(A.T, X.T).T),
            ],
            wrong=KFAC_WRONG,
        ),
    }
)


# --- Exercise 5c.3: K-FAC with exact damping -----------------------------------------------


def exact_damping_by_eigh(grad_W, A, S, damping):
    a, Q_A = np.linalg.eigh(A)
    s, Q_S = np.linalg.eigh(S)
    return Q_S @ ((Q_S.T @ grad_W @ Q_A) / (np.outer(s, a) + damping)) @ Q_A.T


def exact_damping_by_kron(grad_W, A, S, damping):  # right numbers, but forms the product
    K = np.kron(A, S) + damping * np.eye(len(A) * len(S))
    return so.unvec(np.linalg.solve(K, so.vec(grad_W)), grad_W.shape)


def _eigen(A, S):
    return (*np.linalg.eigh(A), *np.linalg.eigh(S))


def damping_factored(grad_W, A, S, damping):
    r = np.sqrt(damping)
    return so.kfac_precondition(grad_W, A + r * np.eye(len(A)), S + r * np.eye(len(S)))


def eigenvalues_added(grad_W, A, S, damping):
    a, Q_A, s, Q_S = _eigen(A, S)
    return Q_S @ ((Q_S.T @ grad_W @ Q_A) / (np.add.outer(s, a) + damping)) @ Q_A.T


def not_rotated_back(grad_W, A, S, damping):
    a, Q_A, s, Q_S = _eigen(A, S)
    return (Q_S.T @ grad_W @ Q_A) / (np.outer(s, a) + damping)


def damping_on_s_only(grad_W, A, S, damping):
    return so.kfac_precondition(grad_W, A, S + damping * np.eye(len(S)))


def rotated_the_wrong_way(grad_W, A, S, damping):
    a, Q_A, s, Q_S = _eigen(A, S)
    return Q_S.T @ ((Q_S @ grad_W @ Q_A.T) / (np.outer(s, a) + damping)) @ Q_A


def eigenvalue_grid_transposed(grad_W, A, S, damping):
    a, Q_A, s, Q_S = _eigen(A, S)
    D = np.outer(a, s).T if grad_W.shape[0] != grad_W.shape[1] else np.outer(a, s)
    return Q_S @ ((Q_S.T @ grad_W @ Q_A) / (D + damping)) @ Q_A.T


def damping_ignored(grad_W, A, S, damping):
    return so.kfac_precondition(grad_W, A + 1e-12 * np.eye(len(A)), S + 1e-12 * np.eye(len(S)))


EXACT_DAMPING_WRONG = {
    "the factored damping": (damping_factored, "that is the factored damping"),
    "eigenvalues added": (eigenvalues_added, "the products λᵢ(K_δ)·λⱼ(K_a)"),
    "not rotated back": (not_rotated_back, "rotate back"),
    "damping on S only": (damping_on_s_only, "one factor only"),
    "rotated the wrong way": (rotated_the_wrong_way, "∇W into the eigenbases"),
    "eigenvalue grid transposed": (
        eigenvalue_grid_transposed,
        "divide entry (i, j) by λᵢ(K_δ)·λⱼ(K_a) + ν",
    ),
    "damping ignored": (damping_ignored, "K_a ⊗ K_δ + νI ="),
    "forms the Kronecker product": (exact_damping_by_kron, "never the (in·out)×(in·out)"),
}
for _fn, _ in EXACT_DAMPING_WRONG.values():
    _fn.__name__ = "kfac_exact_damping"

test_exact_damping_right, test_exact_damping_mistake, test_exact_damping_unfinished = (
    exercise_tests(
        {
            "kfac_exact_damping": Exercise(
                checks.evaluate_kfac_exact_damping,
                right=[exact_damping_by_eigh],
                wrong=EXACT_DAMPING_WRONG,
            )
        }
    )
)


# --- Exercise 5c.2 (predict): the same data in other units -------------------------------------

BEFORE = {"GD": 0.1797, "K-FAC": 0.1815, "natural gradient": 0.1679}
AFTER = {"GD": 0.5615, "K-FAC": 0.1815, "natural gradient": 0.1679}
RIGHT_PREDICTIONS = {"GD": "worse", "K-FAC": "unchanged", "natural gradient": "unchanged"}


PREDICTIONS_WRONG = {
    "GD unchanged (its safe η shrank)": (
        {**RIGHT_PREDICTIONS, "GD": "unchanged"},
        "GD's largest safe η shrank",
        "case 1/3 (GD)",
    ),
    "K-FAC worse (K_a⁻¹ undoes it)": (
        {**RIGHT_PREDICTIONS, "K-FAC": "worse"},
        "K_a⁻¹ undoes the rescaling",
        "case 2/3 (K-FAC)",
    ),
    "the natural gradient better": (
        {**RIGHT_PREDICTIONS, "natural gradient": "better"},
        "the rescaling changed no prediction",
        "case 3/3 (natural gradient)",
    ),
    "a word not in the list": (
        {**RIGHT_PREDICTIONS, "GD": "slower"},
        "is not one of",
        "case 1/3 (GD)",
    ),
    "one left at '?'": (
        {**RIGHT_PREDICTIONS, "K-FAC": "?"},
        "no prediction yet",
        "case 2/3 (K-FAC)",
    ),
    "a list": (["worse"] * 3, "expected a dict"),
}

test_rescaling_predictions_right_pass, test_rescaling_predictions_wrong_fail_with_the_reason = (
    answer_tests(
        checks.evaluate_rescaling_predictions,
        "predictions",
        [RIGHT_PREDICTIONS, {**RIGHT_PREDICTIONS, "GD": " Worse "}],
        PREDICTIONS_WRONG,
        args=(BEFORE, AFTER),
        right_says="3 methods",
    )
)


def test_rescaling_predictions_follow_the_measurement_not_a_typed_answer():
    # had K-FAC got worse, "worse" would be right: the check reads the measured losses
    after = {**AFTER, "K-FAC": 0.25}
    assert checks.evaluate_rescaling_predictions(
        {**RIGHT_PREDICTIONS, "K-FAC": "worse"}, BEFORE, after
    )
    assert checks.lesson05c.rescaling_effect(1.0, 1.019) == "unchanged"
    assert checks.lesson05c.rescaling_effect(1.0, 1.021) == "worse"
    assert checks.lesson05c.rescaling_effect(1.0, 0.97) == "better"


def test_rescaling_predictions_unfinished_says_so():
    with pytest.raises(ExerciseNotDone, match=r"Exercise 5c\.2"):
        checks.evaluate_rescaling_predictions(dict.fromkeys(RIGHT_PREDICTIONS, "?"), BEFORE, AFTER)


# --- the notebook's own answers pass ------------------------------------------------------------


def test_the_lessons_answers_pass_their_checks():
    ns = solution_functions(LESSON)
    assert checks.evaluate_kfac_precondition(ns["kfac_precondition"])
    assert checks.evaluate_kfac_exact_damping(ns["kfac_exact_damping"])
    assert checks.evaluate_rescaling_predictions(ns["predictions"], BEFORE, AFTER)


# --- the claims of the prose, on the lesson's data and on other seeds ---------------------------


def make_blobs(n=300, dims=5, classes=4, spread=1.5, seed=0):
    """The lesson's data set (its make_blobs)."""
    rng = np.random.default_rng(seed)
    centres = spread * rng.standard_normal((classes, dims))
    labels = rng.integers(0, classes, n)
    inputs = centres[labels] + rng.standard_normal((n, dims))
    return np.hstack([inputs, np.ones((n, 1))]), labels


def standardised(inputs):
    features = inputs[:, :-1]
    return np.hstack([(features - features.mean(0)) / features.std(0), inputs[:, -1:]])


LRS = np.geomspace(0.01, 100, 9)
STEPS = {
    "GD": (optimizers.gd, lambda layer: {}),
    "K-FAC": (so.kfac, lambda layer: {"factors": layer.kfac_factors}),
    "natural gradient": (so.natural_gradient, lambda layer: {}),
}


def tuned_losses(layer, steps=30):
    """{method: (best η, loss after `steps` steps at it)} on the lesson's grid (as tune does:
    a run that diverges scores inf)."""
    out = {}
    for name, (step, extras) in STEPS.items():
        losses = []
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a too-large η diverges: what a grid is for
            for lr in LRS:
                r = run(step, layer, steps=steps, lr=lr, **extras(layer))
                losses.append(np.inf if r.diverged_at is not None else r.losses[-1])
        best = int(np.argmin(losses))
        assert 0 < best < len(LRS) - 1, (name, "the best η is at the grid's edge")
        out[name] = (LRS[best], losses[best])
    return out


def layers(seed):
    """The lesson's two settings for data seed `seed`: standardised, and the first input ×10
    with W0's first column ÷10 (the same starting predictions)."""
    a, labels = make_blobs(seed=seed)
    W0 = 0.5 * np.random.default_rng(1 + seed).standard_normal((4, 6))
    units = np.array([10.0, 1, 1, 1, 1, 1])
    return (
        so.SoftmaxLayer(standardised(a), labels, x0=W0),
        so.SoftmaxLayer(standardised(a) * units, labels, x0=W0 / units),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rescaling_an_input_hurts_gd_and_leaves_kfac_and_the_natural_gradient(seed):
    std, units = (tuned_losses(layer) for layer in layers(seed))
    assert units["GD"][1] > 1.5 * std["GD"][1]  # worse: 0.18 → 0.56 on seed 0, ×1.7 on seed 1
    assert units["GD"][0] <= std["GD"][0] / 10  # its η had to shrink
    for name in ("K-FAC", "natural gradient"):
        assert units[name][1] == pytest.approx(std[name][1], rel=0.005)
    # on standardised inputs GD keeps up with K-FAC over 30 steps (within 10 %), and the
    # natural gradient is ahead of both
    assert std["GD"][1] == pytest.approx(std["K-FAC"][1], rel=0.1)
    assert std["natural gradient"][1] < min(std["GD"][1], std["K-FAC"][1])


def steps_to_reach(layer, tol=1e-3, max_steps=2500):
    """{method: the first step with f − f* < tol, each at its tuned η} (f*: the natural
    gradient run until it stops moving)."""
    f_star = run(so.natural_gradient, layer, steps=60, lr=1.0).losses[-1]
    reached = {}
    for name, (lr, _) in tuned_losses(layer).items():
        step, extras = STEPS[name]
        kw = {**extras(layer), **({"hess": layer.hess} if name == "natural gradient" else {})}
        x, state = layer.x0.copy(), {}
        for t in range(1, max_steps + 1):
            x = step(x, layer.grad, state, lr=lr, **kw)
            if layer.f(x) - f_star < tol:
                reached[name] = t
                break
    return reached


def test_to_convergence_natural_gradient_then_kfac_then_gd():
    a, labels = make_blobs()
    W0 = 0.5 * np.random.default_rng(1).standard_normal((4, 6))
    raw = steps_to_reach(so.SoftmaxLayer(a, labels, x0=W0))
    # "about a dozen", "a few hundred", "over a thousand and a half" (11, 257, 1551 here)
    assert 8 <= raw["natural gradient"] <= 16
    assert 150 <= raw["K-FAC"] <= 500
    assert 1500 < raw["GD"] < 2500
    std = steps_to_reach(so.SoftmaxLayer(standardised(a), labels, x0=W0))
    assert 1.5 < std["GD"] / std["K-FAC"] < 3  # "about twice K-FAC's steps" (540 / 258 here)


def lesson_layer():
    a, labels = make_blobs()
    W0 = 0.5 * np.random.default_rng(1).standard_normal((4, 6))
    _, grad0, y_hat0, _ = so.softmax_layer(W0, a, labels)
    F = so.fisher_exact(a, y_hat0)
    K_a, K_delta = so.kfac_factors(a, y_hat0)
    return a, labels, W0, grad0, F, K_a, K_delta


def cosine(u, v):
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def test_the_structures_rank_as_the_lesson_says():
    _, _, _, grad0, F, K_a, K_delta = lesson_layer()
    nu, g = 1e-3, so.vec(grad0)
    exact = np.linalg.solve(F + nu * np.eye(24), g)
    blocks = np.zeros_like(F)
    for k in range(4):
        rows = np.arange(k, 24, 4)
        blocks[np.ix_(rows, rows)] = F[np.ix_(rows, rows)]
    root = np.sqrt(nu)
    cos = {
        "gradient": cosine(g, exact),
        "diagonal": cosine(g / (np.diag(F) + nu), exact),
        "blocks": cosine(np.linalg.solve(blocks + nu * np.eye(24), g), exact),
        "K-FAC": cosine(
            so.vec(so.kfac_precondition(grad0, K_a + root * np.eye(6), K_delta + root * np.eye(4))),
            exact,
        ),
    }
    degrees = {k: np.degrees(np.arccos(c)) for k, c in cos.items()}
    assert 25 < degrees["K-FAC"] < 35  # "within about 30°"
    assert cos["blocks"] > cos["K-FAC"] > cos["diagonal"] > cos["gradient"]
    assert degrees["gradient"] - degrees["diagonal"] < 15  # "only a little closer"


def test_split_damping_keeps_the_direction_and_shortens_the_step():
    _, _, _, grad0, F, K_a, K_delta = lesson_layer()
    g, lengths, gaps = so.vec(grad0), [], []
    exact_lengths = []
    for nu in np.geomspace(1e-4, 1e-1, 7):
        natural = np.linalg.solve(F + nu * np.eye(24), g)
        split = so.vec(
            so.kfac_precondition(
                grad0, K_a + np.sqrt(nu) * np.eye(6), K_delta + np.sqrt(nu) * np.eye(4)
            )
        )
        exact = so.vec(checks.lesson05c._kron_solve(K_a, K_delta, grad0, nu))
        gaps.append(abs(cosine(split, natural) - cosine(exact, natural)))
        lengths.append(np.linalg.norm(split) / np.linalg.norm(natural))
        exact_lengths.append(np.linalg.norm(exact) / np.linalg.norm(natural))
    assert max(gaps) < 0.01  # the direction hardly changes
    assert np.all(np.diff(lengths) < 0) and lengths[-1] < 0.5  # shorter and shorter
    assert min(exact_lengths) > 0.8 and max(exact_lengths) < 1.1  # close to the natural length


def least_squares():
    rng = np.random.default_rng(3)
    X_reg = rng.standard_normal((200, 2)) @ np.array([[1.0, 0.0], [0.8, 0.5]])
    y_reg = X_reg @ np.array([1.0, -1.0]) + 0.3 * rng.standard_normal(200)
    return LeastSquares(X_reg, y_reg, x0=np.array([-2.0, 2.5]))


def empirical_fisher_step(x, grad, state, example_grads, lr=1.0, damping=1e-8):
    g_i = example_grads(x)
    return x - lr * np.linalg.solve(g_i.T @ g_i / len(g_i) + damping * np.eye(len(x)), grad(x))


def test_the_fisher_goes_straight_and_the_empirical_fisher_goes_astray():
    ls = least_squares()
    x_star = ls.minima[0]
    overshoots = 0
    for start in ([-2.0, 2.5], [3.0, 2.0], [-2.5, -3.0]):
        fisher = run(so.newton, ls, x0=start, steps=40, lr=0.5)
        error = np.linalg.norm(fisher.xs - x_star, axis=1)
        np.testing.assert_allclose(error[1:11] / error[:10], 0.5, rtol=1e-6)  # halving
        ef = run(empirical_fisher_step, ls, x0=start, steps=40, example_grads=ls.example_grads,
                 lr=0.5)  # fmt: skip
        assert ef.gap[10] > 1e4 * fisher.gap[10]
        distance = np.linalg.norm(ef.xs - x_star, axis=1)
        overshoots += bool(np.any(np.diff(distance) > 0))
    assert overshoots >= 1  # "one run overshoots"


def test_the_empirical_fisher_gets_closer_to_the_fisher_only_as_the_model_fits():
    a, labels, W0, *_ = lesson_layer()
    layer = so.SoftmaxLayer(a, labels, x0=W0)
    trained = run(so.natural_gradient, layer, steps=30, lr=1.0).x
    distances = []
    for W in (np.zeros_like(W0), W0, trained):
        _, _, y_hat, delta = so.softmax_layer(W, a, labels)
        F = so.fisher_exact(a, y_hat)
        distances.append(np.linalg.norm(so.fisher_empirical(a, delta) - F) / np.linalg.norm(F))
    assert distances[0] > 0.8 and distances[1] > 0.8 and distances[2] < 0.4
