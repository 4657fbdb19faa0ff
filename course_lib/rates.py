"""Linear convergence rates: measured on a run, and predicted on quadratics (lessons 02–05).

On a quadratic with Hessian eigenvalues in [λ_min, λ_max] (condition number
κ = λ_max/λ_min), a tuned method's error ‖x_t − x*‖ shrinks like q^t, q the
contraction factor. The helpers here measure q from the iterates of a run and give
the textbook tuning and rate of gradient descent, heavy-ball momentum and Nesterov.
"""

import numpy as np


def errors(xs, x_star):
    """‖x_t − x*‖ for every recorded iterate: xs has shape (T + 1, *x.shape)."""
    xs = np.asarray(getattr(xs, "xs", xs), dtype=float)
    diff = xs - np.asarray(x_star, dtype=float)
    return np.linalg.norm(diff.reshape(len(xs), -1), axis=1)


def convergence_rate(xs, x_star, window=0.5, floor=None):
    """Measured rate q: the geometric mean of ‖x_{t+1} − x*‖ / ‖x_t − x*‖ over the late steps.

    xs: the iterates (an array of shape (T + 1, *x.shape), or a Run). x_star: the minimiser.
    window: the fraction of the usable steps, counted from their end, to average over
    (late steps, so that the slowest eigendirection dominates). floor: errors at or
    below it are ignored (rounding noise); default 1e-10·‖x*‖, or 1e-200 when x* = 0,
    where rounding scales with x and the error can shrink (almost) without limit.
    The geometric mean of the ratios telescopes to (e_end / e_start)^(1/steps).
    """
    e = errors(xs, x_star)
    if floor is None:
        floor = max(1e-10 * float(np.linalg.norm(x_star)), 1e-200)
    below = np.flatnonzero(~(e > floor))  # also stops at a NaN or an exact zero
    end = (below[0] if below.size else len(e)) - 1
    start = int(round(end * (1 - window)))
    if end - start < 2:
        raise ValueError(
            f"only {end - start} usable steps above the floor {floor:.3g}: "
            "record more steps, or start further from x*"
        )
    return float((e[end] / e[start]) ** (1.0 / (end - start)))


def gd_tuning(lam_min, lam_max):
    """The best fixed learning rate of GD on a quadratic: η* = 2/(λ_min + λ_max)."""
    return 2.0 / (lam_min + lam_max)


def heavy_ball_tuning(lam_min, lam_max):
    """Polyak's optimal heavy ball on a quadratic: (η, γ) = (4/(√λ_max + √λ_min)², ((√κ−1)/(√κ+1))²)."""
    sqrt_kappa = np.sqrt(lam_max / lam_min)
    return (
        4.0 / (np.sqrt(lam_max) + np.sqrt(lam_min)) ** 2,
        ((sqrt_kappa - 1) / (sqrt_kappa + 1)) ** 2,
    )


def nesterov_tuning(lam_min, lam_max):
    """The standard strongly convex tuning of Nesterov: (η, γ) = (1/λ_max, (√κ−1)/(√κ+1))."""
    sqrt_kappa = np.sqrt(lam_max / lam_min)
    return 1.0 / lam_max, (sqrt_kappa - 1) / (sqrt_kappa + 1)


def momentum_contraction(lr_lam, gamma, nesterov=False):
    """Contraction factor q of the heavy ball (or Nesterov) along one eigendirection, ηλ = lr_lam.

    One step maps (x, v) by a 2×2 matrix with trace t and determinant d (heavy ball:
    t = 1 + γ − ηλ, d = γ; Nesterov: t = (1 + γ)(1 − ηλ), d = γ(1 − ηλ)); q is the
    larger |z| of the roots of z² − t z + d = 0, its eigenvalues. Elementwise in lr_lam.
    """
    a = np.asarray(lr_lam, dtype=float)
    trace = (1 + gamma) * (1 - a) if nesterov else 1 + gamma - a
    det = gamma * (1 - a) if nesterov else np.full_like(a, gamma)
    root = np.sqrt(trace**2 - 4 * det + 0j)  # imaginary when the roots are complex
    return np.maximum(np.abs(trace + root), np.abs(trace - root)) / 2


def gd_rate(kappa):
    """Rate of GD with η* on a quadratic of condition number κ: (κ − 1)/(κ + 1)."""
    kappa = np.asarray(kappa, dtype=float)
    return (kappa - 1) / (kappa + 1)


def heavy_ball_rate(kappa):
    """Rate of the optimal heavy ball: (√κ − 1)/(√κ + 1)."""
    s = np.sqrt(np.asarray(kappa, dtype=float))
    return (s - 1) / (s + 1)


def nesterov_rate(kappa):
    """Rate of Nesterov with nesterov_tuning on a quadratic: 1 − 1/√κ.

    At λ_min the iteration has a double root 1 − 1/√κ; every other eigenvalue
    contracts faster.
    """
    return 1 - 1 / np.sqrt(np.asarray(kappa, dtype=float))
