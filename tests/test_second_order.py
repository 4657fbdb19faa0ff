"""course_lib.second_order (lessons 05 and 05c) against scipy / numpy and finite differences.
The lessons' checks are tested in tests/test_lesson05.py and tests/test_lesson05c.py."""

from functools import partial

import numpy as np
import pytest

from course_lib import checks, course_quadratic, rosenbrock, run, saddle
from course_lib import second_order as so

REF = checks.load_references("second_order")
X0 = np.array(REF["minimize"]["BFGS"]["x0"])


def fd_grad(f, x, h=1e-6):
    """Central differences of a scalar function of an array of any shape."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# --- Newton, line search, modified Hessians ------------------------------------


def test_newton_one_step_on_a_quadratic_is_exact():
    r = run(so.newton, course_quadratic, steps=1)
    np.testing.assert_allclose(r.x, course_quadratic.minima[0], atol=1e-12)


def test_newton_converges_quadratically_near_the_minimum():
    r = run(so.newton, rosenbrock, x0=[1.2, 1.3], steps=6)
    e = np.linalg.norm(r.xs - 1.0, axis=1)
    e = e[e > 1e-12]
    assert len(e) >= 4
    ratios = e[1:] / e[:-1] ** 2  # bounded: e_{k+1} ≤ C e_k²
    assert np.all(ratios < 10) and e[-1] < 1e-8


def test_newton_jumps_to_the_saddle_and_modified_hessians_escape():
    r = run(so.newton, saddle, steps=1)
    np.testing.assert_allclose(r.x, saddle.stationary_point, atol=1e-12)
    r = run(so.damped_newton, saddle, steps=1)  # a line search alone does not help
    np.testing.assert_allclose(r.x, saddle.stationary_point, atol=1e-12)
    for method in ("abs", "shift"):
        r = run(so.damped_newton, saddle, steps=8, modify=method, delta=1.0)
        assert r.losses[-1] < r.losses[0] - 1 and abs(r.x[1]) > 1e-1


def test_modify_hessian():
    H = np.array([[2.0, 1.0], [1.0, -3.0]])
    lam = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(so.modify_hessian(H, "abs")), np.sort(np.abs(lam))
    )
    shifted = so.modify_hessian(H, "shift", delta=0.5)
    np.testing.assert_allclose(np.linalg.eigvalsh(shifted)[0], 0.5)
    np.testing.assert_allclose(shifted - H, (0.5 - lam[0]) * np.eye(2))
    np.testing.assert_allclose(so.modify_hessian(np.eye(2) * 3, "shift"), np.eye(2) * 3)
    with pytest.raises(ValueError):
        so.modify_hessian(H, "cholesky")


@pytest.mark.parametrize("x", [[-1.2, 1.0], [0.3, -0.4], [2.0, 2.0]])
@pytest.mark.parametrize("c", [1e-4, 0.5])
def test_backtracking_returns_the_first_armijo_step(x, c):
    x = np.array(x)
    g = rosenbrock.grad(x)
    alpha = so.backtracking(rosenbrock.f, x, g, -g, alpha=1.0, c=c, shrink=0.5)
    armijo = lambda a: rosenbrock.f(x - a * g) <= rosenbrock.f(x) - c * a * g @ g
    assert armijo(alpha)
    assert all(not armijo(a) for a in 2.0 ** np.arange(np.log2(alpha) + 1, 1))


def test_backtracking_rejects_an_ascent_direction():
    g = rosenbrock.grad(X0)
    with pytest.raises(ValueError, match="descent"):
        so.backtracking(rosenbrock.f, X0, g, g)


def test_damped_newton_beats_pure_newton_on_rosenbrock():
    pure = run(so.newton, rosenbrock, x0=X0, steps=30)
    damped = run(so.damped_newton, rosenbrock, x0=X0, steps=30)
    assert np.all(np.diff(damped.losses) <= 0)  # monotone, unlike pure Newton
    assert np.any(np.diff(pure.losses) > 0)
    np.testing.assert_allclose(damped.x, [1, 1], atol=1e-10)


def test_rosenbrock_derivatives_agree_with_scipy_and_finite_differences():
    scipy_opt = pytest.importorskip("scipy.optimize")
    for x in ([-1.2, 1.0], [0.5, -0.3], [1.1, 1.3]):
        x = np.array(x)
        np.testing.assert_allclose(rosenbrock.hess(x), scipy_opt.rosen_hess(x), rtol=1e-12)
        np.testing.assert_allclose(scipy_opt.rosen_der(x), rosenbrock.grad(x), rtol=1e-12)
        H_fd = np.array([fd_grad(lambda z: rosenbrock.grad(z)[i], x) for i in range(2)])
        np.testing.assert_allclose(rosenbrock.hess(x), H_fd, rtol=1e-6, atol=1e-4)


# --- trust region ---------------------------------------------------------------


def test_trust_region_reproduces_scipy_dogleg_iterates():
    ref = REF["minimize"]["dogleg"]
    opts = ref["options"]
    r = so.minimize_trust_region(
        rosenbrock.f,
        rosenbrock.grad,
        rosenbrock.hess,
        ref["x0"],
        radius=opts["initial_trust_radius"],
        max_radius=opts["max_trust_radius"],
        eta=opts["eta"],
        gtol=opts["gtol"],
    )
    assert len(r.xs) - 1 == ref["nit"]
    np.testing.assert_allclose(r.xs, ref["xs"], rtol=1e-9, atol=1e-12)
    assert not r.metrics["accepted"].all()  # the run has rejected steps: the ratio test works


def test_dogleg_agrees_with_scipy_subproblem():
    tr = pytest.importorskip("scipy.optimize._trustregion_dogleg")
    from scipy.optimize import rosen, rosen_der, rosen_hess

    for x in ([-1.2, 1.0], [0.9, 0.8], [1.5, 2.0]):
        x = np.array(x)
        sub = tr.DoglegSubproblem(x, rosen, rosen_der, rosen_hess)
        for radius in (0.01, 0.1, 0.5, 5.0):
            p, boundary = so.dogleg(rosenbrock.grad(x), rosenbrock.hess(x), radius)
            p_ref, boundary_ref = sub.solve(radius)
            np.testing.assert_allclose(p, p_ref, rtol=1e-9, atol=1e-14)
            assert boundary == boundary_ref


def test_dogleg_rejects_an_indefinite_model():
    with pytest.raises(ValueError, match="positive definite"):
        so.dogleg(np.array([1.0, 1.0]), np.diag([2.0, -2.0]), 1.0)


def test_cauchy_point():
    g, B = np.array([1.0, -2.0]), np.array([[3.0, 0.5], [0.5, 1.0]])
    model = lambda p: g @ p + 0.5 * p @ B @ p
    for radius in (0.05, 0.5, 5.0):
        p = so.cauchy_point(g, B, radius)
        assert np.linalg.norm(p) <= radius * (1 + 1e-12)
        np.testing.assert_allclose(p[0] * g[1] - p[1] * g[0], 0, atol=1e-12)  # along −g
        ts = np.linspace(0, radius / np.linalg.norm(g), 401)
        assert model(p) <= min(model(-t * g) for t in ts) + 1e-12
    # negative curvature along g: go to the boundary
    p = so.cauchy_point(g, -np.eye(2), 0.3)
    np.testing.assert_allclose(np.linalg.norm(p), 0.3)


# --- quasi-Newton -----------------------------------------------------------------


def quasi_newton_misfit(xs, grad, memory=None):
    """The largest angle (‖u − d‖ of unit vectors) between a step x_{k+1} − x_k and −H_k∇f(x_k),
    over the run xs, with H_k built by scipy.optimize.BFGS (inverse form) from the run's own
    pairs s_j = x_{j+1} − x_j, y_j = ∇f(x_{j+1}) − ∇f(x_j): every pair from H_0 = I
    (memory=None, BFGS), or the last ``memory`` pairs from H_0 = γ_k I, γ_k = sᵀy/yᵀy of the
    newest pair (L-BFGS, N&W eq. 7.20, scipy's L-BFGS-B). Independent of the line search."""
    from scipy.optimize import BFGS

    xs = np.asarray(xs, dtype=float)
    g = np.array([grad(x) for x in xs])
    s, y = np.diff(xs, axis=0), np.diff(g, axis=0)
    assert np.all(np.einsum("ij,ij->i", s, y) > 0)  # every pair is kept (curvature holds)
    n, worst = xs.shape[1], 0.0

    def built(pairs, gamma):
        strategy = BFGS(init_scale=gamma, min_curvature=1e-300)
        strategy.initialize(n, "inv_hess")
        for j in pairs:
            strategy.update(s[j], y[j])
        return strategy

    bfgs = built([], 1.0)  # memory=None: one H, updated as the run goes
    for k in range(len(s)):
        if memory is None:
            H = bfgs.get_matrix() if k else np.eye(n)
            bfgs.update(s[k], y[k])
        elif k == 0:
            H = np.eye(n)
        else:
            gamma = s[k - 1] @ y[k - 1] / (y[k - 1] @ y[k - 1])
            H = built(range(max(0, k - memory), k), gamma).get_matrix()
        d = -H @ g[k]
        worst = max(worst, np.linalg.norm(s[k] / np.linalg.norm(s[k]) - d / np.linalg.norm(d)))
    return worst


# Rosenbrock in 6 dimensions: there, which pairs L-BFGS keeps changes every direction.
X0_6D = np.tile([-1.2, 1.0], 3)
QUASI_NEWTON = {"BFGS": (so.minimize_bfgs, None), "L-BFGS-B": (so.minimize_lbfgs, 10)}


def scipy_run(method, x0):
    from scipy.optimize import minimize, rosen, rosen_der

    xs = [np.array(x0, dtype=float)]
    options = {"gtol": 1e-5} | ({"ftol": 1e-12} if method == "L-BFGS-B" else {})
    minimize(rosen, x0, jac=rosen_der, method=method, options=options, callback=xs.append)
    return np.array(xs)


@pytest.mark.parametrize("method", sorted(QUASI_NEWTON))
def test_quasi_newton_agrees_with_scipy(method):
    """Every step of course_lib's BFGS (L-BFGS) is along −H_k∇f(x_k), H_k built as scipy builds
    it (H_0 = I; the last m = 10 pairs from γ_k I, scipy's maxcor default), to 1e-6 rad; so is
    every step of scipy's own run, and it fits no other memory (the criterion is scipy's). The
    line searches differ (scipy's MINPACK-2 search, ours N&W 3.5), so the iterates do."""
    scipy_opt = pytest.importorskip("scipy.optimize")
    mine, memory = QUASI_NEWTON[method]
    for x0 in (X0, X0_6D):
        theirs = scipy_run(method, x0)
        assert quasi_newton_misfit(theirs, scipy_opt.rosen_der, memory) < 1e-6
        r = mine(scipy_opt.rosen, scipy_opt.rosen_der, x0, gtol=1e-5)
        assert r.success
        assert quasi_newton_misfit(r.xs, scipy_opt.rosen_der, memory) < 1e-6, (method, len(x0))
        np.testing.assert_allclose(r.x, 1.0, atol=1e-5)
    for m in (None, 2, 3, 9, 11, 1000):  # in 6-D, scipy's run fits no other memory
        if m != memory:
            assert quasi_newton_misfit(theirs, scipy_opt.rosen_der, m) > 1e-2, m
    # the lesson's table: the same minimum as scipy's stored run, in iterations of its order
    ref = REF["minimize"][method]
    r = mine(rosenbrock.f, rosenbrock.grad, ref["x0"], gtol=ref["options"]["gtol"])
    np.testing.assert_allclose(r.x, ref["x"], atol=1e-6)
    assert abs(len(r.xs) - 1 - ref["nit"]) <= 0.25 * ref["nit"]


def lbfgs_without_scaling(g, s_list, y_list):
    """The two-loop recursion with H_0 = I instead of γI."""
    q, alphas = np.array(g, dtype=float), []
    for s, y in zip(reversed(s_list), reversed(y_list)):
        alphas.append(s @ q / (y @ s))
        q -= alphas[-1] * y
    for s, y, a in zip(s_list, y_list, reversed(alphas)):
        q += (a - y @ q / (y @ s)) * s
    return -q


def dfp_update(H, s, y):
    """DFP's inverse update (the dual of BFGS's): H + ssᵀ/yᵀs − Hy yᵀH/yᵀHy."""
    Hy = H @ y
    return H + np.outer(s, s) / (y @ s) - np.outer(Hy, Hy) / (y @ Hy)


def lbfgs_unscaled(f, grad, x0, **kw):
    """minimize_lbfgs with the two-loop recursion's H_0 = I."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(so, "lbfgs_direction", lbfgs_without_scaling)
        return so.minimize_lbfgs(f, grad, x0, **kw)


WRONG_QUASI_NEWTON = {  # name → (the scipy method it claims to follow, the run)
    "L-BFGS with unbounded memory": ("L-BFGS-B", partial(so.minimize_lbfgs, m=None)),
    "L-BFGS with m = 2": ("L-BFGS-B", partial(so.minimize_lbfgs, m=2)),
    "L-BFGS with m = 3": ("L-BFGS-B", partial(so.minimize_lbfgs, m=3)),
    "L-BFGS with m = 9": ("L-BFGS-B", partial(so.minimize_lbfgs, m=9)),
    "L-BFGS with H_0 = I (no γ)": ("L-BFGS-B", lbfgs_unscaled),
    "BFGS with DFP's update": ("BFGS", partial(so.minimize_bfgs, update=dfp_update)),
    "BFGS with s and y swapped": (
        "BFGS",
        partial(so.minimize_bfgs, update=lambda H, s, y: so.bfgs_update(H, y, s)),
    ),
}


@pytest.mark.parametrize("variant", sorted(WRONG_QUASI_NEWTON))
def test_a_wrong_quasi_newton_fails_the_agreement_with_scipy(variant):
    """The criterion of test_quasi_newton_agrees_with_scipy rejects each of these by > 0.01 rad
    in 6-D (the old ±25 % on iteration counts let the memories through)."""
    scipy_opt = pytest.importorskip("scipy.optimize")
    method, run = WRONG_QUASI_NEWTON[variant]
    r = run(scipy_opt.rosen, scipy_opt.rosen_der, X0_6D, max_iter=60)
    assert quasi_newton_misfit(r.xs, scipy_opt.rosen_der, QUASI_NEWTON[method][1]) > 1e-2


MINIMISERS = {
    "trust region": lambda **kw: so.minimize_trust_region(
        rosenbrock.f, rosenbrock.grad, rosenbrock.hess, X0, **kw
    ),
    "BFGS": lambda **kw: so.minimize_bfgs(rosenbrock.f, rosenbrock.grad, X0, **kw),
    "L-BFGS": lambda **kw: so.minimize_lbfgs(rosenbrock.f, rosenbrock.grad, X0, **kw),
}


@pytest.mark.parametrize("name", sorted(MINIMISERS))
def test_a_minimiser_that_converges_says_so(name):
    r = MINIMISERS[name]()
    iterations = len(r.xs) - 1
    assert r.success is True
    assert r.message.startswith("converged") and f"after {iterations} iterations" in r.message
    np.testing.assert_allclose(r.x, [1.0, 1.0], atol=1e-5)


@pytest.mark.parametrize("name", sorted(MINIMISERS))
def test_a_minimiser_stopped_by_max_iter_says_so(name):
    r = MINIMISERS[name](max_iter=5)
    assert len(r.xs) - 1 == 5  # the trust region counts rejected iterations too
    assert r.success is False
    assert r.message.startswith("stopped: max_iter = 5 reached before")
    assert "converged" not in r.message


def test_bfgs_update_secant_equation_and_symmetry():
    rng = np.random.default_rng(0)
    H = np.eye(4)
    for _ in range(5):
        s = rng.standard_normal(4)
        y = s + 0.2 * rng.standard_normal(4)
        H = so.bfgs_update(H, s, y)
        np.testing.assert_allclose(H @ y, s, rtol=1e-10, atol=1e-12)  # H_{k+1} y = s
        np.testing.assert_allclose(H, H.T, atol=1e-12)
        assert np.linalg.eigvalsh(H)[0] > 0


def test_bfgs_update_equals_its_rank_one_expansion():
    rng = np.random.default_rng(4)
    M = rng.standard_normal((5, 5))
    H, s = M @ M.T + np.eye(5), rng.standard_normal(5)
    y = s + 0.3 * rng.standard_normal(5)
    rho, Hy = 1 / (y @ s), H @ y
    expanded = (
        H - rho * (np.outer(s, Hy) + np.outer(Hy, s)) + (rho**2 * y @ Hy + rho) * np.outer(s, s)
    )
    np.testing.assert_allclose(so.bfgs_update(H, s, y), expanded, rtol=1e-10, atol=1e-12)


def test_lbfgs_two_loop_equals_bfgs_from_a_scaled_identity():
    rng = np.random.default_rng(1)
    pairs = []
    for _ in range(4):
        s = rng.standard_normal(5)
        pairs.append((s, s + 0.3 * rng.standard_normal(5)))
    s_list, y_list = [p[0] for p in pairs], [p[1] for p in pairs]
    gamma = s_list[-1] @ y_list[-1] / (y_list[-1] @ y_list[-1])
    H = gamma * np.eye(5)
    for s, y in pairs:
        H = so.bfgs_update(H, s, y)
    g = rng.standard_normal(5)
    np.testing.assert_allclose(so.lbfgs_direction(g, s_list, y_list), -H @ g, rtol=1e-10)
    np.testing.assert_allclose(so.lbfgs_direction(g, [], []), -g)


def test_wolfe_line_search_satisfies_the_strong_wolfe_conditions():
    for x in ([-1.2, 1.0], [0.0, 0.0], [1.5, 2.5]):
        x = np.array(x)
        g = rosenbrock.grad(x)
        p = -g / np.linalg.norm(g)
        a, fa, ga, n = so.wolfe_line_search(
            rosenbrock.f, rosenbrock.grad, x, p, rosenbrock.f(x), g, c1=1e-4, c2=0.9
        )
        assert fa <= rosenbrock.f(x) + 1e-4 * a * g @ p
        assert abs(ga @ p) <= 0.9 * abs(g @ p)
        np.testing.assert_allclose(ga, rosenbrock.grad(x + a * p))
        assert n >= 1


# --- Kronecker factors --------------------------------------------------------------


def layer(seed=0, n=50, d_in=4, d_out=3):
    rng = np.random.default_rng(seed)
    a = np.hstack([rng.standard_normal((n, d_in - 1)), np.ones((n, 1))])
    return a, rng.integers(0, d_out, n), rng.standard_normal((d_out, d_in))


def test_kronecker_identities():
    rng = np.random.default_rng(3)
    A, B, X = rng.standard_normal((4, 4)), rng.standard_normal((3, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(np.kron(A, B) @ so.vec(X), so.vec(so.kron_matvec(A, B, X)))
    np.testing.assert_allclose(so.unvec(so.vec(X), X.shape), X)
    np.testing.assert_allclose(
        np.linalg.inv(np.kron(A, B)), np.kron(np.linalg.inv(A), np.linalg.inv(B)), atol=1e-10
    )
    A, B = A @ A.T + np.eye(4), B @ B.T + np.eye(3)
    np.testing.assert_allclose(
        so.vec(so.kfac_precondition(X, A, B)), np.linalg.solve(np.kron(A, B), so.vec(X))
    )


def test_softmax_layer_gradient_and_curvature_match_finite_differences():
    a, y, W = layer()
    loss = lambda W: so.softmax_layer(W, a, y)[0]
    _, grad_W, p, _ = so.softmax_layer(W, a, y)
    np.testing.assert_allclose(grad_W, fd_grad(loss, W), rtol=1e-6, atol=1e-9)
    # s = W a is linear in W, so the Gauss–Newton matrix is the Hessian of the loss.
    vec_loss_grad = lambda v: so.vec(so.softmax_layer(so.unvec(v, W.shape), a, y)[1])
    H_fd = np.array([fd_grad(lambda v: vec_loss_grad(v)[i], so.vec(W)) for i in range(W.size)])
    np.testing.assert_allclose(so.fisher_exact(a, p), H_fd, rtol=1e-5, atol=1e-8)


def test_fisher_is_the_expected_outer_product_and_kfac_is_exact_for_equal_outputs():
    a, y, W = layer(seed=1, d_out=4)
    _, _, p, delta = so.softmax_layer(W, a, y)
    # Fisher: labels drawn from the model, E_y[g gᵀ], summed over every possible label.
    F = np.zeros((W.size, W.size))
    for label in range(W.shape[0]):
        d = p.copy()
        d[:, label] -= 1
        g = np.einsum("nj,nk->njk", a, d).reshape(len(a), -1)
        F += (g * p[:, label, None]).T @ g / len(a)
    np.testing.assert_allclose(so.fisher_exact(a, p), F, atol=1e-12)
    # the empirical Fisher uses the observed labels only
    g = np.array([so.vec(np.outer(d, ai)) for d, ai in zip(delta, a)])
    np.testing.assert_allclose(so.fisher_empirical(a, delta), g.T @ g / len(a), atol=1e-12)
    # at W = 0 every example has the same p: the Fisher is exactly A ⊗ G
    _, _, p0, _ = so.softmax_layer(np.zeros_like(W), a, y)
    A, G = so.kfac_factors(a, p0)
    np.testing.assert_allclose(so.fisher_exact(a, p0), np.kron(A, G), atol=1e-12)
    A, G = so.kfac_factors(a, p)
    assert not np.allclose(so.fisher_exact(a, p), np.kron(A, G), atol=1e-3)


def natural_gradient(x, grad, state, hess, lr=1.0, damping=1e-3):
    F = hess(x)
    step = np.linalg.solve(F + damping * np.eye(len(F)), so.vec(grad(x)))
    return x - lr * so.unvec(step, x.shape)


def test_softmax_layer_objective_runs_like_a_problem():
    a, y, W = layer(seed=2)
    objective = so.SoftmaxLayer(a, y, x0=W)
    _, grad_W, p, _ = so.softmax_layer(W, a, y)
    np.testing.assert_allclose(objective.grad(W), grad_W)
    np.testing.assert_allclose(objective.probabilities(W), p)
    np.testing.assert_allclose(objective.hess(W), so.fisher_exact(a, p))  # Fisher = Hessian
    for mine, ref in zip(objective.kfac_factors(W), so.kfac_factors(a, p)):
        np.testing.assert_allclose(mine, ref)
    # the runners train the matrix W, passing the Fisher to a step that asks for hess
    r = run(natural_gradient, objective, steps=3, lr=0.5)
    assert r.xs.shape == (4, *W.shape) and np.all(np.diff(r.losses) < 0)
    assert np.isnan(r.f_star) and np.array_equal(r.gap, r.losses)


@pytest.mark.parametrize(
    "radius, rho, on_boundary, max_radius, expected",
    # Nocedal & Wright, Algorithm 4.1: ρ < ¼ → ¼Δ; ρ > ¾ and ‖p‖ = Δ → min(2Δ, Δ_max); else Δ
    [
        (2.0, np.nextafter(0.25, 0), True, 1000.0, 0.5),
        (2.0, 0.25, True, 1000.0, 2.0),
        (2.0, 0.75, True, 1000.0, 2.0),
        (2.0, np.nextafter(0.75, 1), True, 1000.0, 4.0),
        (2.0, np.nextafter(0.75, 1), False, 1000.0, 2.0),
        (2.0, 0.9, True, 3.0, 3.0),
        (2.0, -1.0, False, 1000.0, 0.5),
    ],
)
def test_update_radius_is_algorithm_4_1_at_its_thresholds(
    radius, rho, on_boundary, max_radius, expected
):
    assert so.update_radius(radius, rho, on_boundary, max_radius) == expected


@pytest.mark.parametrize("minimize", [so.minimize_bfgs, so.minimize_lbfgs])
def test_a_minimiser_on_an_unbounded_function_stops_with_one_warning(minimize):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = minimize(saddle.f, saddle.grad, saddle.x0)
    assert len(caught) == 1 and "is f bounded below" in str(caught[0].message)
    assert r.success is False and "no longer finite" in r.message
    assert np.all(np.isfinite(r.losses)) and len(r.xs) < 50


def test_newton_at_a_singular_hessian_says_so_in_one_line():
    from course_lib import Quadratic, StepError

    flat = Quadratic(np.array([[1.0, 0.0], [0.0, 0.0]]), np.zeros(2))
    with pytest.raises(StepError, match=r"newton\(\) at step 1: numpy.linalg says Singular matrix"):
        run(so.newton, flat, x0=[1.0, 1.0])
