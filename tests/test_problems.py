"""Every problem's gradient and Hessian against finite differences, and its minimisers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import problems as P
from course_lib.data import load_diabetes

ALL = list(P.PROBLEMS.values()) + [
    P.tanh_plateau,
    P.quadratic_with_spectrum([0.5, 2.0, 9.0], seed=3),
    P.LeastSquares(*load_diabetes()),
]


def fd_grad(f, x, h=1e-6):
    e = np.eye(x.size)
    return np.array([(f(x + h * e[i]) - f(x - h * e[i])) / (2 * h) for i in range(x.size)])


def point(problem, u):
    """A point inside the problem's window (or near its start), from uniforms u in [0, 1]."""
    if problem.dim == 2:
        (a, b), (c, d) = problem.window
        return np.array([a + (b - a) * u[0], c + (d - c) * u[1]])
    return problem.x0 + (np.resize(u, problem.dim) - 0.5) * 2


coords = st.lists(st.floats(0.02, 0.98), min_size=10, max_size=10)


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.name)
@settings(max_examples=25, deadline=None)
@given(u=coords)
def test_gradient_matches_finite_differences(problem, u):
    x = point(problem, u)
    g = problem.grad(x)
    assert g.shape == x.shape
    np.testing.assert_allclose(
        g, fd_grad(problem.f, x), rtol=1e-5, atol=1e-5 * (1 + abs(problem.f(x))) ** 0.5
    )


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.name)
@settings(max_examples=25, deadline=None)
@given(u=coords)
def test_hessian_matches_finite_differences_of_gradient(problem, u):
    x = point(problem, u)
    H = problem.hess(x)
    assert H.shape == (x.size, x.size)
    np.testing.assert_allclose(H, H.T, atol=1e-9)
    fd = fd_grad(lambda y: problem.grad(y), x).T  # column i: ∂g/∂x_i
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.name)
def test_vectorised_over_a_grid_agrees_with_pointwise(problem):
    rng = np.random.default_rng(0)
    xs = np.stack([point(problem, rng.uniform(size=10)) for _ in range(6)]).reshape(2, 3, -1)
    f, g, H = problem.f(xs), problem.grad(xs), problem.hess(xs)
    assert f.shape == (2, 3) and g.shape == xs.shape and H.shape == xs.shape + (xs.shape[-1],)
    for i in range(2):
        for j in range(3):
            assert np.isclose(f[i, j], problem.f(xs[i, j]))
            np.testing.assert_allclose(g[i, j], problem.grad(xs[i, j]))
            np.testing.assert_allclose(H[i, j], problem.hess(xs[i, j]))


@pytest.mark.parametrize("problem", [p for p in ALL if len(p.minima)], ids=lambda p: p.name)
def test_minimisers_are_stationary_with_the_stated_value(problem):
    for x_star in problem.minima:
        np.testing.assert_allclose(problem.grad(x_star), 0, atol=1e-8)
        assert np.all(np.linalg.eigvalsh(problem.hess(x_star)) > -1e-10)
    assert np.isclose(min(problem.f(m) for m in problem.minima), problem.f_star, atol=1e-10)


def test_course_quadratic_is_the_lesson_one():
    q = P.course_quadratic
    assert q.f(np.array([-5.0, -2.0])) == pytest.approx(0.1 * 25 + 2 * 4)
    assert q.condition_number == pytest.approx(20)
    np.testing.assert_array_equal(q.x0, [-5, -2])


def test_quadratic_with_spectrum_has_that_spectrum():
    q = P.quadratic_with_spectrum([1.0, 10.0, 100.0], seed=1)
    np.testing.assert_allclose(q.eigenvalues, [1, 10, 100])
    assert q.condition_number == pytest.approx(100)


def test_least_squares_minibatch_gradients_average_to_the_full_gradient():
    ls = P.LeastSquares(*load_diabetes())
    w = np.linspace(-1, 1, 10)
    parts = np.array_split(np.arange(ls.n), 13)
    total = sum(len(i) * ls.grad(w, i) for i in parts) / ls.n
    np.testing.assert_allclose(total, ls.grad(w), atol=1e-12)
    np.testing.assert_allclose(ls.example_grads(w).mean(0), ls.grad(w), atol=1e-12)
    assert ls.loss(w) == pytest.approx(ls.f(w))


def test_saddle_and_double_well_shapes():
    assert np.allclose(P.saddle.grad(np.zeros(2)), 0)
    assert sorted(np.linalg.eigvalsh(P.saddle.hess(np.zeros(2)))) == [-2, 2]
    left, right = P.double_well.minima
    assert P.double_well.f(left) < P.double_well.f(right)  # the right one is the shallow one


def test_contour_grid_is_cached():
    a = P.rosenbrock.grid()
    assert P.rosenbrock.grid() is a
    assert a[2].shape == a[0].shape


def test_lessard_counterexample_is_smooth_strongly_convex_with_kappa_25():
    lrp = P.lessard_counterexample
    # points in each of the three pieces, away from the joins at 1 and 2 (where f'' jumps)
    xs = np.concatenate([np.linspace(-4, 0.99, 7), np.linspace(1.01, 1.99, 5), [2.01, 3.3, 5.0]])
    for x in xs[:, None]:
        np.testing.assert_allclose(lrp.grad(x), fd_grad(lrp.f, x), rtol=1e-6)
        np.testing.assert_allclose(lrp.hess(x), fd_grad(lrp.grad, x), rtol=1e-6)
    # f and f' are continuous at the joins; f'' takes only the values μ = 1 and L = 25
    for join in (1.0, 2.0):
        below, above = np.array([join - 1e-12]), np.array([join])
        assert lrp.f(below) == pytest.approx(lrp.f(above), abs=1e-9)
        assert lrp.grad(below)[0] == pytest.approx(lrp.grad(above)[0], abs=1e-9)
    assert set(lrp.hess(np.linspace(-5, 5, 1001)[:, None]).ravel()) == {1.0, 25.0}
    assert lrp.f(np.zeros(1)) == 0 and lrp.grad(np.zeros(1))[0] == 0


def test_tanh_plateau_is_flat_far_from_its_minimum():
    p = P.tanh_plateau
    assert np.linalg.norm(p.grad(p.x0)) < 0.05 and p.f(p.x0) > 2  # high, yet nearly flat
    assert np.linalg.norm(p.grad(np.array([-8.0, -8.0]))) < 1e-5
