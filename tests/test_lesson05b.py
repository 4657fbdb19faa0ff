"""Lesson 05b (Hessian-free methods): the checks accept the right answers and reject the
usual wrong ones (a forward or mis-scaled finite difference, CG with β from the wrong
residuals or α without A, a Gauss–Newton product without the loss Hessian, a damping that
never adapts), each with its hint; the notebook's own answers pass."""

import inspect

import numpy as np
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import hessian_free
from course_lib.checks import (
    evaluate_conjugate_gradient,
    evaluate_fd_hvp,
    evaluate_gauss_newton_vp,
    evaluate_update_damping,
)
from course_lib.mlp import softmax

LESSON = "05b-hessian-free.ipynb"

# --- Exercise 5b.1: finite-difference HVP --------------------------------------------------


def fd_forward(grad, x, v, h=1e-5):
    return (grad(x + h * v) - grad(x)) / h


def fd_over_h(grad, x, v, h=1e-5):
    return (grad(x + h * v) - grad(x - h * v)) / h


def fd_reversed(grad, x, v, h=1e-5):
    return (grad(x - h * v) - grad(x + h * v)) / (2 * h)


def fd_normalised(grad, x, v, h=1e-5):
    u = v / np.linalg.norm(v)
    return (grad(x + h * u) - grad(x - h * u)) / (2 * h)


def fd_fixed_h(grad, x, v, h=1e-5):
    return (grad(x + 1e-5 * v) - grad(x - 1e-5 * v)) / 2e-5


# --- Exercise 5b.2: conjugate gradient -----------------------------------------------------


def make_cg(beta="right", alpha="right", stop="relative", first=True):
    """CG with one deliberate slip."""

    def conjugate_gradient(hvp, b, rtol=1e-5, max_iter=None):
        max_iter = 10 * len(b) if max_iter is None else max_iter
        x, r = np.zeros(len(b)), np.array(b, dtype=float)
        p, rr = r.copy(), r @ r
        xs, norms = [x.copy()], [np.sqrt(rr)]
        limit = rtol * np.linalg.norm(b) if stop == "relative" else rtol
        while norms[-1] >= limit and len(xs) <= max_iter:
            Ap = hvp(p)
            a = rr / (p @ Ap) if alpha == "right" else rr / (p @ p)
            x = x + a * p
            r = r - a * Ap
            rr_new = r @ r
            if beta == "right":
                p = r + (rr_new / rr) * p
            elif beta == "inverted":
                p = r + (rr / rr_new) * p
            elif beta == "same residuals":  # the old rᵀr overwritten first: β = 1
                rr = rr_new
                p = r + (rr_new / rr) * p
            else:  # steepest descent
                p = r
            rr = rr_new
            xs.append(x.copy())
            norms.append(np.sqrt(rr))
        if not first:
            return np.array(xs[1:]), np.array(norms[1:])
        return np.array(xs), np.array(norms)

    return conjugate_gradient


def cg_never_stops(hvp, b, rtol=1e-5, max_iter=None):
    x, r = np.zeros(len(b)), np.array(b, dtype=float)
    p, xs = r.copy(), [x.copy()]
    while True:
        Ap = hvp(p)
        a = (r @ r) / (p @ Ap)
        x, r_new = x + a * p, r - a * Ap
        p, r = r_new + (r_new @ r_new) / (r @ r) * p, r_new
        xs.append(x.copy())


def cg_max_iter_n(hvp, b, rtol=1e-5, max_iter=None):
    """Right, except that max_iter defaults to n ("CG is exact in n steps")."""
    return hessian_free.conjugate_gradient(hvp, b, rtol=rtol, max_iter=max_iter or len(b))


def cg_ignores_max_iter(hvp, b, rtol=1e-5, max_iter=None):
    return hessian_free.conjugate_gradient(hvp, b, rtol=rtol)


def cg_aliases_b(hvp, b, rtol=1e-5, max_iter=None):
    """r = b without a copy: r -= … changes the caller's b."""
    max_iter = 10 * len(b) if max_iter is None else max_iter
    x, r = np.zeros(len(b)), b
    limit = rtol * np.linalg.norm(b)
    p, rr = r.copy(), r @ r
    xs, norms = [x.copy()], [np.sqrt(rr)]
    while norms[-1] >= limit and len(xs) <= max_iter:
        Ap = hvp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        p, rr = r + (rr_new / rr) * p, rr_new
        xs.append(x.copy())
        norms.append(np.sqrt(rr))
    return np.array(xs), np.array(norms)


def cg_library(hvp, b, rtol=1e-5, max_iter=None):
    return hessian_free.conjugate_gradient(hvp, b, rtol=rtol, max_iter=max_iter)


# --- Exercise 5b.3: Gauss–Newton product ---------------------------------------------------


def ggn_right(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return vjp(p * (u - np.sum(p * u, axis=1, keepdims=True)) / len(p))


def ggn_no_loss_hessian(logits, jvp, vjp, v):
    return vjp(jvp(v))


def ggn_no_mean(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return vjp(p * (u - np.sum(p * u, axis=1, keepdims=True)))


def ggn_diagonal_only(logits, jvp, vjp, v):
    p = softmax(logits)
    return vjp(p * jvp(v) / len(p))


def ggn_sign(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return vjp(p * (u + np.sum(p * u, axis=1, keepdims=True)) / len(p))


def ggn_not_pulled_back(logits, jvp, vjp, v):
    p, u = softmax(logits), jvp(v)
    return p * (u - np.sum(p * u, axis=1, keepdims=True)) / len(p)


# --- Exercise 5b.4: damping ----------------------------------------------------------------


def damping_never_adapts(lam, rho, boost=1.5, drop=2 / 3):
    return lam


def damping_swapped(lam, rho, boost=1.5, drop=2 / 3):
    if rho < 0.25:
        return drop * lam
    if rho > 0.75:
        return boost * lam
    return lam


def damping_eta_threshold(lam, rho, boost=1.5, drop=2 / 3):
    if rho < 0.15:
        return boost * lam
    if rho > 0.75:
        return drop * lam
    return lam


def damping_threshold_half_low(lam, rho, boost=1.5, drop=2 / 3):
    if rho < 0.5:
        return boost * lam
    if rho > 0.75:
        return drop * lam
    return lam


def damping_threshold_half_high(lam, rho, boost=1.5, drop=2 / 3):
    if rho < 0.25:
        return boost * lam
    if rho > 0.5:
        return drop * lam
    return lam


def damping_inclusive(lam, rho, boost=1.5, drop=2 / 3):
    """≤ and ≥ at the thresholds: λ changes at ρ = ¼ and ¾ exactly."""
    if rho <= 0.25:
        return boost * lam
    if rho >= 0.75:
        return drop * lam
    return lam


def damping_inclusive_high(lam, rho, boost=1.5, drop=2 / 3):
    if rho < 0.25:
        return boost * lam
    if rho >= 0.75:
        return drop * lam
    return lam


def damping_thresholds_near(lam, rho, boost=1.5, drop=2 / 3):
    """Thresholds of 0.15 and 0.85: right at ρ = 0.1, 0.5, 0.9."""
    if rho < 0.15:
        return boost * lam
    if rho > 0.85:
        return drop * lam
    return lam


def damping_hard_coded(lam, rho, boost=1.5, drop=2 / 3):
    if rho < 0.25:
        return 1.5 * lam
    if rho > 0.75:
        return 2 / 3 * lam
    return lam


SOLUTIONS = solution_functions(LESSON)
EXERCISES = {
    "fd_hvp": Exercise(
        evaluate_fd_hvp,
        right=[SOLUTIONS["fd_hvp"], hessian_free.fd_hvp],
        wrong={
            "forward difference": (fd_forward, "forward difference"),
            "divided by h": (fd_over_h, "divide by 2h"),
            "reversed": (fd_reversed, "sign is reversed"),
            "v normalised": (fd_normalised, "not along v/‖v‖"),
            "h ignored": (fd_fixed_h, "use the argument h, not a fixed 1e-05"),
        },
    ),
    "conjugate_gradient": Exercise(
        evaluate_conjugate_gradient,
        right=[SOLUTIONS["conjugate_gradient"], cg_library],
        wrong={
            "β inverted": (make_cg(beta="inverted"), "β is upside down"),
            "β from the same residuals": (make_cg(beta="same residuals"), "β = 1: the old rᵀr"),
            "steepest descent": (make_cg(beta="zero"), "that is steepest descent (p = r)"),
            "α without A": (make_cg(alpha="no A"), "α = rᵀr / pᵀAp: the curvature along p"),
            "absolute stop": (make_cg(stop="absolute"), "a relative test"),
            "x_0 missing": (make_cg(first=False), "xs starts with x_0 = 0"),
            "never stops": (cg_never_stops, "did not stop: it called hvp()"),
            "max_iter defaults to n": (cg_max_iter_n, "max_iter=None means 10·n steps"),
            "max_iter ignored": (cg_ignores_max_iter, "max_iter = 2 in this case"),
            "r = b, then r −= …": (cg_aliases_b, "changed its argument `b` in place"),
        },
    ),
    "gauss_newton_vp": Exercise(
        evaluate_gauss_newton_vp,
        right=[SOLUTIONS["gauss_newton_vp"], ggn_right],
        wrong={
            "no loss Hessian": (ggn_no_loss_hessian, "H_L in the logits is missing"),
            "no 1/N": (ggn_no_mean, "1/N is missing"),
            "diagonal only": (ggn_diagonal_only, "outer product p_i p_iᵀ term is missing"),
            "sign": (ggn_sign, "the sign of p_i p_iᵀ"),
            "not pulled back": (ggn_not_pulled_back, "vjp pulls the result back"),
        },
    ),
    "update_damping": Exercise(
        evaluate_update_damping,
        right=[SOLUTIONS["update_damping"], hessian_free.update_damping],
        wrong={
            "never adapts": (damping_never_adapts, "λ must change here"),
            "swapped": (damping_swapped, "boost and drop are swapped"),
            "threshold η": (damping_eta_threshold, "ρ = 0.2 < ¼ asks for more damping"),
            "lower threshold ½": (damping_threshold_half_low, "here ρ = 0.3 (is the threshold ¼?)"),
            "upper threshold ½": (
                damping_threshold_half_high,
                "here ρ = 0.7 (is the threshold ¾?)",
            ),
            "≤ ¼ and ≥ ¾": (damping_inclusive, "at ρ = ¼ exactly λ stays"),
            "≥ ¾": (damping_inclusive_high, "at ρ = ¾ exactly λ stays"),
            "thresholds 0.15 and 0.85": (damping_thresholds_near, "ρ = 0.2 < ¼ asks for more"),
            "hard-coded factors": (damping_hard_coded, "use the arguments boost and drop"),
        },
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)


def test_solutions_match_course_lib_signatures():
    for name in ("fd_hvp", "conjugate_gradient", "update_damping"):
        ours = inspect.signature(SOLUTIONS[name]).parameters
        lib = inspect.signature(getattr(hessian_free, name)).parameters
        for p in ours:  # same names and defaults as course_lib.hessian_free
            assert p in lib and ours[p].default == lib[p].default, (name, p)
