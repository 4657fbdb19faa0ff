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
with its Fisher as ``hess`` and its K-FAC factors, for the lesson's last section.
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

    method "abs": the eigenvalues λ replaced by max(|λ|, δ), so directions of
    negative curvature are followed downhill; "shift": H + μI with the smallest
    μ ≥ 0 that makes every eigenvalue at least δ.
    """
    lam, V = np.linalg.eigh(H)
    if method == "abs":
        return (V * np.maximum(np.abs(lam), delta)) @ V.T
    if method == "shift":
        return H + max(0.0, delta - lam[0]) * np.eye(len(H))
    raise ValueError(f"method must be 'abs' or 'shift', not {method!r}")


def backtracking(f, x, g, p, alpha=1.0, c=1e-4, shrink=0.5, max_tries=60):
    """Backtracking line search: the first α in alpha, alpha·shrink, … with
    f(x + αp) ≤ f(x) + c·α·gᵀp (the Armijo, or sufficient decrease, condition).

    g: ∇f(x); p: a descent direction (gᵀp < 0). Returns α.
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

    c, shrink: the Armijo constant and the backtracking factor. modify: None (H as
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

    rho: actual / predicted reduction of the step; on_boundary: ‖p‖ = Δ.
    Returns ¼Δ when ρ < ¼; min(2Δ, max_radius) when ρ > ¾ and the step hit
    the boundary; Δ otherwise.
    """
    if rho < 0.25:
        return 0.25 * radius
    if rho > 0.75 and on_boundary:
        return min(2.0 * radius, max_radius)
    return radius


def cauchy_point(g, B, radius):
    """The minimiser of the model along −g inside the ball ‖p‖ ≤ Δ (N&W eq. 4.12)."""
    gBg, gnorm = g @ B @ g, np.linalg.norm(g)
    tau = 1.0 if gBg <= 0 else min(gnorm**3 / (radius * gBg), 1.0)
    return -tau * radius / gnorm * g


def dogleg(g, B, radius):
    """Dogleg step for m(p) = gᵀp + ½pᵀBp, ‖p‖ ≤ Δ, with B positive definite.

    Returns (p, on_boundary): the Newton point −B⁻¹g if it lies inside the ball;
    otherwise the point where the path 0 → p_u → p_B (p_u: the minimiser along
    −g) leaves the ball. Same conventions as scipy's trust-dogleg.
    """
    try:
        L = np.linalg.cholesky(B)  # as scipy: the dogleg is defined for B ≻ 0 only
    except np.linalg.LinAlgError:
        raise ValueError(
            "dogleg needs a positive definite B; replace it first, e.g. with modify_hessian(B)"
        ) from None
    p_b = -np.linalg.solve(L.T, np.linalg.solve(L, g))
    if np.linalg.norm(p_b) < radius:
        return p_b, False
    p_u = -(g @ g) / (g @ B @ g) * g
    if np.linalg.norm(p_u) >= radius:
        return radius * p_u / np.linalg.norm(p_u), True
    d = p_b - p_u  # solve ‖p_u + τd‖ = Δ for τ in [0, 1]
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
    """Trust-region Newton (N&W Algorithm 4.1) with model m(p) = f + gᵀp + ½pᵀ∇²f p.

    radius: initial Δ; max_radius: Δ_max; eta: accept the step when ρ > η;
    stops when ‖∇f‖ < gtol, or after max_iter iterations (accepted or not).
    subproblem(g, B, Δ) → (p, on_boundary); update(Δ, ρ, on_boundary, max_radius)
    → new Δ. The defaults are those of scipy.optimize.minimize(method="trust-dogleg").
    Returns a Run with one record per iteration (rejected steps repeat x), metrics
    "radius" (Δ used at that iteration, nan for x0), "rho" and "accepted", and
    success / message: whether ‖∇f‖ < gtol was reached.
    """
    x = np.array(x0, dtype=float)
    fx, g = f(x), grad(x)
    hyperparameters = dict(radius=radius, max_radius=max_radius, eta=eta, gtol=gtol)
    xs, fs, radii, rhos, accepted = [x.copy()], [fx], [np.nan], [np.nan], [True]
    stopped = None
    for k in range(1, max_iter + 1):
        if np.linalg.norm(g) < gtol:
            break
        B = hess(x)
        p, on_boundary = subproblem(g, B, radius)
        predicted = -(g @ p + 0.5 * p @ B @ p)  # m(0) − m(p)
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


def bfgs_update(H, s, y):
    """BFGS update of the inverse-Hessian approximation (N&W eq. 6.17).

    s = x_{k+1} − x_k, y = ∇f_{k+1} − ∇f_k, ρ = 1/(yᵀs) (needs yᵀs > 0):
    H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ. Returns the new H.
    """
    rho = 1.0 / (y @ s)
    V = np.eye(len(s)) - rho * np.outer(s, y)
    return V @ H @ V.T + rho * np.outer(s, s)


def lbfgs_direction(g, s_list, y_list):
    """L-BFGS two-loop recursion (N&W Algorithm 7.4): returns −H g without forming H.

    s_list, y_list: the last m pairs, oldest first. H_0 = γI with
    γ = sᵀy / yᵀy of the newest pair (1 when there is none).
    """
    q = np.array(g, dtype=float)
    alphas = []
    for s, y in zip(reversed(s_list), reversed(y_list)):  # newest to oldest
        a = (s @ q) / (y @ s)
        q -= a * y
        alphas.append(a)
    gamma = (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1]) if s_list else 1.0
    r = gamma * q
    for s, y, a in zip(s_list, y_list, reversed(alphas)):  # oldest to newest
        b = (y @ r) / (y @ s)
        r += (a - b) * s
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
    """The loop shared by BFGS and L-BFGS: direction(g) → p, Wolfe step, remember(s, y).

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
        s, y = alpha * p, g_new - g
        if y @ s > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):  # curvature condition
            remember(s, y)
        x, fx, g = x + s, f_new, g_new
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
    """BFGS with H_0 = I and a strong Wolfe line search; stops when max|∇f| < gtol.

    update(H, s, y) → new inverse-Hessian approximation. Returns a Run
    (grad_evals: cumulative evaluations of f and ∇f, counted together;
    success / message: whether max|∇f| < gtol was reached within max_iter).
    """
    H = np.eye(np.size(x0))

    def direction(g):
        return -H @ g

    def remember(s, y):
        nonlocal H
        H = update(H, s, y)

    return _quasi_newton(f, grad, x0, direction, remember, gtol, max_iter, label, dict(gtol=gtol))


def minimize_lbfgs(f, grad, x0, m=10, gtol=1e-5, max_iter=500, label="L-BFGS"):
    """L-BFGS keeping the last m pairs (s, y), with a strong Wolfe line search.

    Returns a Run, as ``minimize_bfgs``.
    """
    s_list, y_list = deque(maxlen=m), deque(maxlen=m)  # appending drops the oldest pair

    def direction(g):
        return lbfgs_direction(g, s_list, y_list)

    def remember(s, y):
        s_list.append(s)
        y_list.append(y)

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


def kfac_precondition(grad_W, A, S):
    """(A ⊗ S)⁻¹ vec(∇W) as a matrix: S⁻¹ ∇W A⁻¹, using (A ⊗ S)⁻¹ = A⁻¹ ⊗ S⁻¹.

    A = E[a aᵀ] (inputs, in×in), S = E[δ δᵀ] (output gradients, out×out), both
    symmetric positive definite (add damping before calling). (S, not G: G is the
    Gauss–Newton matrix.)
    """
    return np.linalg.solve(A, np.linalg.solve(S, grad_W).T).T


def softmax_layer(W, a, labels):
    """A linear layer s = W a with softmax cross-entropy, averaged over the n examples.

    W: (out, in); a: inputs (n, in); labels: (n,) ints. Returns (loss, ∇W,
    probabilities p (n, out), δ = ∂ℓ_i/∂s_i = p_i − onehot(y_i) (n, out)).
    """
    s = a @ W.T
    loss, dlogits = softmax_cross_entropy(s, labels)  # dlogits = δ / n: the mean's gradient
    return loss, dlogits.T @ a, softmax(s), len(labels) * dlogits


def output_hessians(p):
    """∂²ℓ/∂s² = diag(p) − p pᵀ for each example: shape (n, out, out).

    For softmax cross-entropy this is also E_{y∼p}[δ δᵀ], so the Gauss–Newton
    matrix and the Fisher coincide.
    """
    return np.einsum("nk,kl->nkl", p, np.eye(p.shape[1])) - np.einsum("nk,nl->nkl", p, p)


def fisher_exact(a, p):
    """The Fisher / Gauss–Newton matrix of vec(W): mean_i (a_i a_iᵀ) ⊗ (diag(p_i) − p_i p_iᵀ)."""
    n, d_in = a.shape
    d_out = p.shape[1]
    F = np.einsum("nj,nJ,nkK->jkJK", a, a, output_hessians(p)) / n
    return F.reshape(d_in * d_out, d_in * d_out)  # index j·out + k ↔ W[k, j]: column-major


def fisher_empirical(a, delta):
    """The empirical Fisher mean_i g_i g_iᵀ, g_i = vec(δ_i a_iᵀ) with the observed labels."""
    g = np.einsum("nj,nk->njk", a, delta).reshape(len(a), -1)  # vec(δ aᵀ) = a ⊗ δ
    return g.T @ g / len(a)


def kfac_factors(a, p):
    """K-FAC's factors A = E[a aᵀ] and S = E[δ δᵀ] (δ with labels drawn from the model)."""
    return a.T @ a / len(a), output_hessians(p).mean(axis=0)


class SoftmaxLayer:
    """One linear layer s = W a with softmax cross-entropy, as an objective of W for the runners.

    a: inputs (n, in); labels: (n,) ints; x0: the starting W, (out, in). ``f``, ``grad``
    and ``hess`` as a Problem's; the iterate is the matrix W. hess(W): the Hessian of
    the loss in vec(W), which for this layer (s is linear in W) is the Gauss–Newton
    matrix and so the Fisher, ``fisher_exact``: a step that asks for ``hess`` gets the
    Fisher. kfac_factors(W) → (A, S), K-FAC's two factors at W.
    """

    f_star = np.nan  # unknown: runs show the loss itself

    def __init__(self, a, labels, x0, name="softmax layer"):
        self.a, self.labels = np.asarray(a, dtype=float), np.asarray(labels)
        self.x0 = np.asarray(x0, dtype=float)
        self.name, self.dim = name, self.x0.size

    def __repr__(self):
        return f"<SoftmaxLayer {self.name!r}: W {self.x0.shape}, {len(self.a)} examples>"

    def probabilities(self, W):
        """softmax(W a_i) for every example: (n, out)."""
        return softmax(self.a @ np.asarray(W).T)

    def f(self, W):
        return softmax_layer(W, self.a, self.labels)[0]

    def grad(self, W):
        return softmax_layer(W, self.a, self.labels)[1]

    def hess(self, W):
        return fisher_exact(self.a, self.probabilities(W))

    def kfac_factors(self, W):
        return kfac_factors(self.a, self.probabilities(W))
