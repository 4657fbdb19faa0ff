"""Update rules that see a weight matrix as a matrix (lesson 08): Muon, Shampoo, SOAP and
Adafactor, and the Newton–Schulz iteration behind Muon.

The contract is the course's (``contract``): ``x_new = step(x, grad, state, **hp)``. What is
new is that a rule must know which entries of x form a matrix; ``param_shapes`` says so.

- ``param_shapes=None`` (the default): x is one parameter tensor, a matrix when x.ndim == 2.
- ``param_shapes=[(64, 32), (32,), (32, 10), (10,)]``: x is a flat vector that holds these
  tensors one after the other, each row-major: lesson 06's ``MLP`` (``MLP.param_shapes``).
  x may also be a stack (K, d) of K such vectors (``mlp.train_lockstep``): each row is
  stepped on its own, and ``lr`` or ``weight_decay`` may be a (K, 1) column, one per run.

Every rule here declares the keyword ``param_shapes`` and the runners pass the objective's
(``contract.step_extras``): ``train_minibatch(muon, net, lr=1e-3)`` needs nothing more.
Each tensor is stepped as its reference steps one torch parameter. A matrix is
(fan_in, fan_out), the course's layout (a layer computes a @ W); torch's ``nn.Linear``
holds the transpose, which matters only for Muon's shape factor (its docstring says how).
``state_size`` counts the numbers a rule keeps in ``state``: lesson 08's memory table.
"""

import math

import numpy as np

from .contract import InputError

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Jordan et al.'s quintic, as torch.optim.Muon
MACHINE_EPS = float(np.finfo(float).eps)  # Adafactor's ε: torch's default for float64


# --- the layout: tensors in, tensors out ----------------------------------------------------


def tensors(x, param_shapes=None):
    """The parameter tensors of x, as views (…, *shape) that keep x's leading (run) axes."""
    if param_shapes is None:
        return [x]
    lead, out, start = x.shape[:-1], [], 0
    for shape in param_shapes:
        size = math.prod(shape)
        out.append(x[..., start : start + size].reshape(lead + tuple(shape)))
        start += size
    if start != x.shape[-1]:
        raise InputError(
            f"param_shapes {list(param_shapes)} hold {start} numbers, but x has "
            f"{x.shape[-1]} on its last axis: pass the objective's own (e.g. net.param_shapes)."
        )
    return out


def flatten(parts, like, param_shapes=None):
    """The inverse of ``tensors``: the parts joined into one array shaped like ``like``."""
    if param_shapes is None:
        return parts[0]
    lead = like.shape[:-1]
    return np.concatenate([np.reshape(p, lead + (-1,)) for p in parts], axis=-1)


def _shapes(x, param_shapes):
    return [tuple(x.shape)] if param_shapes is None else [tuple(s) for s in param_shapes]


def _per_tensor(value, ndim):
    """A hyperparameter against a tensor with ``ndim`` axes of its own: a (K, 1) column, one
    value per run, becomes (K, 1, …, 1); a number stays a number."""
    if np.ndim(value) == 0:
        return value
    value = np.asarray(value, dtype=float)
    return value.reshape(value.shape[:-1] + (1,) * ndim)


def _axes(ndim):
    """The axes of a tensor's own ndim dimensions (after any leading run axes)."""
    return tuple(range(-ndim, 0))


def _t(a):
    return np.swapaxes(a, -1, -2)


def state_size(state):
    """How many numbers ``state`` keeps in arrays (lists and dicts searched too).

    Counted from a run on one x, not a stack: the memory a rule needs besides x itself.
    """
    if isinstance(state, np.ndarray):
        return state.size
    if isinstance(state, dict):
        return sum(state_size(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(state_size(v) for v in state)
    return 0


# --- steepest descent under a norm ---------------------------------------------------------


def steepest_step(g, norm="l2"):
    """The steepest unit step: the d with ‖d‖ ≤ 1 that makes gᵀd smallest (lesson 08, §1).

    norm: "l2" (−g/‖g‖₂), "linf" (−sign(g): sign descent), "l1" (−sign(gᵢ) on the coordinate
    of largest |gᵢ| only) or "spectral" (−U Vᵀ for g = U Σ Vᵀ, a matrix: Muon). gᵀd is then
    −‖g‖ in the dual norm: ℓ2 ↔ ℓ2, ℓ∞ ↔ ℓ1, ℓ1 ↔ ℓ∞, spectral ↔ nuclear (Σ σᵢ).
    """
    g = np.asarray(g, dtype=float)
    if norm == "l2":
        return -g / np.linalg.norm(g)
    if norm == "linf":
        return -np.sign(g)
    if norm == "l1":
        d = np.zeros_like(g)
        i = np.unravel_index(np.argmax(np.abs(g)), g.shape)
        d[i] = -np.sign(g[i])
        return d
    if norm == "spectral":
        u, _, vt = np.linalg.svd(g, full_matrices=False)
        return -u @ vt
    raise InputError(f'norm must be "l2", "linf", "l1" or "spectral"; got {norm!r}')


# --- Muon: momentum, orthogonalised ---------------------------------------------------------


def newton_schulz(g, steps=5, eps=1e-7):
    """Muon's orthogonalisation: about U Vᵀ for g = U Σ Vᵀ, by a quintic Newton–Schulz iteration.

    O ← g / max(‖g‖_F, ε) (so every σ ≤ 1), then ``steps`` times, with A = O Oᵀ:
    O ← a O + (b A + c A²) O, (a, b, c) = NS_COEFFICIENTS. Each step maps every singular
    value σ of O to a σ + b σ³ + c σ⁵ and keeps U and V. A tall g is iterated as its
    transpose (the smaller Gram matrix: the same result). g: a matrix or a stack (…, m, n).
    torch.optim.Muon's ``_zeropower_via_newtonschulz`` is the same iteration in bfloat16;
    this one runs in float64.
    """
    a, b, c = NS_COEFFICIENTS
    g = np.asarray(g, dtype=float)
    if g.ndim < 2:
        raise InputError(f"newton_schulz needs a matrix (or a stack of them); got shape {g.shape}")
    tall = g.shape[-2] > g.shape[-1]
    o = _t(g) if tall else g
    o = o / np.maximum(np.linalg.norm(o, axis=(-2, -1), keepdims=True), eps)
    for _ in range(steps):
        gram = o @ _t(o)
        o = a * o + (b * gram + c * (gram @ gram)) @ o
    return _t(o) if tall else o


def muon_scale(shape, adjust_lr="match_rms_adamw"):
    """Muon's factor on η for a matrix (fan_in, fan_out), as torch.optim.Muon's ``_adjust_lr``.

    "original" (Jordan): √max(1, fan_out/fan_in); "match_rms_adamw" (Moonshot):
    0.2·√max(fan_in, fan_out), so that the update's RMS matches AdamW's and AdamW's η and ω
    can be reused.
    torch computes √max(1, A/B) on its (A, B) = (fan_out, fan_in) weight: the same number.
    """
    fan_in, fan_out = shape[-2:]
    if adjust_lr == "original":
        return math.sqrt(max(1.0, fan_out / fan_in))
    if adjust_lr == "match_rms_adamw":
        return 0.2 * math.sqrt(max(fan_in, fan_out))
    raise InputError(f'adjust_lr must be "original" or "match_rms_adamw"; got {adjust_lr!r}')


def muon(
    x,
    grad,
    state,
    lr=1e-3,
    gamma=0.95,
    nesterov=True,
    weight_decay=0.1,
    adjust_lr="match_rms_adamw",
    ns_steps=5,
    ns_eps=1e-7,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    param_shapes=None,
):
    """Muon (Jordan et al. 2024): momentum on each weight matrix, orthogonalised; AdamW elsewhere.

    Per matrix: m ← γ m + (1 − γ) g; u = (1 − γ) g + γ m (Nesterov) or m; O = newton_schulz(u);
    x ← x (1 − ηω) − η·muon_scale(shape, adjust_lr)·O. Every other tensor (a bias) takes
    AdamW's step with the same η and ω (β1, β2, ε). State: t, m per tensor, s per vector.

    Matrices: torch.optim.Muon(lr=η, momentum=γ, nesterov, weight_decay=ω, adjust_lr_fn=
    adjust_lr, ns_steps, eps=ns_eps) on the transposed weight (nn.Linear's layout), with its
    Newton–Schulz run in float64 instead of bfloat16; the rest: torch.optim.AdamW(lr=η,
    betas=(β1, β2), eps, weight_decay=ω). torch's own default is adjust_lr_fn="original";
    the course's, "match_rms_adamw", lets one η serve both parts.
    """
    t = state["t"] = state.get("t", 0) + 1
    shapes = _shapes(x, param_shapes)
    grads = tensors(grad(x), param_shapes)
    if "m" not in state:
        state["m"] = [np.zeros_like(g) for g in grads]
        state["s"] = [None if len(s) == 2 else np.zeros_like(g) for g, s in zip(grads, shapes)]
    steps = []
    for i, (g, shape) in enumerate(zip(grads, shapes)):
        m = state["m"][i]
        if len(shape) == 2:
            m = state["m"][i] = m + (1 - gamma) * (g - m)  # torch: buf.lerp_(grad, 1 − γ)
            u = g + gamma * (m - g) if nesterov else m
            steps.append(muon_scale(shape, adjust_lr) * newton_schulz(u, ns_steps, ns_eps))
        else:
            m = state["m"][i] = beta1 * m + (1 - beta1) * g
            s = state["s"][i] = beta2 * state["s"][i] + (1 - beta2) * g * g
            m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
            steps.append(m_hat / (np.sqrt(s_hat) + eps))
    return x * (1 - lr * weight_decay) - lr * flatten(steps, x, param_shapes)


# --- Shampoo and SOAP: Kronecker-factored statistics ----------------------------------------


def matrix_power(S, power):
    """S^power for symmetric positive definite S (or a stack), by its eigendecomposition."""
    w, Q = np.linalg.eigh(S)
    return (Q * w[..., None, :] ** power) @ _t(Q)


def _outer(g, axis, ndim):
    """Σ over the other axes of g g: the statistics of one axis of a tensor (Shampoo's g gᵀ)."""
    unfolded = np.moveaxis(g, axis - ndim, -1)  # that axis last, the others before it
    lead = g.shape[: g.ndim - ndim]
    unfolded = unfolded.reshape(lead + (-1, unfolded.shape[-1]))
    return _t(unfolded) @ unfolded


def _precondition(g, factors, ndim):
    """The roots applied on each side: R_1 g for a vector, R_1 g R_2 for a matrix."""
    if ndim == 1:
        return (factors[0] @ g[..., None])[..., 0]
    return factors[0] @ g @ factors[1]


def shampoo(
    x,
    grad,
    state,
    lr=1e-3,
    gamma=0.0,
    weight_decay=0.0,
    update_every=1,
    eps=1e-6,
    param_shapes=None,
):
    """Shampoo (Gupta et al. 2018): x ← x − η S_row^(−1/4) g S_col^(−1/4) for each matrix g.

    S_row ← S_row + g gᵀ and S_col ← S_col + gᵀ g (sums, from εI); a vector: S ← S + g gᵀ and
    S^(−1/2) g. The roots S^(−1/(2·order)) are recomputed at steps k, 2k, … (update_every=k)
    and kept in between; before step k they are 0, so nothing moves in the first k − 1 steps.
    gamma: γ mixes g with the last preconditioned step u: g ← (1 − γ) g + γ u (u starts as the
    first gradient). weight_decay: an L2 term, g ← g + ωx. State: t; per tensor, S and its
    root per axis (and u if γ > 0). pytorch-optimizer's Shampoo(lr, momentum=γ, weight_decay=ω,
    preconditioning_compute_steps=k, matrix_eps=ε), which takes the roots by an SVD.
    """
    t = state["t"] = state.get("t", 0) + 1
    shapes = _shapes(x, param_shapes)
    params, grads = tensors(x, param_shapes), tensors(grad(x), param_shapes)
    if "S" not in state:
        lead = x.shape[:-1] if param_shapes is not None else ()
        state["S"] = [[eps * np.broadcast_to(np.eye(n), lead + (n, n)) for n in s] for s in shapes]
        state["roots"] = [[np.zeros(lead + (n, n)) for n in s] for s in shapes]
        if gamma > 0:
            state["u"] = [g.copy() for g in grads]
    steps = []
    for i, (p, g, shape) in enumerate(zip(params, grads, shapes)):
        ndim = len(shape)
        if gamma > 0:
            g = g + gamma * (state["u"][i] - g)  # torch: grad.lerp_(momentum_buffer, γ)
        if weight_decay:
            g = g + _per_tensor(weight_decay, ndim) * p
        for axis in range(ndim):
            state["S"][i][axis] = state["S"][i][axis] + _outer(g, axis, ndim)
            if t % update_every == 0:
                state["roots"][i][axis] = matrix_power(state["S"][i][axis], -1 / (2 * ndim))
        step = _precondition(g, state["roots"][i], ndim)
        if gamma > 0:
            state["u"][i] = step
        steps.append(step)
    return x - lr * flatten(steps, x, param_shapes)


def _eigenbasis(S):
    """SOAP's first basis: the eigenvectors of S, largest eigenvalue first."""
    return np.linalg.eigh(S + 1e-30 * np.eye(S.shape[-1]))[1][..., ::-1]


def _qr(a):
    """Q of a QR decomposition, for one matrix or a stack of them (numpy < 2 has no stacks)."""
    if a.ndim == 2:
        return np.linalg.qr(a)[0]
    return np.array([_qr(one) for one in a.reshape((-1,) + a.shape[-2:])]).reshape(a.shape)


def _refresh(S, Q, s, axis):
    """SOAP's update of one basis of a matrix: one power iteration S Q, its columns ordered by
    the estimated eigenvalues (largest first; s's rows or columns follow), then a QR."""
    product = S @ Q
    order = np.argsort(-np.sum(Q * product, axis=-2), axis=-1, kind="stable")
    index = order[..., :, None] if axis == 0 else order[..., None, :]
    s = np.take_along_axis(s, np.broadcast_to(index, s.shape), axis=s.ndim - 2 + axis)
    return _qr(np.take_along_axis(product, order[..., None, :], axis=-1)), s


def soap(
    x,
    grad,
    state,
    lr=3e-3,
    beta1=0.95,
    beta2=0.95,
    weight_decay=0.01,
    update_every=10,
    eps=1e-8,
    param_shapes=None,
):
    """SOAP (Vyas et al. 2024): Adam in the eigenbasis of Shampoo's statistics, for each matrix.

    S_row ← β2 S_row + (1 − β2) g gᵀ, S_col likewise (averages), with eigenvectors Q_row, Q_col.
    m ← β1 m + (1 − β1) g (kept in the usual basis); s ← β2 s + (1 − β2) ĝ², ĝ = Q_rowᵀ g Q_col;
    x ← (x − η_t Q_row (m̃ / (√s + ε)) Q_colᵀ)(1 − ηω), m̃ = Q_rowᵀ m Q_col,
    η_t = η √(1 − β2^t)/(1 − β1^t). Vectors (biases): the same with Q = I (Adam).
    The first call only gathers S and takes its eigenvectors (x does not move); t counts the
    calls after it. The statistics take each step's g after the update; every k steps
    (update_every) each Q is refreshed by one power iteration S Q and a QR decomposition,
    reordered by its estimated eigenvalues (s's entries follow). State: t, m, s, and S and Q
    per axis of a matrix. pytorch-optimizer's SOAP(lr, betas=(β1, β2), weight_decay=ω,
    precondition_frequency=k, eps), whose QR runs in float32 (here in float64).
    """
    calls = state["calls"] = state.get("calls", 0) + 1
    shapes = _shapes(x, param_shapes)
    grads = tensors(grad(x), param_shapes)
    if calls == 1:
        state["m"] = [np.zeros_like(g) for g in grads]
        state["s"] = [np.zeros_like(g) for g in grads]
        state["S"] = [[np.zeros(g.shape[: g.ndim - 2] + (n, n)) for n in s] if len(s) == 2 else []
                      for g, s in zip(grads, shapes)]  # fmt: skip
        _soap_statistics(state, grads, shapes, beta2)
        state["Q"] = [[_eigenbasis(S) for S in Ss] for Ss in state["S"]]
        state["t"] = 0
        return x.copy()
    t = state["t"] = calls - 1
    step_size = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
    steps = []
    for i, g in enumerate(grads):
        Q = state["Q"][i]
        m = state["m"][i] = state["m"][i] + (1 - beta1) * (g - state["m"][i])
        s = state["s"][i]
        s = state["s"][i] = s + (1 - beta2) * (_project(g, Q) ** 2 - s)
        steps.append(_project(_project(m, Q) / (np.sqrt(s) + eps), Q, back=True))
    x_new = (x - step_size * flatten(steps, x, param_shapes)) * (1 - lr * weight_decay)
    _soap_statistics(state, grads, shapes, beta2)
    if t % update_every == 0:
        for i in range(len(shapes)):
            for axis, S in enumerate(state["S"][i]):
                Q, s = state["Q"][i][axis], state["s"][i]
                state["Q"][i][axis], state["s"][i] = _refresh(S, Q, s, axis)
    return x_new


def _soap_statistics(state, grads, shapes, beta2):
    for i, (g, shape) in enumerate(zip(grads, shapes)):
        for axis, S in enumerate(state["S"][i]):
            state["S"][i][axis] = S + (1 - beta2) * (_outer(g, axis, len(shape)) - S)


def _project(a, Q, back=False):
    """Q_rowᵀ a Q_col (into the eigenbasis) or, back, Q_row a Q_colᵀ; a vector (Q = []) as is."""
    if not Q:
        return a
    if back:
        return Q[0] @ a @ _t(Q[1])
    return _t(Q[0]) @ a @ Q[1]


# --- Adafactor: a factored second moment ----------------------------------------------------


def adafactor(
    x,
    grad,
    state,
    lr=1e-2,
    beta2_decay=-0.8,
    eps=MACHINE_EPS,
    eps2=1e-3,
    clip_threshold=1.0,
    weight_decay=0.0,
    param_shapes=None,
):
    """Adafactor (Shazeer & Stern 2018) as torch.optim.Adafactor: row and column means of g².

    For a matrix g (d_in × d_out), with β̂2,t = 1 − t^beta2_decay (so β̂2,1 = 0):
    s_row ← β̂2,t s_row + (1 − β̂2,t) (the mean of g² over each row), s_col the same over each
    column, and the estimate V̂ = s_row s_colᵀ / mean(s_row): d_in + d_out numbers instead of
    d_in·d_out. A vector keeps V̂ itself. u = g / √max(V̂, ε²), clipped to
    u / max(1, RMS(u)/clip_threshold), and the relative step
    x ← x (1 − ηω) − max(ε2, RMS(x)) · min(η, 1/√t) · u (RMS(x) before the decay).
    State: t; per matrix s_row and s_col, per vector V̂. torch.optim.Adafactor(lr=η,
    beta2_decay, eps=(ε, ε2), d=clip_threshold, weight_decay=ω), ε by default
    the machine ε of float64 as torch's None. The paper adds ε1 = 1e-30 to g² instead of
    clamping V̂, and has no weight decay.
    """
    t = state["t"] = state.get("t", 0) + 1
    shapes = _shapes(x, param_shapes)
    params, grads = tensors(x, param_shapes), tensors(grad(x), param_shapes)
    if "s_row" not in state:
        state["s_row"] = [np.zeros(g.shape[:-1] + (1,)) if len(s) == 2 else None
                          for g, s in zip(grads, shapes)]  # fmt: skip
        state["s_col"] = [np.zeros(g.shape[:-2] + (1,) + g.shape[-1:]) if len(s) == 2 else None
                          for g, s in zip(grads, shapes)]  # fmt: skip
        state["s"] = [np.zeros_like(g) if len(s) != 2 else None for g, s in zip(grads, shapes)]
    weight = t**beta2_decay
    steps = []
    for i, (p, g, shape) in enumerate(zip(params, grads, shapes)):
        ndim = len(shape)
        rho = np.minimum(_per_tensor(lr, ndim), 1 / math.sqrt(t))
        rms = np.sqrt(np.mean(p * p, axis=_axes(ndim), keepdims=True))
        alpha = np.maximum(eps2, rms) * rho
        if ndim == 2:
            r, c = state["s_row"][i], state["s_col"][i]
            r = state["s_row"][i] = r + weight * (np.mean(g * g, axis=-1, keepdims=True) - r)
            c = state["s_col"][i] = c + weight * (np.mean(g * g, axis=-2, keepdims=True) - c)
            v_hat = r @ c / np.maximum(np.mean(r, axis=-2, keepdims=True), eps)
        else:
            s = state["s"][i] = state["s"][i] + weight * (g * g - state["s"][i])
            v_hat = s
        u = g / np.sqrt(np.maximum(v_hat, eps * eps))
        u_rms = np.sqrt(np.mean(u * u, axis=_axes(ndim), keepdims=True))
        steps.append(alpha / np.maximum(1.0, u_rms / clip_threshold) * u)
    return x * (1 - lr * weight_decay) - flatten(steps, x, param_shapes)


MATRIX_STEPS = {f.__name__: f for f in (muon, shampoo, soap, adafactor)}


# --- a test problem with a layer's curvature ------------------------------------------------


def layer_quadratic(d_in=16, d_out=8, kappa_in=30.0, kappa_out=30.0, seed=0):
    """f(W) = ½ tr((W − W*)ᵀ A (W − W*) B): a linear layer's least squares, as a Problem.

    A (d_in × d_in) plays the inputs' covariance, B (d_out × d_out) a weighting of the outputs,
    each with log-spaced eigenvalues from 1/κ to 1 in a random basis; the Hessian is the
    Kronecker product B ⊗ A (condition number κ_in·κ_out), the structure Shampoo's two
    statistics can match and a diagonal preconditioner cannot. W* random normal, W_0 = 0.
    """
    from .problems import Problem

    rng = np.random.default_rng(seed)

    def spd(n, kappa):
        Q = np.linalg.qr(rng.normal(size=(n, n)))[0]
        return (Q * np.geomspace(1 / kappa, 1.0, n)) @ Q.T

    A, B = spd(d_in, kappa_in), spd(d_out, kappa_out)
    W_star = rng.normal(size=(d_in, d_out))
    grad = lambda W: A @ (W - W_star) @ B
    f = lambda W: 0.5 * np.sum((W - W_star) * grad(W), axis=(-2, -1))
    problem = Problem(
        f"layer quadratic {d_in}×{d_out}, κ = {kappa_in * kappa_out:g}",
        f,
        grad,
        None,
        W_star.reshape(1, -1),
        np.zeros((d_in, d_out)),
        None,
        hvp=lambda W, V: A @ V @ B,
    )
    problem.A, problem.B, problem.W_star = A, B, W_star
    return problem
