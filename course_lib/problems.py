"""Test problems: value, gradient, Hessian (and Hessian-vector product) in closed form,
vectorised over grids.

Every problem takes points as arrays whose *last* axis holds the coordinates, so
the same code evaluates one point (shape ``(d,)``) or a whole contour grid
(shape ``(ny, nx, d)``): ``f`` returns shape ``(...)``, ``grad`` shape ``(..., d)``
and ``hess`` shape ``(..., d, d)``; ``hvp(x, v)`` is ∇²f(x) v, shape ``(..., d)``,
without forming the Hessian where that is cheaper (quadratics, Rosenbrock).
"""

import numpy as np


class Problem:
    """A test function with its gradient, Hessian, minimisers, start and plot window."""

    def __init__(self, name, f, grad, hess, minima, x0, window, f_star=0.0, levels=None, hvp=None):
        self.name = name
        self._f, self._grad, self._hess, self._hvp = f, grad, hess, hvp
        self.minima = np.atleast_2d(np.asarray(minima, dtype=float))
        self.x0 = np.asarray(x0, dtype=float)
        self.dim = self.x0.size
        self.window = window  # ((x1_min, x1_max), (x2_min, x2_max)) for 2-D plots
        self.f_star = float(f_star)  # the minimum value, so losses can be shown as f - f*
        self.levels = levels  # contour levels; None picks log-spaced ones
        self._grids = {}

    def f(self, x):
        return self._f(np.asarray(x, dtype=float))

    def grad(self, x):
        return self._grad(np.asarray(x, dtype=float))

    def hess(self, x):
        return self._hess(np.asarray(x, dtype=float))

    def hvp(self, x, v):
        """∇²f(x) v: in closed form where the problem has one, else H(x) v."""
        x, v = np.asarray(x, dtype=float), np.asarray(v, dtype=float)
        if self._hvp is not None:
            return self._hvp(x, v)
        return np.einsum("...ij,...j->...i", self._hess(x), v)

    __call__ = f

    def replace(self, **changes):
        """A copy with some of the constructor's arguments changed, e.g. a noisy gradient:
        ``problem.replace(grad=noisy_grad, name="Beale, noisy gradient")``."""
        fields = {
            "name": self.name,
            "f": self._f,
            "grad": self._grad,
            "hess": self._hess,
            "minima": self.minima,
            "x0": self.x0,
            "window": self.window,
            "f_star": self.f_star,
            "levels": self.levels,
            "hvp": self._hvp,
        }
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise TypeError(f"Problem.replace() got {unknown}; it takes {sorted(fields)}")
        new = Problem(**{**fields, **changes})
        if "f" not in changes:
            new._grids = self._grids  # same function: share the cached contour grids
        return new

    def grid(self, n=160, window=None):
        """Return X1, X2, F on an n×n grid over the window, computed once and cached."""
        window = tuple(map(tuple, window or self.window))
        key = (n, window)
        if key not in self._grids:
            (a, b), (c, d) = window
            x1, x2 = np.meshgrid(np.linspace(a, b, n), np.linspace(c, d, n))
            self._grids[key] = (x1, x2, self.f(np.stack([x1, x2], axis=-1)))
        return self._grids[key]

    def __repr__(self):
        return f"<Problem {self.name!r}, dim={self.dim}>"


# --- quadratics -------------------------------------------------------------


class Quadratic(Problem):
    """f(x) = ½ xᵀAx − bᵀx + c with a symmetric positive (semi-)definite A."""

    def __init__(self, A, b=None, c=0.0, x0=None, name="quadratic", window=None, levels=None):
        A = np.asarray(A, dtype=float)
        if not np.allclose(A, A.T):
            raise ValueError("Quadratic needs a symmetric matrix A")
        n = A.shape[0]
        b = np.zeros(n) if b is None else np.asarray(b, dtype=float)
        self.A, self.b = A, b
        self.eigenvalues = np.linalg.eigvalsh(A)
        x_star = np.linalg.lstsq(A, b, rcond=None)[0]
        f_star = c - 0.5 * b @ x_star
        x0 = np.ones(n) if x0 is None else x0
        window = window or ((-6.0, 6.0), (-3.0, 3.0))
        super().__init__(
            name,
            f=lambda x: 0.5 * np.einsum("...i,ij,...j->...", x, A, x) - x @ b + c,
            grad=lambda x: x @ A - b,  # A is symmetric, so xA = (Ax)ᵀ for stacks of points
            hess=lambda x: np.broadcast_to(A, x.shape[:-1] + A.shape).copy(),
            minima=x_star,
            x0=x0,
            window=window,
            f_star=f_star,
            levels=levels,
            hvp=lambda x, v: v @ A,  # A v, never a stack of copies of A
        )

    @property
    def condition_number(self):
        return self.eigenvalues[-1] / self.eigenvalues[0]


def quadratic_with_spectrum(eigenvalues, seed=0, name=None):
    """An n-D quadratic ½xᵀAx whose Hessian has the given eigenvalues, in a random rotation."""
    lam = np.asarray(eigenvalues, dtype=float)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    A = (Q * lam) @ Q.T
    A = 0.5 * (A + A.T)
    name = name or f"quadratic, κ = {lam.max() / lam.min():.3g}"
    return Quadratic(A, x0=np.ones(lam.size), name=name)


class LeastSquares(Quadratic):
    """Linear regression as a finite sum: L(w) = (1/n) Σ_i ½ (x_iᵀw − y_i)².

    ``loss(w, idx)`` and ``grad(w, idx)`` average over the examples ``idx`` (a
    mini-batch; None for all n), the interface of ``train_minibatch``. As a whole
    it is the quadratic with A = XᵀX/n, b = Xᵀy/n.
    """

    def __init__(self, X, y, x0=None, name="least squares"):
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        self.n = len(self.y)
        A = self.X.T @ self.X / self.n
        super().__init__(
            0.5 * (A + A.T),
            self.X.T @ self.y / self.n,
            c=0.5 * self.y @ self.y / self.n,
            x0=np.zeros(self.X.shape[1]) if x0 is None else x0,
            name=name,
        )

    def loss(self, w, idx=None):
        if idx is None:  # all examples: the quadratic form, vectorised
            return self.f(w)
        r = self.X[idx] @ np.asarray(w, dtype=float) - self.y[idx]
        return 0.5 * np.mean(r * r)

    def grad(self, w, idx=None):
        if idx is None:
            return super().grad(w)
        X = self.X[idx]
        return X.T @ (X @ np.asarray(w, dtype=float) - self.y[idx]) / len(idx)

    def example_grads(self, w):
        """Per-example gradients, shape (n, d): for the variance of mini-batch gradients."""
        return self.X * (self.X @ np.asarray(w, dtype=float) - self.y)[:, None]

    def excess_loss(self, x):
        """f(x) − f* = ½ (x − x*)ᵀA(x − x*) for a stack of points (..., d), exact near x*."""
        e = np.asarray(x, dtype=float) - self.minima[0]
        return 0.5 * np.einsum("...i,ij,...j->...", e, self.A, e)

    def sgd_runs(self, x0, lrs, seeds, batch_size, updates, replace=False, gammas=0.0):
        """Mini-batch SGD, one run per (η, seed) pair, stepped together: iterates (updates, runs, d).

        replace=False: each epoch cuts a shuffled order into batches (as ``runners.minibatches``,
        the last batch smaller); replace=True draws every batch anew, with replacement.
        gammas: heavy-ball momentum γ, one per run or one for all (v ← γv + ηg, x ← x − v);
        0 is plain SGD, with the same iterates.
        """
        n, b = self.n, int(batch_size)
        lrs = np.asarray(lrs, dtype=float).reshape(-1, 1)  # one learning rate per run
        rngs = [np.random.default_rng(seed) for seed in seeds]
        if len(rngs) != len(lrs):
            raise ValueError(f"sgd_runs got {len(lrs)} learning rates for {len(rngs)} seeds")
        gammas = np.asarray(gammas, dtype=float).reshape(-1, 1)
        if len(gammas) not in (1, len(lrs)):
            raise ValueError(f"sgd_runs got {len(gammas)} momenta γ for {len(lrs)} runs")
        x = np.tile(np.asarray(x0, dtype=float), (len(rngs), 1))
        v = np.zeros_like(x)  # the velocity; with γ = 0 it is the step η g itself
        iterates = np.empty((updates,) + x.shape)
        t = 0
        while t < updates:  # one epoch: ceil(n / b) updates
            if replace:
                order = np.array([rng.integers(0, n, -(-n // b) * b) for rng in rngs])
            else:
                order = np.array([rng.permutation(n) for rng in rngs])
            X_epoch, y_epoch = self.X[order], self.y[order]  # (runs, examples, d), (runs, examples)
            for start in range(0, n, b):
                Xb, yb = X_epoch[:, start : start + b], y_epoch[:, start : start + b]
                residual = (Xb @ x[:, :, None])[..., 0] - yb  # (runs, |B|)
                v = gammas * v + lrs * (residual[:, None, :] @ Xb)[:, 0] / Xb.shape[1]
                x = x - v
                iterates[t] = x
                t += 1
                if t == updates:
                    break
        return iterates


# The running example of the course: κ = 20, a narrow ravine along x1.
course_quadratic = Quadratic(
    np.diag([0.2, 4.0]), x0=(-5.0, -2.0), name="course quadratic", window=((-6.0, 6.0), (-3.0, 3.0))
)


# --- non-quadratic problems -------------------------------------------------


def _rosenbrock_f(x):
    x1, x2 = x[..., 0], x[..., 1]
    return (1 - x1) ** 2 + 100 * (x2 - x1**2) ** 2


def _rosenbrock_grad(x):
    x1, x2 = x[..., 0], x[..., 1]
    return np.stack([-2 * (1 - x1) - 400 * x1 * (x2 - x1**2), 200 * (x2 - x1**2)], axis=-1)


def _rosenbrock_hess(x):
    x1, x2 = x[..., 0], x[..., 1]
    h11 = 2 - 400 * (x2 - x1**2) + 800 * x1**2
    h12 = -400 * x1
    h22 = 200 * np.ones_like(x1)
    return np.stack([np.stack([h11, h12], -1), np.stack([h12, h22], -1)], -2)


def _rosenbrock_hvp(x, v):
    x1, x2, v1, v2 = x[..., 0], x[..., 1], v[..., 0], v[..., 1]
    h11 = 2 - 400 * (x2 - x1**2) + 800 * x1**2
    return np.stack([h11 * v1 - 400 * x1 * v2, -400 * x1 * v1 + 200 * v2], axis=-1)


rosenbrock = Problem(
    "Rosenbrock",
    _rosenbrock_f,
    _rosenbrock_grad,
    _rosenbrock_hess,
    minima=[(1.0, 1.0)],
    x0=(-1.5, 2.0),
    window=((-2.0, 2.0), (-1.0, 3.0)),
    levels=np.logspace(-1, 3.5, 16),
    hvp=_rosenbrock_hvp,
)


# Beale: f = Σ_i (c_i − x1 + x1 x2^i)², i = 1, 2, 3.
_BEALE_C = np.array([1.5, 2.25, 2.625])


def _beale_terms(x):
    x1, x2 = x[..., 0, None], x[..., 1, None]
    i = np.arange(1, 4)
    r = _BEALE_C - x1 + x1 * x2**i  # residuals, shape (..., 3)
    dr1 = -1 + x2**i  # ∂r/∂x1
    dr2 = i * x1 * x2 ** (i - 1)  # ∂r/∂x2
    d2r12 = i * x2 ** (i - 1)  # ∂²r/∂x1∂x2
    d2r22 = i * (i - 1) * x1 * x2 ** np.maximum(i - 2, 0)  # ∂²r/∂x2²
    return r, dr1, dr2, d2r12, d2r22


def _beale_f(x):
    return np.sum(_beale_terms(x)[0] ** 2, axis=-1)


def _beale_grad(x):
    r, dr1, dr2, _, _ = _beale_terms(x)
    return np.stack([np.sum(2 * r * dr1, -1), np.sum(2 * r * dr2, -1)], axis=-1)


def _beale_hess(x):
    r, dr1, dr2, d2r12, d2r22 = _beale_terms(x)
    h11 = np.sum(2 * dr1**2, -1)  # ∂²r/∂x1² = 0
    h12 = np.sum(2 * dr1 * dr2 + 2 * r * d2r12, -1)
    h22 = np.sum(2 * dr2**2 + 2 * r * d2r22, -1)
    return np.stack([np.stack([h11, h12], -1), np.stack([h12, h22], -1)], -2)


beale = Problem(
    "Beale",
    _beale_f,
    _beale_grad,
    _beale_hess,
    minima=[(3.0, 0.5)],
    x0=(1.0, 1.4),
    window=((-4.5, 4.5), (-4.5, 4.5)),
    levels=np.logspace(-1, 5, 20),
)


saddle = Problem(
    "saddle",
    lambda x: x[..., 0] ** 2 - x[..., 1] ** 2,
    lambda x: np.stack([2 * x[..., 0], -2 * x[..., 1]], -1),
    lambda x: np.broadcast_to(np.diag([2.0, -2.0]), x.shape[:-1] + (2, 2)).copy(),
    minima=np.empty((0, 2)),
    x0=(-1.5, 1e-3),
    window=((-2.0, 2.0), (-2.0, 2.0)),
    f_star=-np.inf,
    levels=np.linspace(-4, 4, 17),
)
saddle.stationary_point = np.zeros(2)  # not a minimum: f is unbounded below


def _himmelblau_f(x):
    x1, x2 = x[..., 0], x[..., 1]
    return (x1**2 + x2 - 11) ** 2 + (x1 + x2**2 - 7) ** 2


def _himmelblau_grad(x):
    x1, x2 = x[..., 0], x[..., 1]
    a, b = x1**2 + x2 - 11, x1 + x2**2 - 7
    return np.stack([4 * x1 * a + 2 * b, 2 * a + 4 * x2 * b], axis=-1)


def _himmelblau_hess(x):
    x1, x2 = x[..., 0], x[..., 1]
    h11 = 12 * x1**2 + 4 * x2 - 42
    h12 = 4 * (x1 + x2)
    h22 = 12 * x2**2 + 4 * x1 - 26
    return np.stack([np.stack([h11, h12], -1), np.stack([h12, h22], -1)], -2)


himmelblau = Problem(
    "Himmelblau",
    _himmelblau_f,
    _himmelblau_grad,
    _himmelblau_hess,
    minima=[
        (3.0, 2.0),
        (-2.805118086952745, 3.131312518250573),
        (-3.779310253377747, -3.283185991286170),
        (3.584428340330492, -1.848126526964404),
    ],
    x0=(0.0, 0.0),
    window=((-5.0, 5.0), (-5.0, 5.0)),
    levels=np.logspace(-0.5, 2.7, 18),
)


# A tilted double well: a shallow local minimum at x1 ≈ +0.96 beside the global one
# at x1 ≈ −1.04. Plain GD started on the right stops in the shallow one; momentum
# can carry the iterate over the barrier.
def _double_well_f(x):
    x1, x2 = x[..., 0], x[..., 1]
    return (x1**2 - 1) ** 2 + 0.3 * x1 + 0.5 * x2**2


def _double_well_grad(x):
    x1, x2 = x[..., 0], x[..., 1]
    return np.stack([4 * x1 * (x1**2 - 1) + 0.3, x2], axis=-1)


def _double_well_hess(x):
    x1 = x[..., 0]
    h11 = 12 * x1**2 - 4
    zero = np.zeros_like(x1)
    return np.stack([np.stack([h11, zero], -1), np.stack([zero, np.ones_like(x1)], -1)], -2)


def _double_well_minima():
    roots = np.roots([4.0, 0.0, -4.0, 0.3])  # stationary points in x1
    roots = np.sort(roots[np.isreal(roots)].real)
    return [(roots[0], 0.0), (roots[2], 0.0)]  # the middle root is the barrier top


_dw_min = _double_well_minima()
double_well = Problem(
    "double well",
    _double_well_f,
    _double_well_grad,
    _double_well_hess,
    minima=_dw_min,
    x0=(2.0, 1.0),
    window=((-2.0, 2.2), (-1.5, 1.5)),
    f_star=float(_double_well_f(np.array(_dw_min[0]))),
    levels=np.linspace(-0.4, 3.0, 18),
)


# Two saturated tanh units, each asked for the output 1/2: far out on the tails the gradient
# is almost zero (tanh' = 1 − tanh² ≈ 4e^(−2|x|)), a plateau where f hardly changes, and GD
# leaves one unit after the other: a staircase of plateaus, as in training curves.
def _tanh_f(x):
    return 0.5 * np.sum((np.tanh(x) - 0.5) ** 2, axis=-1)


def _tanh_grad(x):
    t = np.tanh(x)
    return (t - 0.5) * (1 - t**2)


def _tanh_hess(x):
    t = np.tanh(x)
    d = (1 - t**2) * ((1 - t**2) - 2 * t * (t - 0.5))  # d/dx of (t − ½)(1 − t²)
    return d[..., None] * np.eye(x.shape[-1])


tanh_plateau = Problem(
    "tanh plateau",
    _tanh_f,
    _tanh_grad,
    _tanh_hess,
    minima=[(np.arctanh(0.5), np.arctanh(0.5))],
    x0=(-4.0, -2.5),
    window=((-5.0, 2.0), (-3.5, 2.0)),
    levels=np.linspace(0.02, 2.2, 16),
)


# Lessard, Recht & Packard (2016, SIAM J. Optim. 26(1), §4.6): a 1-D function, μ-strongly
# convex and M-smooth with μ = 1, M = 25 (κ = 25), made of three quadratic pieces, on which
# the heavy ball with Polyak's tuning for [μ, M] = [1, 25] cycles for ever from some starts.
def _lrp_f(x):
    x = x[..., 0]
    return np.where(
        x < 1, 12.5 * x**2, np.where(x < 2, 0.5 * x**2 + 24 * x - 12, 12.5 * x**2 - 24 * x + 36)
    )


def _lrp_grad(x):
    x1 = x[..., 0]
    return np.where(x1 < 1, 25 * x1, np.where(x1 < 2, x1 + 24, 25 * x1 - 24))[..., None]


def _lrp_hess(x):
    x1 = x[..., 0]
    return np.where((x1 >= 1) & (x1 < 2), 1.0, 25.0)[..., None, None]


lessard_counterexample = Problem(
    "Lessard–Recht–Packard",
    _lrp_f,
    _lrp_grad,
    _lrp_hess,
    minima=[(0.0,)],
    x0=(3.3,),
    window=((-5.0, 5.0), (-1.0, 1.0)),
)

PROBLEMS = {
    p.name: p for p in (course_quadratic, rosenbrock, beale, saddle, himmelblau, double_well)
}


# Lesson 07: a recurrence is a deep network whose layers share their weights. One linear unit,
# z_l = w z_{l−1} + u X_l for l = 1 … L from z_0 = 0 (L steps of time, L layers), is asked for
# the sum of its L inputs, so it must carry every input to the end unchanged: w = u = 1. Input l
# reaches z_L multiplied by w^(L−l), a product of L − l factors as a signal through L − l
# layers: f is nearly flat for w < 1 and rises as a wall, its gradient exploding, for w > 1,
# and the minimum sits at the wall's foot. (Pascanu, Mikolov & Bengio 2013 draw such walls.)
def linear_recurrence(length=30, n=64, seed=0):
    """f(w, u) = ½ mean_i (z_L,i − Σ_l X_il)² over n random sequences of `length` L, z_L from
    z_l = w z_{l−1} + u X_il, z_0 = 0: a 2-D problem with exploding gradients (minimum (1, 1))."""
    X = np.random.default_rng(seed).normal(size=(n, length))
    y = X.sum(axis=1)
    # z_L = u·Σ_l w^(L−l) X_l = u·(p(w) · X_l reversed), p(w) = (1, w, …, w^(L−1)): so f is
    # ½(u² pᵀCp − 2u pᵀc + m) with C, c, m these averages over the sequences (fast on grids)
    R = X[:, ::-1]
    C, c, m = R.T @ R / n, R.T @ y / n, np.mean(y * y)
    k = np.arange(length)

    def powers(w):
        """p(w) = (w⁰ … w^(L−1)) and its derivative, for every w: arrays (..., L)."""
        w = w[..., None]
        with np.errstate(all="ignore"):  # overflow beyond the wall: f is inf, as it should be
            p = w**k
            dp = k * w ** np.maximum(k - 1, 0)
        return p, dp

    def f(x):
        w, u = x[..., 0], x[..., 1]
        p, _ = powers(w)
        with np.errstate(all="ignore"):  # ≥ 0: at the minimum the three terms cancel
            return np.maximum(0.5 * (u * u * np.sum((p @ C) * p, axis=-1) - 2 * u * (p @ c) + m), 0)

    def grad(x):
        w, u = x[..., 0], x[..., 1]
        p, dp = powers(w)
        with np.errstate(all="ignore"):
            Cp = p @ C
            dw = u * u * np.sum(Cp * dp, axis=-1) - u * (dp @ c)
            du = u * np.sum(Cp * p, axis=-1) - p @ c
            return np.stack([dw, du], axis=-1)

    def hess(x):
        raise NotImplementedError("linear_recurrence has no Hessian in closed form")

    return Problem(
        f"linear recurrence, L = {length}",
        f,
        grad,
        hess,
        minima=[(1.0, 1.0)],
        x0=(0.3, 0.3),
        window=((-0.05, 1.2), (-0.1, 1.5)),
    )
