"""Lesson 05b's library: exact Hessian- and Gauss–Newton-vector products against finite
differences, explicit matrices and PyTorch (the reference file); CG, nonlinear CG and
Levenberg–Marquardt against scipy; Hessian-free training."""

import numpy as np
import pytest

from course_lib import PROBLEMS, data, quadratic_with_spectrum, rosenbrock, run
from course_lib import hessian_free as hf
from course_lib.checks import load_references
from course_lib.mlp import MLP, relative_error, softmax, split_train_validation

REF = load_references("hessian_free")
X, Y = data.load_digits()
X_TRAIN, Y_TRAIN, _, _ = split_train_validation(X, Y, validation=0.2, seed=0)


def network(sizes=(64, 7, 10), activation="tanh", weight_decay=0.0, n=30, seed=0):
    net = MLP(
        X_TRAIN[:n],
        Y_TRAIN[:n],
        sizes=sizes,
        activation=activation,
        weight_decay=weight_decay,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    return net, net.x0 + 0.2 * rng.standard_normal(net.dim), rng.standard_normal(net.dim)


NETWORKS = [
    ("tanh", (64, 7, 10), 0.0),
    ("relu", (64, 7, 10), 0.0),
    ("tanh", (64, 6, 5, 10), 1e-2),
    ("relu", (64, 6, 5, 10), 1e-2),
]


@pytest.mark.parametrize("activation, sizes, weight_decay", NETWORKS)
def test_mlp_hvp_matches_finite_differences_of_the_gradient(activation, sizes, weight_decay):
    net, w, v = network(sizes, activation, weight_decay)
    h = 1e-5
    fd = (net.grad(w + h * v) - net.grad(w - h * v)) / (2 * h)
    assert relative_error(net.hvp(w, v), fd) < 1e-7
    idx = np.array([3, 7, 11, 20])  # a mini-batch
    fd = (net.grad(w + h * v, idx) - net.grad(w - h * v, idx)) / (2 * h)
    assert relative_error(net.hvp(w, v, idx), fd) < 1e-7


@pytest.mark.parametrize("activation, sizes, weight_decay", NETWORKS)
def test_jvp_and_vjp_are_the_jacobian_and_its_transpose(activation, sizes, weight_decay):
    net, w, v = network(sizes, activation, weight_decay)
    h = 1e-6
    fd = (net.logits(w + h * v, net.X) - net.logits(w - h * v, net.X)) / (2 * h)
    assert relative_error(net.jvp(w, v), fd) < 1e-7
    u = np.random.default_rng(1).standard_normal(fd.shape)
    assert np.isclose(np.sum(u * net.jvp(w, v)), net.vjp(w, u) @ v, rtol=1e-10)


@pytest.mark.parametrize("activation, sizes, weight_decay", NETWORKS)
def test_gauss_newton_product_is_the_explicit_jt_hl_j(activation, sizes, weight_decay):
    net, w, v = network(sizes, activation, weight_decay)
    J = np.stack([net.jvp(w, e).ravel() for e in np.eye(net.dim)], axis=1)
    p = softmax(net.logits(w, net.X))
    n, c = p.shape
    H = np.zeros((n * c, n * c))
    for i, p_i in enumerate(p):
        H[i * c : (i + 1) * c, i * c : (i + 1) * c] = (np.diag(p_i) - np.outer(p_i, p_i)) / n
    decay = np.concatenate([np.r_[np.ones(W.size), np.zeros(b.size)] for W, b in net.unpack(w)])
    G = J.T @ H @ J + weight_decay * np.diag(decay)
    np.testing.assert_allclose(net.gauss_newton_vp(w, v), G @ v, rtol=1e-9, atol=1e-12)
    G_cols = np.stack([net.gauss_newton_vp(w, e) for e in np.eye(net.dim)], axis=1)
    np.testing.assert_allclose(G_cols, G_cols.T, atol=1e-12)  # symmetric
    assert np.linalg.eigvalsh(G_cols)[0] > -1e-12  # positive semidefinite


def test_at_a_perfect_fit_of_a_linear_model_gauss_newton_is_the_hessian():
    # one layer: the logits are linear in w, so ∇²z = 0 and H = G exactly
    net, w, v = network((64, 10), "tanh", 1e-3)
    np.testing.assert_allclose(net.hvp(w, v), net.gauss_newton_vp(w, v), rtol=1e-10)


def test_mlp_products_match_torch():
    r = REF["network"]
    net = MLP(
        X_TRAIN[: r["examples"]],
        Y_TRAIN[: r["examples"]],
        sizes=r["sizes"],
        weight_decay=r["weight_decay"],
    )
    rng = np.random.default_rng(r["seed"])
    w, v = 0.3 * rng.standard_normal(net.dim), rng.standard_normal(net.dim)
    assert relative_error(net.hvp(w, v), r["hvp"]) < 1e-13
    assert relative_error(net.gauss_newton_vp(w, v), r["gauss_newton_vp"]) < 1e-13


def test_curvature_products_refuse_another_criterion():
    net, w, v = network()
    other = MLP(net.X, net.y, sizes=net.sizes, criterion=lambda z, y: (0.0, 0 * z))
    with pytest.raises(ValueError, match="softmax cross-entropy"):
        other.hvp(w, v)


@pytest.mark.parametrize("product", ["hvp", "jvp", "gauss_newton_vp"])
def test_curvature_products_refuse_batch_norm_rather_than_answer_wrongly(product):
    # The R-operator sweeps ignore the batch statistics' dependence on w: once they
    # returned an HVP 4× off (relative) for a batch-norm network, silently.
    net, w, v = network()
    bn = MLP(net.X, net.y, sizes=net.sizes, batch_norm=True)
    with pytest.raises(ValueError, match="batch_norm"):
        getattr(bn, product)(w, v)
    with pytest.raises(ValueError, match="batch_norm"):
        bn.vjp(w, np.ones((net.n, net.sizes[-1])))


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_problem_hvp_is_the_hessian_times_v(name):
    problem = PROBLEMS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2))  # a stack of points, as on a contour grid
    v = rng.standard_normal((4, 3, 2))
    expected = np.einsum("...ij,...j->...i", problem.hess(x), v)
    np.testing.assert_allclose(problem.hvp(x, v), expected, rtol=1e-12, atol=1e-12)
    assert problem.replace(name="copy").hvp(x[0, 0], v[0, 0]).shape == (2,)


def test_quadratic_hvp_never_forms_a_stack_of_matrices():
    q = quadratic_with_spectrum(np.arange(1.0, 6.0), seed=1)
    v = np.arange(5.0)
    np.testing.assert_allclose(q.hvp(np.zeros(5), v), q.A @ v, rtol=1e-13)


def test_fd_hvp_error_is_second_order_in_h():
    x, v = np.array([-1.2, 1.0]), np.array([1.0, 0.5])
    exact = rosenbrock.hvp(x, v)
    errors = [np.linalg.norm(hf.fd_hvp(rosenbrock.grad, x, v, h) - exact) for h in (1e-2, 1e-3)]
    assert 50 < errors[0] / errors[1] < 200  # ×100 for a tenfold smaller h


# --- linear and nonlinear CG ---------------------------------------------------------------


@pytest.mark.parametrize("case", REF["cg"]["cases"], ids=lambda c: c["name"])
def test_conjugate_gradient_takes_scipys_iterates(case):
    A, b = np.array(case["A"]), np.array(case["b"])
    xs, norms = hf.conjugate_gradient(lambda v: A @ v, b, rtol=case["rtol"])
    np.testing.assert_allclose(xs, case["expected"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(norms, case["residual_norms"], rtol=1e-6, atol=1e-9)


def test_conjugate_gradient_warm_start_and_truncation():
    q = quadratic_with_spectrum(np.geomspace(1, 100, 30), seed=0)
    b = np.ones(30)
    exact = np.linalg.solve(q.A, b)
    xs, _ = hf.conjugate_gradient(lambda v: q.A @ v, b, rtol=1e-12, x0=exact)
    assert len(xs) == 1  # starts at the solution: nothing to do
    xs, _ = hf.conjugate_gradient(lambda v: q.A @ v, b, rtol=1e-12, max_iter=4)
    assert len(xs) == 5
    values = [0.5 * x @ q.A @ x - b @ x for x in xs]
    assert np.all(np.diff(values) < 0)  # each step lowers the quadratic


def test_cg_bound_holds_on_a_spread_spectrum():
    lam = np.geomspace(1, 1000, 60)
    q = quadratic_with_spectrum(lam, seed=3)
    b = np.random.default_rng(0).standard_normal(60)
    xs, _ = hf.conjugate_gradient(lambda v: q.A @ v, b, rtol=1e-8)
    x_star = np.linalg.solve(q.A, b)
    err = np.sqrt([(x - x_star) @ q.A @ (x - x_star) for x in xs])
    k = np.arange(len(xs))
    assert np.all(err / err[0] <= hf.cg_bound(1000, k) + 1e-12)


@pytest.mark.parametrize("name", ["Rosenbrock", "Beale", "Himmelblau"])
def test_nonlinear_cg_reaches_scipys_minimum(name):
    s, problem = REF["nonlinear_cg"][name], PROBLEMS[name]
    for beta in (hf.fletcher_reeves, hf.polak_ribiere_plus):
        r = hf.minimize_nonlinear_cg(problem.f, problem.grad, s["x0"], beta=beta, gtol=1e-5)
        assert r.success and np.max(np.abs(problem.grad(r.x))) < 1e-5
        np.testing.assert_allclose(r.x, s["x"], atol=1e-4)
        assert np.all(np.diff(r.grad_evals) >= 1)
    pr = hf.minimize_nonlinear_cg(problem.f, problem.grad, s["x0"])
    assert len(pr.xs) - 1 <= 3 * s["nit"]  # Polak–Ribière+ is of scipy's order


def test_nonlinear_cg_is_a_step_function_for_run():
    r = run(hf.nonlinear_cg, rosenbrock, x0=[-1.2, 1.0], steps=40)
    assert r.losses[-1] < 1e-8 and np.all(np.diff(r.losses) <= 1e-12)  # a descent method


def test_beta_rules():
    g_old, g_new, p = np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.array([-1.0, 0.0])
    assert hf.fletcher_reeves(g_new, g_old, p) == pytest.approx(0.5)
    assert hf.polak_ribiere_plus(g_new, g_old, p) == 0.0  # gᵀ(g − g_old) = 0: a restart
    assert hf.polak_ribiere_plus(np.array([2.0, 0.0]), g_old, p) == pytest.approx(2.0)


# --- Levenberg–Marquardt and Hessian-free --------------------------------------------------


def diabetes_problem():
    X_d, y_d = data.load_diabetes(standardize=False)
    A = np.hstack([(X_d - X_d.mean(0)) / X_d.std(0), np.ones((len(X_d), 1))])
    return (lambda t: np.exp(A @ t) - y_d / 100), (lambda t: np.exp(A @ t)[:, None] * A)


@pytest.mark.parametrize("lam", [0.0, 1e-3, 1.0])
def test_levenberg_marquardt_finds_scipys_minimum(lam):
    residuals, jacobian = diabetes_problem()
    s = REF["least_squares"]
    r = hf.minimize_levenberg_marquardt(residuals, jacobian, np.zeros(11), lam=lam)
    assert r.success
    np.testing.assert_allclose(r.x, s["x"], atol=1e-5)
    assert r.losses[-1] <= s["fun"] + 1e-9
    assert np.all(np.diff(r.losses) <= 1e-12) or lam == 0  # LM never goes uphill


def test_levenberg_marquardt_adapts_damping_from_a_poor_start():
    residuals, jacobian = diabetes_problem()
    start = np.r_[np.zeros(10), -3.0]
    lm = hf.minimize_levenberg_marquardt(residuals, jacobian, start, lam=1.0)
    gn = hf.minimize_levenberg_marquardt(residuals, jacobian, start, lam=0.0)
    assert lm.success and gn.success and len(lm.xs) < len(gn.xs)
    assert lm.metrics["lam"].max() > 1.0 and lm.metrics["lam"][-1] < 1.0  # up, then down
    assert gn.losses.max() > 1e40 and np.all(np.diff(lm.losses) <= 0)
    never = hf.minimize_levenberg_marquardt(
        residuals, jacobian, start, lam=1.0, max_iter=30, update=lambda lam, rho: lam
    )
    assert not never.success  # a λ that never adapts stays stuck at the start


@pytest.mark.parametrize(
    "rho, factor",
    # Martens (2010, §4.1): ρ < ¼ → λ·3/2; ρ > ¾ → λ·2/3; λ stays at the thresholds themselves
    [
        (-3.0, 1.5),
        (0.1, 1.5),
        (0.2, 1.5),
        (np.nextafter(0.25, 0), 1.5),
        (0.25, 1.0),
        (0.3, 1.0),
        (0.5, 1.0),
        (0.7, 1.0),
        (0.75, 1.0),
        (np.nextafter(0.75, 1), 2 / 3),
        (0.8, 2 / 3),
        (0.9, 2 / 3),
    ],
)
def test_update_damping_follows_martens_rule_at_its_thresholds(rho, factor):
    assert hf.update_damping(2.0, rho) == pytest.approx(2.0 * factor, rel=1e-15)
    assert hf.update_damping(2.0, rho, boost=3.0, drop=0.25) == pytest.approx(
        2.0 * {1.5: 3.0, 1.0: 1.0, 2 / 3: 0.25}[factor], rel=1e-15
    )


def test_the_damping_check_expects_martens_rule():
    from course_lib.checks.lesson05b import update_damping_cases

    for case in update_damping_cases():  # its expected values are typed, not computed
        lam, rho = case.args
        boost, drop = case.kwargs.get("boost", 1.5), case.kwargs.get("drop", 2 / 3)
        rule = boost * lam if rho < 0.25 else drop * lam if rho > 0.75 else lam
        assert case.expected == pytest.approx(rule, rel=1e-15), case.name
    rhos = {case.args[1] for case in update_damping_cases()}
    assert {0.25, 0.75} <= rhos  # at the thresholds themselves


def test_full_loss_and_grad_is_loss_and_grad_in_blocks():
    net = MLP(X_TRAIN[:300], Y_TRAIN[:300], weight_decay=1e-3, seed=2)
    loss, g = hf.full_loss_and_grad(net, net.x0)
    expected_loss, expected_g = net.loss_and_grad(net.x0)
    assert loss == pytest.approx(expected_loss, rel=1e-13)
    np.testing.assert_allclose(g, expected_g, rtol=1e-11, atol=1e-14)


def test_hessian_free_training_lowers_the_loss_within_its_budget():
    net = MLP(X_TRAIN[:400], Y_TRAIN[:400], seed=0)
    seen = []
    r = hf.minimize_hessian_free(
        net,
        iterations=50,
        max_evals=20 * net.n,
        lam=0.1,
        cg_iters=5,
        curvature_batch=0.1,
        update=lambda lam, rho: seen.append(rho) or hf.update_damping(lam, rho),
        metrics={"acc": net.accuracy},
    )
    assert r.losses[-1] < 0.2 * r.losses[0] and np.all(np.diff(r.losses) <= 0)
    assert r.grad_evals[-1] <= 20 * net.n and len(seen) == len(r.losses) - 1
    assert np.all(np.diff(r.times) >= 0) and r.metrics["acc"][-1] > 0.9
    assert r.xs.shape == (len(r.losses), net.dim) and np.all(r.metrics["cg"][1:] <= 5 + 1)
