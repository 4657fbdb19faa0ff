"""Every first-order update rule of the course, behind one interface.

The optimiser contract (used by every lesson, the runners, the checks and the
neural network of lesson 06)::

    x_new = step(x, grad, state, **hyperparameters)

- ``x``: the current parameters, a float numpy array of any shape. A step must
  not modify it in place; it returns a new array of the same shape.
- ``grad``: a callable, ``grad(y)`` is the gradient of the (mini-batch) objective
  at any point ``y`` shaped like ``x``. A callable rather than an array, so that
  Nesterov can evaluate the gradient at its look-ahead point; on a mini-batch it
  always uses the same batch.
- ``state``: a dict the step owns. It is empty on the first call; the step keeps
  its buffers (velocity, moments) and its step counter ``t`` there. Nothing else
  touches it, so one dict per run, and no globals.
- hyperparameters: keyword arguments with defaults (``lr``, ``gamma``, ``rho``,
  ``beta1``, ``beta2``, ``eps``, ``weight_decay``).
- Steps that need more than the gradient declare keyword parameters named ``f``
  (the objective) or ``hess`` (its Hessian); the runners pass them from the
  problem (lesson 05's Newton-type steps).

The step counter ``t`` counts 1, 2, … and is incremented *before* it is used in
bias corrections. Each rule below lists its hyperparameters with defaults and
the state it keeps, and how it maps onto ``torch.optim``.
"""

import numpy as np


def gd(x, grad, state, lr=0.1):
    """Gradient descent: x ← x − η ∇f(x).

    lr: learning rate η. State: none. torch.optim.SGD(lr=η).
    With a mini-batch gradient this is SGD.
    """
    return x - lr * grad(x)


def momentum(x, grad, state, lr=0.01, gamma=0.9):
    """Heavy-ball momentum (Polyak): v ← γv + η∇f(x), x ← x − v.

    lr: η; gamma: momentum γ. State: v (velocity, starts at 0).
    torch.optim.SGD(lr=η, momentum=γ) keeps b ← γb + g, x ← x − ηb: the same
    iterates for a constant η, with v = η b.
    """
    v = state.get("v", np.zeros_like(x))
    v = gamma * v + lr * grad(x)
    state["v"] = v
    return x - v


def nesterov(x, grad, state, lr=0.01, gamma=0.9):
    """Nesterov's accelerated gradient: v ← γv + η∇f(x − γv), x ← x − v.

    lr: η; gamma: γ. State: v. The gradient is taken at the look-ahead point
    x − γv. torch.optim.SGD(nesterov=True) stores that look-ahead point
    y = x − γv as its parameter: its iterates are x_t − γ v_t.
    """
    v = state.get("v", np.zeros_like(x))
    v = gamma * v + lr * grad(x - gamma * v)
    state["v"] = v
    return x - v


def adagrad(x, grad, state, lr=0.01, eps=1e-10):
    """Adagrad: s ← s + g², x ← x − η g / √(s + ε)  (ε inside the root, as in Ruder).

    lr: η; eps: ε. State: s (sum of squared gradients).
    torch.optim.Adagrad puts ε outside, x ← x − η g / (√s + ε); with its
    initial_accumulator_value = ε and eps = 0 it follows the form above exactly.
    """
    g = grad(x)
    s = state.get("s", np.zeros_like(x)) + g * g
    state["s"] = s
    return x - lr * g / np.sqrt(s + eps)


def rmsprop(x, grad, state, lr=0.01, rho=0.99, eps=1e-8):
    """RMSprop (Hinton): s ← ρs + (1−ρ)g², x ← x − η g / √(s + ε)  (ε inside).

    lr: η; rho: decay ρ; eps: ε. State: s (running mean of g²).
    torch.optim.RMSprop(alpha=ρ) puts ε outside the root: x ← x − η g / (√s + ε).
    """
    g = grad(x)
    s = rho * state.get("s", np.zeros_like(x)) + (1 - rho) * g * g
    state["s"] = s
    return x - lr * g / np.sqrt(s + eps)


def adadelta(x, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    """Adadelta (Zeiler): s ← ρs + (1−ρ)g², Δx = −√(u+ε)/√(s+ε) g, u ← ρu + (1−ρ)Δx², x ← x + ηΔx.

    lr: η (1 in the paper); rho: ρ; eps: ε. State: s (mean g²), u (mean Δx²).
    Identical to torch.optim.Adadelta, which scales Δx by lr only when applying it.
    """
    g = grad(x)
    s = rho * state.get("s", np.zeros_like(x)) + (1 - rho) * g * g
    u = state.get("u", np.zeros_like(x))
    delta = -np.sqrt(u + eps) / np.sqrt(s + eps) * g
    state["s"], state["u"] = s, rho * u + (1 - rho) * delta * delta
    return x + lr * delta


def adam(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam: m ← β1m + (1−β1)g, s ← β2s + (1−β2)g², x ← x − η m̂ / (√ŝ + ε).

    m̂ = m/(1−β1^t), ŝ = s/(1−β2^t). weight_decay ω adds an L2 term to the
    gradient, g ← g + ωx, as torch.optim.Adam does. State: t, m, s.
    Identical to torch.optim.Adam.
    """
    g = grad(x) + weight_decay * x
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
    s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * g * g
    m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
    return x - lr * m_hat / (np.sqrt(s_hat) + eps)


def amsgrad(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """AMSGrad as in torch.optim.Adam(amsgrad=True): s_max ← max(s_max, s).

    m, s and m̂ as in ``adam`` (β1, β2), then x ← x − η m̂ / (√s_max / √(1−β2^t) + ε).
    State: t, m, s, s_max.
    Reddi et al.'s paper has no bias correction: x ← x − η m / (√s_max + ε).
    """
    g = grad(x)
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
    s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * g * g
    s_max = state["s_max"] = np.maximum(state.get("s_max", np.zeros_like(x)), s)
    m_hat = m / (1 - beta1**t)
    return x - lr * m_hat / (np.sqrt(s_max) / np.sqrt(1 - beta2**t) + eps)


def adamax(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """AdaMax: m ← β1m + (1−β1)g, s_∞ ← max(β2s_∞, |g| + ε), x ← x − (η/(1−β1^t)) m/s_∞.

    s_∞ (state key "s_inf") is the infinity-norm counterpart of Adam's √s. The paper has
    no ε (eps=0); torch.optim.Adamax adds it inside the max, as here, so that s_∞ > 0
    even where g = 0. State: t, m, s_inf.
    """
    g = grad(x)
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
    s_inf = state["s_inf"] = np.maximum(
        beta2 * state.get("s_inf", np.zeros_like(x)), np.abs(g) + eps
    )
    return x - lr / (1 - beta1**t) * m / s_inf


def nadam(x, grad, state, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, momentum_decay=None):
    """Nadam (Dozat): x ← x − η/(√ŝ+ε) · (β1 m/(1−β1^(t+1)) + (1−β1) g/(1−β1^t)).

    m and s as in ``adam`` (β1, β2), ŝ = s/(1−β2^t).
    With momentum_decay ψ (torch.optim.NAdam's default is 0.004) the step's momentum
    coefficient follows the schedule β1,t = β1(1 − ½·0.96^(tψ)) (torch's mu_t) and the
    products of the β1,t replace the powers of β1, exactly as torch.optim.NAdam; None
    (the default) is Dozat's form above, which torch reproduces with a very large ψ.
    State: t, m, s, and mu_product (torch's name for the product) when scheduled.
    """
    g = grad(x)
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
    s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * g * g
    denom = np.sqrt(s / (1 - beta2**t)) + eps
    if momentum_decay is None:
        beta1_t, beta1_next = beta1, beta1
        prod, prod_next = beta1**t, beta1 ** (t + 1)
    else:
        beta1_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        beta1_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        prod = state["mu_product"] = state.get("mu_product", 1.0) * beta1_t
        prod_next = prod * beta1_next
    return x - lr * ((1 - beta1_t) * g / (1 - prod) + beta1_next * m / (1 - prod_next)) / denom


def adabelief(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-16):
    """AdaBelief: s ← β2s + (1−β2)(g − m)² + ε, x ← x − η m̂ / (√ŝ + ε).

    m is updated first (m ← β1m + (1−β1)g) and the "belief" s tracks the
    squared distance of g from it; ε is added to s at every step.
    m̂ = m/(1−β1^t), ŝ = s/(1−β2^t). State: t, m, s. The authors'
    adabelief-pytorch with rectify=False, weight_decouple=False.
    """
    g = grad(x)
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
    s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * (g - m) ** 2 + eps
    m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
    return x - lr * m_hat / (np.sqrt(s_hat) + eps)


def adamw(x, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    """AdamW: decoupled weight decay x ← x − ηωx, then the Adam step (on g, not g + ωx).

    m, s, m̂, ŝ as in ``adam`` (β1, β2, ε); weight_decay ω multiplies η, not the
    gradient. State: t, m, s. Identical to torch.optim.AdamW.
    """
    g = grad(x)
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", np.zeros_like(x)) + (1 - beta1) * g
    s = state["s"] = beta2 * state.get("s", np.zeros_like(x)) + (1 - beta2) * g * g
    m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
    return x * (1 - lr * weight_decay) - lr * m_hat / (np.sqrt(s_hat) + eps)


STEPS = {
    f.__name__: f
    for f in (
        gd,
        momentum,
        nesterov,
        adagrad,
        rmsprop,
        adadelta,
        adam,
        amsgrad,
        adamax,
        nadam,
        adabelief,
        adamw,
    )
}


def sgd_momentum(x, grad, state, lr=0.01, gamma=0.9):
    """Momentum as torch.optim.SGD(momentum=γ) keeps it: b ← γb + ∇f(x), x ← x − ηb.

    lr: η; gamma: γ. State: b (the momentum buffer, a sum of gradients, starts at 0).
    For a constant η it makes the same iterates as ``momentum`` (v = ηb); under a
    schedule it does not: η_t scales the whole buffer at once, where ``momentum``
    keeps the old rates inside v. Use it with schedules to match torch.
    """
    b = state["b"] = gamma * state.get("b", np.zeros_like(x)) + grad(x)
    return x - lr * b


# --- lesson 08: after Adam (elementwise rules; the matrix-aware ones: matrix_optimizers) ----


def lion(x, grad, state, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0):
    """Lion (Chen et al. 2023): x ← x(1 − ηω) − η sign(β1 m + (1−β1) g), then m ← β2 m + (1−β2) g.

    lr: η; beta1: β1, the mix whose sign is the step; beta2: β2, the decay of m;
    weight_decay: ω, decoupled. State: m (starts at 0). Every coordinate moves by exactly η
    (or 0). lion-pytorch's Lion(lr=η, betas=(β1, β2), weight_decay=ω).
    """
    g = grad(x)
    m = state.get("m", np.zeros_like(x))
    step = np.sign(beta1 * m + (1 - beta1) * g)
    state["m"] = beta2 * m + (1 - beta2) * g
    return x * (1 - lr * weight_decay) - lr * step


def _schedule_free(x, grad, state, lr, beta, weight_decay, warmup_steps, normalise):
    """The schedule-free loop around a base step (see schedule_free_sgd): returns the new x."""
    t = state["t"] = state.get("t", 0) + 1
    lr_t = lr * min(1.0, t / warmup_steps) if warmup_steps else lr
    lr_max = state["lr_max"] = np.maximum(state.get("lr_max", -1.0), lr_t)
    weight_sum = state["weight_sum"] = state.get("weight_sum", 0.0) + lr_max**2
    c = lr_max**2 / np.maximum(weight_sum, np.finfo(float).tiny)  # 1/t at a constant η
    z = state.get("z", x)
    y = (1 - beta) * z + beta * x  # where the gradient is taken
    g = normalise(grad(y), t) + weight_decay * y
    z = state["z"] = z - lr_t * g
    return (1 - c) * x + c * z


def schedule_free_sgd(x, grad, state, lr=1.0, beta=0.9, weight_decay=0.0, warmup_steps=0):
    """Schedule-free SGD (Defazio et al. 2024): SGD steps on z, x their running average.

    The gradient is taken at the interpolation (1 − β) z + β x, plus ω times that point
    (weight decay); z ← z − η_t·that; x ← x + (z − x)·η_max,t² / Σ_{k≤t} η_max,k² (1/t at a
    constant rate): x is the average of the z's, and what is evaluated (the runners' loss).
    η_t = η·min(1, t/warmup_steps), η_max,t the largest so far. State: t, z, lr_max,
    weight_sum. schedulefree's SGDScheduleFree(lr=η, momentum=β, weight_decay=ω,
    warmup_steps) with r = 0, weight_lr_power = 2: its parameter holds the interpolation in
    train() mode and x after eval().
    """
    return _schedule_free(x, grad, state, lr, beta, weight_decay, warmup_steps, lambda g, t: g)


def schedule_free_adamw(
    x, grad, state, lr=0.0025, beta=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, warmup_steps=0
):
    """Schedule-free AdamW (Defazio et al. 2024): schedule_free_sgd with Adam's denominator.

    The gradient g at the interpolation becomes g / (√(s/(1 − β2^t)) + ε), with
    s ← β2 s + (1 − β2) g²; the rest as in ``schedule_free_sgd``. No first moment: the
    averaging plays its part. State: t, z, s, lr_max, weight_sum. schedulefree's
    AdamWScheduleFree(lr=η, betas=(β, β2), eps, weight_decay=ω, warmup_steps) with r = 0,
    weight_lr_power = 2, x read after eval().
    """

    def normalise(g, t):
        s = state["s"] = beta2 * state.get("s", np.zeros_like(g)) + (1 - beta2) * g * g
        return g / (np.sqrt(s / (1 - beta2**t)) + eps)

    return _schedule_free(x, grad, state, lr, beta, weight_decay, warmup_steps, normalise)
