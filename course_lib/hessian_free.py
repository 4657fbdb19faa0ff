"""Hessian-free methods: curvature through matrix-vector products only (lesson 05b).

``fd_hvp`` (a Hessian-vector product by finite differences of gradients),
``conjugate_gradient`` (linear CG on H x = b with nothing but products H v),
nonlinear CG (``nonlinear_cg``, a step function, and ``minimize_nonlinear_cg``, with
the β rules ``fletcher_reeves`` and ``polak_ribiere_plus``), Levenberg–Marquardt on
a least-squares problem (``update_damping``, ``minimize_levenberg_marquardt``) and
Hessian-free training of a network (``minimize_hessian_free``: truncated CG on
Gauss–Newton products with Levenberg–Marquardt damping, Martens 2010; L-BFGS recorded the
same way, ``minimize_lbfgs_full_batch``) and a small network's four curvature matrices
(``curvature_matrices``). Exact Hessian-vector products live with their objectives:
``Problem.hvp`` and ``MLP.hvp`` / ``MLP.gauss_newton_vp``. The minimisers return a ``Run``
as those of ``second_order`` do; the lesson's exercises can be swapped in by keyword
arguments.
"""

import time

import numpy as np

from .mlp import softmax
from .runners import Run, minimizer_outcome, stop_if_not_finite
from .second_order import minimize_lbfgs, wolfe_line_search

# --- products and linear conjugate gradient ------------------------------------------------


def fd_hvp(grad, x, v, h=1e-5):
    """H(x) v ≈ (∇f(x + h v) − ∇f(x − h v)) / 2h: central differences of the gradient along v.

    Error O(h²‖v‖³) from truncation plus O(ε‖∇f‖/h) from rounding (ε: the machine epsilon),
    smallest near h ≈ ε^(1/3) for a problem of unit scale.
    """
    return (grad(x + h * v) - grad(x - h * v)) / (2 * h)


def conjugate_gradient(hvp, b, rtol=1e-5, max_iter=None, x0=None):
    """Linear CG for A x = b, A symmetric positive definite, given only hvp(v) = A v.

    Starts from x0 (default 0) and stops when the residual ‖r‖ = ‖b − A x‖ drops below
    rtol·‖b‖ (scipy.sparse.linalg.cg's test), or after max_iter iterations (default 10·len(b),
    scipy's maxiter).
    Returns (xs, residual_norms): every iterate, x_0 first, and ‖r_k‖ for each.
    """
    b = np.asarray(b, dtype=float)
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=float)
    r = b - hvp(x) if np.any(x) else b.copy()
    p, rr = r.copy(), r @ r
    xs, norms = [x.copy()], [np.sqrt(rr)]
    max_iter = 10 * len(b) if max_iter is None else max_iter
    while norms[-1] >= rtol * np.linalg.norm(b) and len(xs) <= max_iter:
        Ap = hvp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr, rr_old = r @ r, rr
        p = r + (rr / rr_old) * p  # β = r_newᵀr_new / r_oldᵀr_old
        xs.append(x.copy())
        norms.append(np.sqrt(rr))
    return np.array(xs), np.array(norms)


def cg_bound(kappa, k):
    """The classic bound on CG's error in the A-norm after k steps: 2((√κ − 1)/(√κ + 1))^k."""
    q = (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
    return 2 * q ** np.asarray(k, dtype=float)


# --- nonlinear conjugate gradient ----------------------------------------------------------


def fletcher_reeves(g_new, g_old, p_old):
    """β = ‖g_new‖² / ‖g_old‖² (Fletcher & Reeves, 1964)."""
    return (g_new @ g_new) / (g_old @ g_old)


def polak_ribiere_plus(g_new, g_old, p_old):
    """β = max(0, g_newᵀ(g_new − g_old) / ‖g_old‖²): Polak–Ribière, restarted when negative."""
    return max(0.0, g_new @ (g_new - g_old) / (g_old @ g_old))


def nonlinear_cg(x, grad, state, f, beta=polak_ribiere_plus, c2=0.1):
    """Nonlinear CG step: p = −g + β p_old, α from a strong Wolfe line search.

    beta(g_new, g_old, p_old) → β; c2: the curvature constant of the line search (below ½,
    so that Fletcher–Reeves directions stay descent directions). State: f, g, p (the last
    value, gradient and direction), evals (evaluations of f and ∇f so far, counted
    together), change (α gᵀp of the last step, for the next first trial step).
    A direction that is not a descent direction is replaced by −g (a restart).
    """
    g = state["g"] if "g" in state else grad(x)
    state.setdefault("evals", 1)
    p = -g
    if "p" in state:
        p = -g + beta(g, state["g_old"], state["p"]) * state["p"]
        if g @ p >= 0:
            p = -g
    if not np.any(g):
        return x.copy()
    # first trial: the step whose first-order change of f equals the last one (N&W eq. 3.60);
    # with no history, a step of length at most 1
    alpha0 = min(1.0, 1.01 * state["change"] / (g @ p) if "p" in state else 1 / np.linalg.norm(g))
    fx = state["f"] if "f" in state else f(x)
    alpha, state["f"], g_new, n = wolfe_line_search(f, grad, x, p, fx, g, alpha=alpha0, c2=c2)
    state["change"] = alpha * (g @ p)
    state["evals"] += n
    state["g_old"], state["g"], state["p"] = g, g_new, p
    return x + alpha * p


def minimize_nonlinear_cg(
    f, grad, x0, beta=polak_ribiere_plus, c2=0.1, gtol=1e-5, max_iter=1000, label=None
):
    """Nonlinear CG (``nonlinear_cg`` steps) until max|∇f| < gtol, as scipy's method="CG".

    Returns a Run (grad_evals: cumulative evaluations of f and ∇f, counted together).
    """
    label = label or f"nonlinear CG ({beta.__name__})"
    x = np.array(x0, dtype=float)
    state = {}
    xs, fs, evals = [x.copy()], [f(x)], [1]
    g = grad(x)
    stopped = None
    for k in range(1, max_iter + 1):
        if np.max(np.abs(g)) < gtol:
            break
        with np.errstate(all="ignore"):
            x = nonlinear_cg(x, grad, state, f, beta=beta, c2=c2)
        g = state["g"]
        stopped = stop_if_not_finite(label, k, x, state["f"], g)
        if stopped:
            break
        xs.append(x.copy())
        fs.append(state["f"])
        evals.append(state["evals"])
    success, message = stopped or minimizer_outcome(
        np.max(np.abs(g)), gtol, len(xs) - 1, max_iter, "max|∇f|"
    )
    return Run(
        label,
        np.array(xs),
        np.array(fs),
        steps=np.arange(len(fs)),
        grad_evals=np.array(evals),
        hyperparameters=dict(c2=c2, gtol=gtol),
        success=success,
        message=message,
    )


# --- Levenberg–Marquardt -------------------------------------------------------------------


def update_damping(nu, r, boost=1.5, drop=2 / 3):
    """The next Levenberg–Marquardt damping ν from the ratio r = actual / predicted decrease.

    Martens's rule (2010): r < ¼ (the model promised too much): ν ← boost·ν, shorter and more
    gradient-like steps; r > ¾ (the model is good): ν ← drop·ν, towards the Gauss–Newton
    step; otherwise ν stays.
    """
    if r < 0.25:
        return boost * nu
    if r > 0.75:
        return drop * nu
    return nu


def minimize_levenberg_marquardt(
    residuals,
    jacobian,
    x0,
    lam=1e-3,
    gtol=1e-6,
    max_iter=200,
    update=update_damping,
    label="Levenberg–Marquardt",
):
    """Levenberg–Marquardt for min ½‖e(x)‖², e = residuals(x), J = jacobian(x) its Jacobian.

    Each iteration solves (JᵀJ + νI) p = −Jᵀe, lam being the first damping ν, and takes the
    step when it lowers the cost (ratio r > 0, r = actual / predicted decrease);
    update(ν, r) → the next ν. Stops when max|Jᵀe| < gtol or after max_iter iterations.
    lam = 0 is Gauss–Newton, with every step taken. Returns a Run (losses: ½‖e‖²; metrics
    "lam" (ν), "rho" (r) and "nfev", "njev": the residual and Jacobian evaluations so far).
    """
    x = np.array(x0, dtype=float)
    r, J = residuals(x), jacobian(x)
    cost, g = 0.5 * r @ r, J.T @ r
    xs, costs, lams, rhos, nfev, njev = [x.copy()], [cost], [lam], [np.nan], [1], [1]
    stopped = None
    for k in range(1, max_iter + 1):
        if np.max(np.abs(g)) < gtol:
            break
        JJ = J.T @ J
        p = -np.linalg.solve(JJ + lam * np.eye(len(x)), g)
        predicted = -(g @ p + 0.5 * p @ JJ @ p)  # decrease the Gauss–Newton model promises
        with np.errstate(all="ignore"):
            r_new = residuals(x + p)
            cost_new = 0.5 * r_new @ r_new
            rho = (cost - cost_new) / predicted
        nfev.append(nfev[-1] + 1)
        if lam == 0 or rho > 0:
            J_new = jacobian(x + p)
            stopped = stop_if_not_finite(label, k, x + p, cost_new, J_new)
            if stopped:
                break
            x, r, J, cost = x + p, r_new, J_new, cost_new
            g = J.T @ r
            njev.append(njev[-1] + 1)
        else:
            njev.append(njev[-1])
        lam = update(lam, rho) if lam else 0.0
        xs.append(x.copy())
        costs.append(cost)
        lams.append(lam)
        rhos.append(rho)
    success, message = stopped or minimizer_outcome(
        np.max(np.abs(g)), gtol, len(xs) - 1, max_iter, "max|Jᵀr|"
    )
    return Run(
        label,
        np.array(xs),
        np.array(costs),
        steps=np.arange(len(costs)),
        hyperparameters=dict(gtol=gtol),
        metrics={
            "lam": np.array(lams),
            "rho": np.array(rhos),
            "nfev": np.array(nfev),
            "njev": np.array(njev),
        },
        success=success,
        message=message,
    )


# --- Hessian-free training of a network ----------------------------------------------------


def full_loss_and_grad(net, w):
    """net.loss_and_grad(w) over all examples, computed in blocks of net.BLOCK examples.

    The same numbers; small blocks keep every matrix product below the size at which a
    multithreaded BLAS on a busy machine spends more time synchronising than computing.
    """
    loss, g = 0.0, np.zeros(net.dim)
    for start in range(0, net.n, net.BLOCK):
        idx = np.arange(start, min(start + net.BLOCK, net.n))
        block_loss, block_g = net.loss_and_grad(w, idx)
        loss += len(idx) / net.n * block_loss
        g += len(idx) / net.n * block_g
    return loss, g


def minimize_hessian_free(
    net,
    x0=None,
    iterations=20,
    max_evals=None,
    lam=1.0,
    cg_iters=10,
    curvature_batch=0.2,
    decay=0.95,
    seed=0,
    update=update_damping,
    metrics=None,
    label="Hessian-free",
):
    """Hessian-free training (Martens 2010): truncated CG on Gauss–Newton products, LM damping.

    Each iteration: the full-batch loss and gradient g (``full_loss_and_grad``); CG (at
    most cg_iters steps, warm started from decay × the last step) on (G + νI) p = −g, G the
    Gauss–Newton matrix of a random fraction curvature_batch of the examples
    (``net.gauss_newton_vp``), lam the first damping ν; the step is taken if it lowers the
    loss; ν ← update(ν, r), r = actual / predicted decrease (the prediction from G without
    ν). grad_evals counts example passes: one per example for a loss or a gradient, two
    for a Gauss–Newton product (a forward and a backward sweep more); no iteration starts
    that could take grad_evals past max_evals. times: seconds spent so far. metrics:
    "lam" (ν), "rho" (r), "cg" (the products CG used: its steps, and one for the residual
    of a warm start), and metrics[name](w) at every iteration.
    """
    rng = np.random.default_rng(seed)
    w = np.array(net.x0 if x0 is None else x0, dtype=float)
    metrics = metrics or {}
    m = max(1, int(round(curvature_batch * net.n)))
    started = time.perf_counter()
    loss, g = full_loss_and_grad(net, w)
    busy, evals = time.perf_counter() - started, net.n
    rec = {"xs": [], "losses": [], "grad_evals": [], "times": [], "lam": [], "rho": [], "cg": []}
    rec_metrics = {name: [] for name in metrics}

    def record(rho, cg):
        values = dict(xs=w.copy(), losses=loss, grad_evals=evals, times=busy, lam=lam, rho=rho)
        for key, value in {**values, "cg": cg}.items():
            rec[key].append(value)
        for name, fn in metrics.items():
            rec_metrics[name].append(fn(w))

    record(np.nan, 0)
    p = np.zeros_like(w)
    for _ in range(iterations):
        if max_evals is not None and evals + net.n + 2 * m * (cg_iters + 2) > max_evals:
            break  # this iteration could overrun the budget
        started = time.perf_counter()
        idx = rng.choice(net.n, size=m, replace=False)
        products = []

        def damped(v, idx=idx, products=products):
            products.append(1)
            return net.gauss_newton_vp(w, v, idx) + lam * v

        ps, _ = conjugate_gradient(damped, -g, rtol=1e-8, max_iter=cg_iters, x0=decay * p)
        p = ps[-1]
        predicted = -(g @ p + 0.5 * p @ net.gauss_newton_vp(w, p, idx))
        new_loss, new_g = full_loss_and_grad(net, w + p)
        rho = (loss - new_loss) / predicted
        evals += 2 * m * (len(products) + 1) + net.n
        if rho > 0:
            w, loss, g = w + p, new_loss, new_g
        else:
            p = np.zeros_like(w)  # a rejected step is no warm start
        lam = update(lam, rho)
        busy += time.perf_counter() - started
        record(rho, len(products))
    return Run(
        label,
        np.array(rec["xs"]),
        np.array(rec["losses"]),
        f_star=np.nan,
        hyperparameters=dict(lam=rec["lam"][0], cg_iters=cg_iters, curvature_batch=curvature_batch),
        steps=np.arange(len(rec["losses"])),
        grad_evals=np.array(rec["grad_evals"]),
        times=np.array(rec["times"]),
        metrics={
            "lam": np.array(rec["lam"]),
            "rho": np.array(rec["rho"]),
            "cg": np.array(rec["cg"]),
            **{k: np.array(v) for k, v in rec_metrics.items()},
        },
    )


def minimize_lbfgs_full_batch(net, x0=None, max_evals=None, m=10, label="L-BFGS"):
    """L-BFGS (``second_order.minimize_lbfgs``) on the full training loss, recorded as
    ``minimize_hessian_free`` records: grad_evals in example passes, times in seconds.

    f and ∇f share one ``full_loss_and_grad`` per point; max_evals (example passes) cuts the
    run at the last record within it.
    """
    cache, clock = {}, []

    def both(w):
        key = w.tobytes()
        if key not in cache:
            started = time.perf_counter()
            cache.clear()
            cache[key] = full_loss_and_grad(net, w)
            clock.append(time.perf_counter() - started)
        return cache[key]

    passes = None if max_evals is None else max_evals // net.n
    w0 = np.array(net.x0 if x0 is None else x0, dtype=float)
    result = minimize_lbfgs(
        lambda w: both(w)[0],
        lambda w: both(w)[1],
        w0,
        m=m,
        gtol=1e-8,
        max_iter=passes or 1000,
        label=label,
    )
    keep = result.grad_evals <= (passes or np.inf)
    result.times = np.cumsum(clock)[result.grad_evals[keep] - 1]
    result.losses, result.xs = result.losses[keep], result.xs[keep]
    result.steps = np.arange(keep.sum())
    result.grad_evals = result.grad_evals[keep] * net.n
    return result


def curvature_matrices(net, w):
    """H, G, F and F̂ of a small network at w, built column by column from products.

    {"H": Hessian, "G": Gauss–Newton, "F": Fisher (labels drawn from the model, in
    expectation), "F̂": empirical Fisher (the observed labels)}, each d × d.
    """
    eye = np.eye(net.dim)
    H = np.stack([net.hvp(w, e) for e in eye], axis=1)
    G = np.stack([net.gauss_newton_vp(w, e) for e in eye], axis=1)
    J = np.stack([net.jvp(w, e) for e in eye], axis=-1)  # (n, C, d): the logits' Jacobian
    y_hat = softmax(net.logits(w, net.X))
    n, C = y_hat.shape
    # ∇ℓ_i for every label y: Jᵢᵀ (ŷ_i − e_y), shape (n, y, d)
    grads = np.einsum("nyc,ncd->nyd", y_hat[:, None, :] - np.eye(C)[None], J)
    F = np.einsum("ny,nyd,nye->de", y_hat, grads, grads) / n  # E over y ~ ŷ_i
    observed = grads[np.arange(n), net.y]
    return {"H": H, "G": G, "F": F, "F̂": observed.T @ observed / n}
