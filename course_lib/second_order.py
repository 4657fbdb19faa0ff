"""Second-order methods: Newton, line searches, trust regions, BFGS / L-BFGS and K-FAC.

Step functions follow the optimiser contract of ``optimizers`` (``newton``,
``damped_newton``); the minimisers (``minimize_trust_region``, ``minimize_bfgs``,
``minimize_lbfgs``) run to convergence like ``scipy.optimize.minimize`` and
return a ``Run`` whose ``success`` and ``message`` say why they stopped (as
scipy's ``OptimizeResult`` does), whose ``grad_evals`` counts gradient
evaluations and whose ``metrics`` hold what else they record. Their building
blocks (``backtracking``, ``update_radius``, ``bfgs_update``, …) are the
lesson's exercises and can be swapped for a student's version through keyword
arguments. ``SoftmaxLayer`` is one softmax layer as an objective of its weights,
with its Fisher as ``hess`` and its K-FAC factors (lesson 05c).

Symbols as in NOTATION.md; arguments keep scipy's names where scipy has the method
(``rho`` is the trust-region ratio r, ``eta`` scipy's acceptance threshold, which the
course leaves without a symbol; a BFGS pair ``dx``, ``dg`` is scipy's ``delta_x``,
``delta_grad``, the course's Δx, Δg).
"""

from collections import deque

import numpy as np

from .mlp import softmax, softmax_cross_entropy
from .runners import Run, minimizer_outcome, stop_if_not_finite

# --- Newton -------------------------------------------------------------------


def newton(x, grad, state, hess, lr=1.0):
    """Newton's method: x ← x − η H⁻¹∇f(x), with H = ∇²f(x).

    lr: step size η (1 is the pure Newton step). hess: the Hessian callable (the
    runners pass the problem's). State: none. H⁻¹g is computed by solving
    H p = g, never by inverting H.
    """
    return x - lr * np.linalg.solve(hess(x), grad(x))


def modify_hessian(H, method="abs", delta=1e-3):
    """A positive definite stand-in for a symmetric H (Nocedal & Wright §3.4).

    method "abs": each eigenvalue λ_i replaced by max(|λ_i|, delta), so directions of
    negative curvature are followed downhill; "shift": H + νI with the smallest
    ν ≥ 0 that raises every eigenvalue to at least delta.
    """
    lam, V = np.linalg.eigh(H)
    if method == "abs":
        return (V * np.maximum(np.abs(lam), delta)) @ V.T
    if method == "shift":
        return H + max(0.0, delta - lam[0]) * np.eye(len(H))
    raise ValueError(f"method must be 'abs' or 'shift', not {method!r}")


def backtracking(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5, max_tries=60):
    """Backtracking line search: the first α in alpha, alpha·shrink, … with
    f(x + αp) ≤ f(x) + c₁·α·gᵀp (the Armijo, or sufficient decrease, condition).

    g: ∇f(x); p: a descent direction (gᵀp < 0); c: the Armijo constant c₁. Returns α.
    """
    fx, slope = f(x), float(np.vdot(g, p))
    if slope >= 0:
        raise ValueError(f"p is not a descent direction: gᵀp = {slope:.3g} ≥ 0")
    for _ in range(max_tries):
        if f(x + alpha * p) <= fx + c * alpha * slope:
            return alpha
        alpha *= shrink
    raise RuntimeError(f"no step satisfied the Armijo condition after {max_tries} tries")


def damped_newton(
    x, grad, state, f, hess, c=1e-4, shrink=0.5, modify=None, delta=1e-3, line_search=backtracking
):
    """Newton direction p = −H⁻¹∇f(x), step length α from a backtracking line search.

    c, shrink: the Armijo constant c₁ and the backtracking factor. modify: None (H as
    it is), "abs" or "shift" (see ``modify_hessian``), delta: the smallest
    eigenvalue then allowed. line_search(f, x, g, p, c=…, shrink=…) → α.
    State: alpha (the last step length). If p is not a descent direction (H not
    positive definite and not modified), the step falls back to p = −∇f(x);
    where ∇f(x) = 0 it returns x.
    """
    g, H = grad(x), hess(x)
    if not np.any(g):
        return x.copy()  # a stationary point: nothing left to do
    if modify is not None:
        H = modify_hessian(H, modify, delta)
    p = -np.linalg.solve(H, g)
    if np.vdot(g, p) >= 0:
        p = -g
    state["alpha"] = line_search(f, x, g, p, c=c, shrink=shrink)
    return x + state["alpha"] * p


# --- trust region -------------------------------------------------------------


def update_radius(radius, rho, on_boundary, max_radius=1000.0):
    """Trust-region radius update (Nocedal & Wright, Algorithm 4.1).

    radius: Δ; rho: r, actual over predicted decrease of the step (scipy's name);
    on_boundary: ‖p‖ = Δ. Returns ¼Δ when r < ¼; min(2Δ, max_radius) when r > ¾
    and the step hit the boundary; Δ otherwise.
    """
    if rho < 0.25:
        return 0.25 * radius
    if rho > 0.75 and on_boundary:
        return min(2.0 * radius, max_radius)
    return radius


def cauchy_point(g, H, radius):
    """The minimiser of the model f̃(p) = gᵀp + ½pᵀHp along −g inside the ball ‖p‖ ≤ Δ
    (N&W eq. 4.12); H: the model's curvature matrix (the Hessian, or H̃)."""
    gHg, gnorm = g @ H @ g, np.linalg.norm(g)
    tau = 1.0 if gHg <= 0 else min(gnorm**3 / (radius * gHg), 1.0)
    return -tau * radius / gnorm * g


def dogleg(g, H, radius):
    """Dogleg step for the model f̃(p) = gᵀp + ½pᵀHp, ‖p‖ ≤ Δ, with H positive definite.

    Returns (p, on_boundary): the Newton point p_N = −H⁻¹g if it lies inside the ball;
    otherwise the point where the path 0 → p_U → p_N (p_U: the model's minimiser
    along −g) leaves the ball. Same conventions as scipy's trust-dogleg.
    """
    try:
        C = np.linalg.cholesky(H)  # as scipy: the dogleg is defined for H ≻ 0 only
    except np.linalg.LinAlgError:
        raise ValueError(
            "dogleg needs a positive definite H; replace it first, e.g. with modify_hessian(H)"
        ) from None
    p_n = -np.linalg.solve(C.T, np.linalg.solve(C, g))
    if np.linalg.norm(p_n) < radius:
        return p_n, False
    p_u = -(g @ g) / (g @ H @ g) * g
    if np.linalg.norm(p_u) >= radius:
        return radius * p_u / np.linalg.norm(p_u), True
    d = p_n - p_u  # solve ‖p_u + τd‖ = Δ for τ in [0, 1]
    a, b, c = d @ d, 2 * p_u @ d, p_u @ p_u - radius**2
    tau = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    return p_u + tau * d, True


def minimize_trust_region(
    f,
    grad,
    hess,
    x0,
    radius=1.0,
    max_radius=1000.0,
    eta=0.15,
    gtol=1e-4,
    max_iter=200,
    subproblem=dogleg,
    update=update_radius,
    label="trust region",
):
    """Trust-region Newton (N&W Algorithm 4.1) with the model f̃(p) = f + gᵀp + ½pᵀHp.

    radius: initial Δ; max_radius: Δ_max; eta: scipy's acceptance threshold (a step
    is taken when r > eta, r = actual / predicted decrease); stops when ‖∇f‖ < gtol,
    or after max_iter iterations (accepted or not). subproblem(g, H, Δ) →
    (p, on_boundary); update(Δ, r, on_boundary, max_radius) → new Δ. The defaults are
    those of scipy.optimize.minimize(method="trust-dogleg"). Returns a Run with one
    record per iteration (rejected steps repeat x), metrics "radius" (Δ used at that
    iteration, nan for x0), "rho" (r) and "accepted", and success / message: whether
    ‖∇f‖ < gtol was reached.
    """
    x = np.array(x0, dtype=float)
    fx, g = f(x), grad(x)
    hyperparameters = dict(radius=radius, max_radius=max_radius, eta=eta, gtol=gtol)
    xs, fs, radii, rhos, accepted = [x.copy()], [fx], [np.nan], [np.nan], [True]
    stopped = None
    for k in range(1, max_iter + 1):
        if np.linalg.norm(g) < gtol:
            break
        H = hess(x)
        p, on_boundary = subproblem(g, H, radius)
        predicted = -(g @ p + 0.5 * p @ H @ p)  # f̃(0) − f̃(p)
        with np.errstate(all="ignore"):
            f_new = f(x + p)
            rho = (fx - f_new) / predicted
        radii.append(radius)
        radius = update(radius, rho, on_boundary, max_radius)
        if rho > eta:
            with np.errstate(all="ignore"):
                g_new = grad(x + p)
            stopped = stop_if_not_finite(label, k, x + p, f_new, g_new)
            if stopped:
                radii.pop()
                break
            x, fx, g = x + p, f_new, g_new
        xs.append(x.copy())
        fs.append(fx)
        rhos.append(rho)
        accepted.append(rho > eta)
    success, message = stopped or minimizer_outcome(
        np.linalg.norm(g), gtol, len(xs) - 1, max_iter, "‖∇f‖"
    )
    return Run(
        label,
        np.array(xs),
        np.array(fs),
        steps=np.arange(len(fs)),
        hyperparameters=hyperparameters,
        metrics={"radius": np.array(radii), "rho": np.array(rhos), "accepted": np.array(accepted)},
        success=success,
        message=message,
    )


# --- quasi-Newton -------------------------------------------------------------


def bfgs_update(P, dx, dg):
    """BFGS update of P ≈ H⁻¹, the preconditioner of quasi-Newton steps (N&W eq. 6.17).

    dx = x_{t+1} − x_t, dg = ∇f(x_{t+1}) − ∇f(x_t) (the pair Δx, Δg; scipy's delta_x,
    delta_grad; needs Δgᵀ Δx > 0): with V = I − Δx Δgᵀ / (Δgᵀ Δx),
    P ← V P Vᵀ + Δx Δxᵀ / (Δgᵀ Δx). Returns the new P.
    """
    inv = 1.0 / (dg @ dx)  # 1 / (Δgᵀ Δx)
    V = np.eye(len(dx)) - inv * np.outer(dx, dg)
    return V @ P @ V.T + inv * np.outer(dx, dx)


def lbfgs_direction(g, dx_list, dg_list):
    """L-BFGS two-loop recursion (N&W Algorithm 7.4): returns −P g without forming P.

    dx_list, dg_list: the last m pairs Δx, Δg, oldest first. P_0 is the identity
    scaled by Δxᵀ Δg / Δgᵀ Δg of the newest pair (the identity when there is none).
    """
    q = np.array(g, dtype=float)
    alphas = []
    for dx, dg in zip(reversed(dx_list), reversed(dg_list)):  # newest to oldest
        a = (dx @ q) / (dg @ dx)
        q -= a * dg
        alphas.append(a)
    scale = (dx_list[-1] @ dg_list[-1]) / (dg_list[-1] @ dg_list[-1]) if dx_list else 1.0
    r = scale * q
    for dx, dg, a in zip(dx_list, dg_list, reversed(alphas)):  # oldest to newest
        b = (dg @ r) / (dg @ dx)
        r += (a - b) * dx
    return -r


def wolfe_line_search(f, grad, x, p, fx, gx, alpha=1.0, c1=1e-4, c2=0.9, max_iter=40):
    """A step length satisfying the strong Wolfe conditions (N&W Algorithms 3.5, 3.6).

    Sufficient decrease f(x+αp) ≤ f(x) + c1·α·gᵀp and curvature
    |∇f(x+αp)ᵀp| ≤ c2·|gᵀp|; the bracket is shrunk by safeguarded quadratic
    interpolation. Returns (α, f(x+αp), ∇f(x+αp), evaluations of f and ∇f).
    """
    phi0, dphi0 = fx, gx @ p
    evals = 0

    def phi(a):
        nonlocal evals
        evals += 1
        fa, ga = f(x + a * p), grad(x + a * p)
        return fa, ga, ga @ p

    def zoom(lo, f_lo, d_lo, hi, f_hi):
        for _ in range(max_iter):
            denom = 2 * (f_hi - f_lo - d_lo * (hi - lo))
            a = lo - d_lo * (hi - lo) ** 2 / denom if denom > 0 else 0.5 * (lo + hi)
            left, right = min(lo, hi), max(lo, hi)
            a = np.clip(a, left + 0.1 * (right - left), right - 0.1 * (right - left))
            fa, ga, da = phi(a)
            if fa > phi0 + c1 * a * dphi0 or fa >= f_lo:
                hi, f_hi = a, fa
            else:
                if abs(da) <= -c2 * dphi0:
                    return a, fa, ga
                if da * (hi - lo) >= 0:
                    hi, f_hi = lo, f_lo
                lo, f_lo, d_lo = a, fa, da
        return a, fa, ga

    a_prev, f_prev, d_prev = 0.0, phi0, dphi0
    for i in range(max_iter):
        fa, ga, da = phi(alpha)
        if fa > phi0 + c1 * alpha * dphi0 or (i > 0 and fa >= f_prev):
            alpha, fa, ga = zoom(a_prev, f_prev, d_prev, alpha, fa)
            return alpha, fa, ga, evals
        if abs(da) <= -c2 * dphi0:
            return alpha, fa, ga, evals
        if da >= 0:
            alpha, fa, ga = zoom(alpha, fa, da, a_prev, f_prev)
            return alpha, fa, ga, evals
        a_prev, f_prev, d_prev, alpha = alpha, fa, da, 2 * alpha
    return alpha, fa, ga, evals


def _quasi_newton(f, grad, x0, direction, remember, gtol, max_iter, label, hyperparameters):
    """The loop shared by BFGS and L-BFGS: direction(g) → p, Wolfe step, remember(Δx, Δg).

    Stops when max|∇f| < gtol (scipy's BFGS test), or after max_iter iterations.
    """
    x = np.array(x0, dtype=float)
    fx, g = f(x), grad(x)
    xs, fs, evals = [x.copy()], [fx], [1]
    stopped = None
    for k in range(max_iter):
        if np.max(np.abs(g)) < gtol:
            break
        p = direction(g)
        # The first step has no curvature information: keep it of length 1 at most.
        alpha0 = min(1.0, 1.0 / np.linalg.norm(g)) if k == 0 else 1.0
        with np.errstate(all="ignore"):
            alpha, f_new, g_new, n = wolfe_line_search(f, grad, x, p, fx, g, alpha=alpha0)
        stopped = stop_if_not_finite(label, k + 1, x + alpha * p, f_new, g_new)
        if stopped:
            break
        dx, dg = alpha * p, g_new - g
        if dg @ dx > 1e-12 * np.linalg.norm(dx) * np.linalg.norm(dg):  # Δgᵀ Δx > 0
            remember(dx, dg)
        x, fx, g = x + dx, f_new, g_new
        xs.append(x.copy())
        fs.append(fx)
        evals.append(evals[-1] + n)
    success, message = stopped or minimizer_outcome(
        np.max(np.abs(g)), gtol, len(xs) - 1, max_iter, "max|∇f|"
    )
    return Run(
        label,
        np.array(xs),
        np.array(fs),
        steps=np.arange(len(fs)),
        grad_evals=np.array(evals),
        hyperparameters=hyperparameters,
        success=success,
        message=message,
    )


def minimize_bfgs(f, grad, x0, gtol=1e-5, max_iter=500, update=bfgs_update, label="BFGS"):
    """BFGS with P_0 = I and a strong Wolfe line search; stops when max|∇f| < gtol.

    update(P, dx, dg) → the new P ≈ H⁻¹ (``bfgs_update``). Returns a Run
    (grad_evals: cumulative evaluations of f and ∇f, counted together;
    success / message: whether max|∇f| < gtol was reached within max_iter).
    """
    P = np.eye(np.size(x0))

    def direction(g):
        return -P @ g

    def remember(dx, dg):
        nonlocal P
        P = update(P, dx, dg)

    return _quasi_newton(f, grad, x0, direction, remember, gtol, max_iter, label, dict(gtol=gtol))


def minimize_lbfgs(f, grad, x0, m=10, gtol=1e-5, max_iter=500, label="L-BFGS"):
    """L-BFGS keeping the last m pairs (Δx, Δg), with a strong Wolfe line search.

    Returns a Run, as ``minimize_bfgs``.
    """
    dx_list, dg_list = deque(maxlen=m), deque(maxlen=m)  # appending drops the oldest pair

    def direction(g):
        return lbfgs_direction(g, dx_list, dg_list)

    def remember(dx, dg):
        dx_list.append(dx)
        dg_list.append(dg)

    return _quasi_newton(
        f, grad, x0, direction, remember, gtol, max_iter, label, dict(m=m, gtol=gtol)
    )


# --- Kronecker-factored curvature (K-FAC) --------------------------------------


def vec(X):
    """Stack the columns of X (column-major, the convention of (A ⊗ B) vec(X) = vec(B X Aᵀ))."""
    return np.asarray(X).reshape(-1, order="F")


def unvec(v, shape):
    """Inverse of ``vec``: the matrix of the given shape whose columns are stacked in v."""
    return np.asarray(v).reshape(shape, order="F")


def kron_matvec(A, B, X):
    """(A ⊗ B) vec(X) as a matrix, B X Aᵀ, without forming A ⊗ B."""
    return B @ X @ A.T


def kfac_precondition(grad_W, K_a, K_delta):
    """(K_a ⊗ K_δ)⁻¹ vec(∇W) as a matrix: K_δ⁻¹ ∇W K_a⁻¹, using (A ⊗ B)⁻¹ = A⁻¹ ⊗ B⁻¹.

    K_a = E[a aᵀ] (the layer's inputs, in×in), K_delta = K_δ = E[δ δᵀ] (the gradients
    of its outputs z, out×out), both symmetric positive definite (add damping first).
    """
    return np.linalg.solve(K_a, np.linalg.solve(K_delta, grad_W).T).T


def natural_gradient(x, grad, state, hess, lr=1.0, damping=1e-3):
    """Natural-gradient step W ← W − η (F + νI)⁻¹ vec(∇W), vec stacking columns.

    hess: the curvature the runners pass (a ``SoftmaxLayer``'s is its Fisher F);
    damping: ν. State: none (F is computed afresh at each step).
    """
    F = hess(x)
    step = np.linalg.solve(F + damping * np.eye(len(F)), vec(grad(x)))
    return x - lr * unvec(step, np.shape(x))


def kfac(x, grad, state, factors, lr=1.0, damping=1e-3, decay=0.0, precondition=kfac_precondition):
    """K-FAC step W ← W − η ((K_a + √ν I) ⊗ (K_δ + √ν I))⁻¹ vec(∇W), the damping ν split
    between the factors.

    factors(W) → (K_a, K_δ) at W (a ``SoftmaxLayer``'s ``kfac_factors``); decay: running
    averages decay·old + (1 − decay)·new of the factors, kept in state["K_a"],
    state["K_delta"] (real K-FAC uses about 0.95; 0 recomputes them at every step);
    precondition(∇W, K_a, K_δ): the solve, ``kfac_precondition`` or a student's.
    """
    K_a, K_delta = factors(x)
    if "K_a" in state:
        K_a = decay * state["K_a"] + (1 - decay) * K_a
        K_delta = decay * state["K_delta"] + (1 - decay) * K_delta
    state["K_a"], state["K_delta"] = K_a, K_delta
    root = np.sqrt(damping)
    return x - lr * precondition(
        grad(x), K_a + root * np.eye(len(K_a)), K_delta + root * np.eye(len(K_delta))
    )


def softmax_layer(W, a, labels):
    """A linear layer z = W a with softmax cross-entropy, averaged over the n examples.

    W: (out, in); a: the inputs, (n, in); labels: (n,) ints. Returns (loss, ∇W, the
    predicted class probabilities ŷ (n, out), δ = ∂ℓ_i/∂z_i = ŷ_i − onehot(y_i) (n, out)).
    """
    z = a @ W.T
    loss, dlogits = softmax_cross_entropy(z, labels)  # dlogits = δ / n: the mean's gradient
    return loss, dlogits.T @ a, softmax(z), len(labels) * dlogits


def output_hessians(y_hat):
    """∂²ℓ/∂z² = diag(ŷ) − ŷ ŷᵀ for each example, from the probabilities ŷ (n, out):
    shape (n, out, out).

    For softmax cross-entropy this is also E[δ δᵀ] over labels drawn from ŷ, so the
    Gauss–Newton matrix and the Fisher coincide.
    """
    return np.einsum("nk,kl->nkl", y_hat, np.eye(y_hat.shape[1])) - np.einsum(
        "nk,nl->nkl", y_hat, y_hat
    )


def fisher_exact(a, y_hat):
    """The Fisher (= Gauss–Newton) matrix of vec(W): mean_i (a_i a_iᵀ) ⊗ (diag(ŷ_i) − ŷ_i ŷ_iᵀ)."""
    n, d_in = a.shape
    d_out = y_hat.shape[1]
    F = np.einsum("nj,nJ,nkK->jkJK", a, a, output_hessians(y_hat)) / n
    return F.reshape(d_in * d_out, d_in * d_out)  # index j·out + k ↔ W[k, j]: column-major


def fisher_empirical(a, delta):
    """The empirical Fisher F̂ = mean_i g_i g_iᵀ, g_i = vec(δ_i a_iᵀ) with the observed labels."""
    g = np.einsum("nj,nk->njk", a, delta).reshape(len(a), -1)  # vec(δ aᵀ) = a ⊗ δ
    return g.T @ g / len(a)


def kfac_factors(a, y_hat):
    """K-FAC's factors K_a = E[a aᵀ] and K_δ = E[δ δᵀ] (δ for labels drawn from the model)."""
    return a.T @ a / len(a), output_hessians(y_hat).mean(axis=0)


class SoftmaxLayer:
    """One linear layer z = W a with softmax cross-entropy, as an objective of W for the runners.

    a: inputs (n, in); labels: (n,) ints; x0: the starting W, (out, in). ``f``, ``grad``
    and ``hess`` as a Problem's; the iterate is the matrix W. hess(W): the Hessian of
    the loss in vec(W), which for this layer (z is linear in W) is the Gauss–Newton
    matrix and so the Fisher, ``fisher_exact``: a step that asks for ``hess`` gets the
    Fisher. kfac_factors(W) → (K_a, K_δ), K-FAC's two factors at W.
    """

    f_star = np.nan  # unknown: runs show the loss itself

    def __init__(self, a, labels, x0, name="softmax layer"):
        self.a, self.labels = np.asarray(a, dtype=float), np.asarray(labels)
        self.x0 = np.asarray(x0, dtype=float)
        self.name, self.dim = name, self.x0.size

    def __repr__(self):
        return f"<SoftmaxLayer {self.name!r}: W {self.x0.shape}, {len(self.a)} examples>"

    def probabilities(self, W):
        """ŷ_i = softmax(W a_i) for every example: (n, out)."""
        return softmax(self.a @ np.asarray(W).T)

    def f(self, W):
        return softmax_layer(W, self.a, self.labels)[0]

    def grad(self, W):
        return softmax_layer(W, self.a, self.labels)[1]

    def hess(self, W):
        return fisher_exact(self.a, self.probabilities(W))

    def kfac_factors(self, W):
        return kfac_factors(self.a, self.probabilities(W))
