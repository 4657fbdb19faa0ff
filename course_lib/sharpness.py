"""Sharpness (lesson 08b): the largest Hessian eigenvalue of a minimum, by power iteration on
Hessian-vector products, and SAM, the update rule that looks for flat minima."""

import inspect

import numpy as np

from .contract import InputError
from .optimizers import adamw


def largest_eigenvalue(hvp, v0, iters=30):
    """λ_max of a symmetric H by power iteration: v ← Hv/‖Hv‖, then the Rayleigh quotient v·Hv.

    hvp(v) = H v (e.g. ``lambda v: net.hvp(w, v)``, lesson 05b); v0: a nonzero start; iters:
    a fixed number of products, so that it never hangs. Converges to the eigenvalue of largest
    magnitude, at the rate |λ_2/λ_1| per iteration; near a minimum that is λ_max.
    """
    v = np.asarray(v0, dtype=float)
    norm = np.linalg.norm(v)
    if not norm > 0:
        raise InputError("v0 must be a nonzero vector (a random one is best)")
    v = v / norm
    for _ in range(iters):
        w = hvp(v)
        norm = np.linalg.norm(w)
        if norm == 0:  # v in the null space: H v = 0
            return 0.0
        v = w / norm
    return float(v @ hvp(v))


def sam(x, grad, state, lr=1e-3, radius=0.05, base=adamw, param_shapes=None, **hyperparameters):
    """SAM (Foret et al. 2021): the base rule's step, with the gradient taken at x + τ g/‖g‖.

    g = ∇f(x); e = τ g / (‖g‖ + 10⁻¹²) (radius τ, the paper's ρ); the base step (default:
    AdamW; lr and the other hyperparameters go to it) from x with ∇f(x + e) in place of ∇f(x):
    two gradients a step, on the same mini-batch. ‖g‖ is the norm of all of x, or of each run
    of a stack (K, d) when param_shapes is given (as train_lockstep passes it). State: the
    base's, under "base". pytorch-optimizer's SAM(base_optimizer, rho=τ, adaptive=False),
    whose ‖g‖ is taken in float32 (here in float64).
    """
    g = grad(x)
    axes = -1 if param_shapes is not None else None
    norm = np.sqrt(np.sum(g * g, axis=axes, keepdims=axes is not None))
    g_sam = grad(x + radius * g / (norm + 1e-12))
    takes = "param_shapes" in inspect.signature(base).parameters
    extras = {"param_shapes": param_shapes} if param_shapes is not None and takes else {}
    return base(
        x, lambda _: g_sam, state.setdefault("base", {}), lr=lr, **extras, **hyperparameters
    )
