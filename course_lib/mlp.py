"""A small multilayer perceptron in numpy, forward and backward by hand, for lesson 06.

The network is an *objective* like ``problems.LeastSquares``: its parameters are
ONE flat float vector ``w`` (each layer's weight matrix and bias are reshaped
views into it), so every step function of ``course_lib.optimizers`` trains it
unchanged through ``runners.train_minibatch``::

    net = MLP(X_train, y_train, sizes=(64, 32, 10), activation="tanh", seed=0)
    run = train_minibatch(adam, net, epochs=20, batch_size=32, seed=0, lr=1e-3,
                          metrics={"val_acc": net.on(X_val, y_val).accuracy})

``net.n`` examples, ``net.x0`` a seeded initialisation, ``net.loss(w, idx=None)``
and ``net.grad(w, idx=None)`` over the examples ``idx`` of a mini-batch (None: all).
The loss is the mean softmax cross-entropy plus an optional L2 penalty
½·ω·Σ‖W_l‖² on the weight matrices (not the biases), ω = ``weight_decay``.

Lesson 07 makes it deep: ``init`` ("xavier", "he", or a gain c, std c/√fan_in),
``layer_grad_norms`` (‖∂f/∂W_l‖ per layer), ``batch_norm=True`` (each hidden layer
normalised over the batch before its activation: ``batch_norm_forward`` and
``batch_norm_backward``) and ``clip_grad_norm`` (torch's clipping by global norm).
"""

import time
import warnings

import numpy as np

from .contract import InputError, call_step, check_hyperparameters, name_of, step_extras
from .runners import EXPLODE, DivergenceWarning, Run, _user_stacklevel, tune, whole_number


def log_softmax(logits):
    """Row-wise log softmax(z) = z − log Σ_k exp(z_k), by the log-sum-exp trick: each row
    is shifted by its maximum first, so that exp never overflows."""
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits):
    """Row-wise softmax: probabilities over the last axis, without overflow."""
    return np.exp(log_softmax(np.asarray(logits, dtype=float)))


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    logits: (N, C) scores; y: (N,) labels in 0 … C−1.
    Returns (loss, dlogits): loss = −(1/N) Σ_i log softmax(logits_i)[y_i] and
    dlogits = (softmax(logits) − onehot(y)) / N, the gradient of that loss.
    """
    log_p = log_softmax(np.asarray(logits, dtype=float))
    rows = np.arange(len(log_p))
    y = np.asarray(y)
    loss = -log_p[rows, y].mean()
    dlogits = np.exp(log_p)
    dlogits[rows, y] -= 1
    return float(loss), dlogits / len(log_p)


ACTIVATIONS = {
    # name: (function, derivative written in terms of the *output* a = f(z), which the
    # forward pass keeps anyway)
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(float)),
}

# R{f′} = f″(z)·R{z}, written with a = f(z) and R{a} = f′(z)·R{z}: for MLP.hvp
R_DERIVATIVES = {"tanh": lambda a, ra: -2 * a * ra, "relu": lambda a, ra: np.zeros_like(a)}


def _softmax_ce_hvp(logits, u):
    """H_L u for the mean softmax cross-entropy: (diag(p_i) − p_i p_iᵀ) u_i / N, row by row."""
    p = softmax(logits)
    return p * (u - np.sum(p * u, axis=1, keepdims=True)) / len(p)


class MLP:
    """A fully connected classifier: (affine → activation) × (L−1), affine → softmax.

    X: (n, d) inputs; y: (n,) integer labels. sizes: layer widths, input first and
    number of classes last, e.g. (64, 32, 10). activation: "tanh" or "relu".
    weight_decay: ω, an L2 penalty ½ωΣ‖W_l‖² on the weight matrices (default 0).
    seed: initialisation of ``x0`` — Glorot-uniform weights for tanh, He-normal for
    ReLU, zero biases. criterion(logits, y) → (loss, dloss/dlogits): the data term,
    softmax_cross_entropy by default (lesson 06 plugs in the student's own).
    init (lesson 07): None (the above), "xavier" (normal, std gain·√(2/(fan_in + fan_out))),
    "he" (normal, std gain/√fan_in), gain as torch.nn.init.calculate_gain(activation) for
    the hidden layers and 1 ("linear") for the output layer, which no activation follows; or
    a number c (normal, std c/√fan_in for every layer, the output layer too). batch_norm: normalise
    each hidden layer's x W over the examples evaluated together (a mini-batch, or all of
    them) before adding b and the activation, as torch's BatchNorm1d(affine=False) in
    training mode; b then plays BatchNorm's β.
    """

    BLOCK = 128  # examples per block when evaluating a whole data set (see logits)

    def __init__(
        self,
        X,
        y,
        sizes=(64, 32, 10),
        activation="tanh",
        weight_decay=0.0,
        seed=0,
        criterion=softmax_cross_entropy,
        init=None,
        batch_norm=False,
    ):
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        if X.ndim != 2 or X.shape[1] != sizes[0]:
            raise ValueError(
                f"X must have shape (n, {sizes[0]}) for sizes={tuple(sizes)}; got {X.shape}"
            )
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"y must hold {X.shape[0]} integer labels; got shape {y.shape}, dtype {y.dtype}"
            )
        if y.min() < 0 or y.max() >= sizes[-1]:
            raise ValueError(f"labels must lie in 0 … {sizes[-1] - 1} (sizes[-1] classes)")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
        self.X, self.y = X, y
        self.sizes, self.activation = tuple(int(s) for s in sizes), activation
        self.weight_decay, self.seed = float(weight_decay), seed
        self.criterion = criterion
        self.init, self.batch_norm = check_init(init), bool(batch_norm)
        self.n = X.shape[0]
        self.f_star = float("nan")  # unknown: plots show the loss itself
        # where each layer's W (d_in, d_out) and b (d_out,) sit in the flat vector
        self.shapes, offset = [], 0
        for d_in, d_out in zip(self.sizes[:-1], self.sizes[1:]):
            self.shapes.append((offset, d_in, d_out))
            offset += d_in * d_out + d_out
        self.dim = offset
        self.x0 = self.init_params(seed)

    def __repr__(self):
        return (
            f"<MLP {' → '.join(map(str, self.sizes))}, {self.activation}, "
            f"{self.dim} parameters, {self.n} examples>"
        )

    def init_params(self, seed=0):
        """A seeded initial parameter vector (Glorot-uniform for tanh, He-normal for ReLU)."""
        if self.init is not None:
            return self._init_normal(seed)
        rng = np.random.default_rng(seed)
        w = np.zeros(self.dim)
        for W, _ in self.unpack(w):
            d_in, d_out = W.shape
            if self.activation == "relu":
                W[...] = rng.normal(0.0, np.sqrt(2.0 / d_in), size=W.shape)
            else:
                limit = np.sqrt(6.0 / (d_in + d_out))
                W[...] = rng.uniform(-limit, limit, size=W.shape)
        return w

    def unpack(self, w):
        """[(W, b), …] per layer: reshaped *views* into w (writing to them writes to w)."""
        w = np.asarray(w)
        if w.shape != (self.dim,):
            raise ValueError(
                f"expected a flat parameter vector of length {self.dim}; got shape {w.shape}"
            )
        return [
            (w[o : o + a * b].reshape(a, b), w[o + a * b : o + a * b + b])
            for o, a, b in self.shapes
        ]

    @property
    def param_shapes(self):
        """The shape of each parameter tensor in the flat vector, in order: W_1, b_1, W_2, …

        Lesson 08's matrix-aware rules (``matrix_optimizers``) declare a keyword
        ``param_shapes`` and the runners pass this, so that they see each W_l as a matrix.
        """
        return [shape for _, a, b in self.shapes for shape in ((a, b), (b,))]

    def on(self, X, y):
        """The same network (architecture, ω) on other data, e.g. the validation set."""
        return MLP(
            X,
            y,
            sizes=self.sizes,
            activation=self.activation,
            weight_decay=self.weight_decay,
            seed=self.seed,
            criterion=self.criterion,
            init=self.init,
            batch_norm=self.batch_norm,
        )

    def forward(self, w, X):
        """Logits (N, C) for inputs X, and the activations of every layer (for backward)."""
        if self.batch_norm:
            return self._forward_bn(w, X)[:2]
        f = ACTIVATIONS[self.activation][0]
        layers = self.unpack(w)
        acts = [X]
        for W, b in layers[:-1]:
            acts.append(f(acts[-1] @ W + b))
        W, b = layers[-1]
        return acts[-1] @ W + b, acts

    def logits(self, w, X):
        """Logits of the forward pass for X, computed in blocks of BLOCK examples.

        Blocks keep every matrix product small: a multithreaded BLAS spends more time
        starting and synchronising threads than computing on products this size (three
        times more on a busy 2-core machine), and memory stays bounded for large X.
        With batch_norm, in one block: the statistics are those of all of X.
        """
        if self.batch_norm:
            return self.forward(w, X)[0]
        return np.concatenate(
            [self.forward(w, X[s : s + self.BLOCK])[0] for s in range(0, len(X), self.BLOCK)]
        )

    def _batch(self, idx):
        return (self.X, self.y) if idx is None else (self.X[idx], self.y[idx])

    def _penalty(self, w):
        if not self.weight_decay:
            return 0.0
        return 0.5 * self.weight_decay * sum(np.sum(W * W) for W, _ in self.unpack(w))

    def loss(self, w, idx=None):
        """Mean cross-entropy over the examples idx (None: all) + ½ωΣ‖W_l‖²."""
        X, y = self._batch(idx)
        return self.criterion(self.logits(w, X), y)[0] + self._penalty(w)

    def grad(self, w, idx=None):
        """Gradient of ``loss(w, idx)`` by backpropagation, as one flat vector like w."""
        return self.loss_and_grad(w, idx)[1]

    def loss_and_grad(self, w, idx=None):
        """(loss, gradient) in one forward and one backward pass."""
        if self.batch_norm:
            return self._loss_and_grad_bn(w, idx)
        X, y = self._batch(idx)
        logits, acts = self.forward(w, X)
        loss, delta = self.criterion(logits, y)  # delta = ∂loss/∂logits
        dfun = ACTIVATIONS[self.activation][1]
        layers = self.unpack(w)
        g = np.zeros(self.dim)
        dlayers = self.unpack(g)  # views: filling them fills g
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            dW, db = dlayers[k]
            dW[...] = acts[k].T @ delta + self.weight_decay * W
            db[...] = delta.sum(axis=0)
            if k:  # back through the activation below
                delta = (delta @ W.T) * dfun(acts[k])
        return loss + self._penalty(w), g

    def hvp(self, w, v, idx=None):
        """Hessian-vector product ∇²loss(w) v, exact, without forming the Hessian.

        Pearlmutter's R-operator (forward over backward): the forward and backward passes
        of ``loss_and_grad`` differentiated along v, R{·} = d/dt ·(w + t v) at t = 0. Costs
        a few gradients (two sweeps more). Softmax cross-entropy only (the default criterion).
        """
        X, _ = self._batch(idx)
        logits, acts, racts = self._r_forward(w, v, X)
        _, delta = self.criterion(logits, self._batch(idx)[1])
        rdelta = _softmax_ce_hvp(logits, racts[-1])  # R{∂loss/∂logits}
        rdfun = R_DERIVATIVES[self.activation]
        dfun = ACTIVATIONS[self.activation][1]
        layers, vlayers = self.unpack(w), self.unpack(v)
        h = np.zeros(self.dim)
        hlayers = self.unpack(h)
        for k in range(len(layers) - 1, -1, -1):
            (W, _), (VW, _), (hW, hb) = layers[k], vlayers[k], hlayers[k]
            hW[...] = racts[k].T @ delta + acts[k].T @ rdelta + self.weight_decay * VW
            hb[...] = rdelta.sum(axis=0)
            if k:  # R of delta ← (delta Wᵀ) ⊙ f′, a product of three factors
                back = delta @ W.T
                rdelta = (rdelta @ W.T + delta @ VW.T) * dfun(acts[k]) + back * rdfun(
                    acts[k], racts[k]
                )
                delta = back * dfun(acts[k])
        return h

    def jvp(self, w, v, idx=None):
        """J v: the change of the logits (N, C) of the examples idx along v (forward mode)."""
        X, _ = self._batch(idx)
        return self._r_forward(w, v, X)[2][-1]

    def vjp(self, w, u, idx=None):
        """Jᵀ u: the logits' cotangent u (N, C) pulled back to the parameters (backward mode)."""
        self._check_plain("Jacobian products")
        X, _ = self._batch(idx)
        _, acts = self.forward(w, X)
        dfun = ACTIVATIONS[self.activation][1]
        layers = self.unpack(w)
        g = np.zeros(self.dim)
        dlayers = self.unpack(g)
        delta = np.asarray(u, dtype=float)
        for k in range(len(layers) - 1, -1, -1):
            dW, db = dlayers[k]
            dW[...] = acts[k].T @ delta
            db[...] = delta.sum(axis=0)
            if k:
                delta = (delta @ layers[k][0].T) * dfun(acts[k])
        return g

    def gauss_newton_vp(self, w, v, idx=None):
        """Generalised Gauss–Newton product (Jᵀ H_ℓ J + ω I_W) v, positive semidefinite.

        J: Jacobian of the logits in w; H_ℓ: Hessian of the mean softmax cross-entropy in
        the logits; ω: the weight decay (its Hessian, on the weight matrices only).
        """
        X, _ = self._batch(idx)
        logits, _, racts = self._r_forward(w, v, X)
        g = self.vjp(w, _softmax_ce_hvp(logits, racts[-1]), idx)
        if self.weight_decay:
            for (gW, _), (VW, _) in zip(self.unpack(g), self.unpack(v)):
                gW += self.weight_decay * VW
        return g

    def _check_plain(self, what):
        """The R-operator sweeps know only the plain network: refuse what they would get wrong."""
        if self.criterion is not softmax_cross_entropy:
            raise ValueError(f"{what} need the default softmax cross-entropy")
        if self.batch_norm:
            raise ValueError(
                f"{what} do not cover batch_norm=True (the batch statistics depend on w); "
                "use finite differences of grad instead"
            )

    def _r_forward(self, w, v, X):
        """Logits, activations and their R{·} along v (the last entry: R{logits} = J v)."""
        self._check_plain("curvature products")
        f, dfun = ACTIVATIONS[self.activation]
        layers, vlayers = self.unpack(w), self.unpack(np.asarray(v, dtype=float))
        acts, racts = [X], [np.zeros_like(X)]
        for (W, b), (VW, Vb) in zip(layers[:-1], vlayers[:-1]):
            acts.append(f(acts[-1] @ W + b))
            racts.append((racts[-1] @ W + acts[-2] @ VW + Vb) * dfun(acts[-1]))
        (W, b), (VW, Vb) = layers[-1], vlayers[-1]
        logits = acts[-1] @ W + b
        return logits, acts, racts + [racts[-1] @ W + acts[-1] @ VW + Vb]

    def predict(self, w, X=None):
        """Predicted labels (argmax of the logits) for X (default: the network's own data)."""
        X = self.X if X is None else np.asarray(X, dtype=float)
        return self.logits(w, X).argmax(axis=1)

    def accuracy(self, w):
        """Fraction of this network's examples whose label is predicted correctly."""
        return accuracy(self.predict(w), self.y)

    # --- lesson 07: initialisation, per-layer gradient norms, batch normalisation --------

    def _init_normal(self, seed):
        """Normal weights with the std of ``self.init`` (see the class docstring), zero biases."""
        rng = np.random.default_rng(seed)
        w = np.zeros(self.dim)
        layers = self.unpack(w)
        for k, (W, _) in enumerate(layers):
            # a named scheme's gain makes up for the activation after the layer: the output
            # layer has none (torch practice: calculate_gain("linear") = 1)
            last = k == len(layers) - 1 and self.init in ("xavier", "he")
            activation = "linear" if last else self.activation
            W[...] = rng.normal(0.0, init_std(self.init, *W.shape, activation), size=W.shape)
        return w

    def layer_grad_norms(self, w, idx=None):
        """‖∂f/∂W_l‖ for each layer l = 1 … L (weight matrices only), on the examples idx."""
        return np.array([np.linalg.norm(dW) for dW, _ in self.unpack(self.grad(w, idx))])

    def _forward_bn(self, w, X):
        """forward with batch_norm: (logits, activations, each hidden layer's (out, inv_std))."""
        f = ACTIVATIONS[self.activation][0]
        layers = self.unpack(w)
        acts, norms = [X], []
        for W, b in layers[:-1]:
            out, inv_std = batch_norm_forward(acts[-1] @ W)
            norms.append((out, inv_std))
            acts.append(f(out + b))
        W, b = layers[-1]
        return acts[-1] @ W + b, acts, norms

    def _loss_and_grad_bn(self, w, idx):
        """loss_and_grad with batch_norm: back through each layer's normalisation too."""
        X, y = self._batch(idx)
        logits, acts, norms = self._forward_bn(w, X)
        loss, delta = self.criterion(logits, y)
        dfun = ACTIVATIONS[self.activation][1]
        layers = self.unpack(w)
        g = np.zeros(self.dim)
        dlayers = self.unpack(g)
        W, _ = layers[-1]
        dW, db = dlayers[-1]
        dW[...] = acts[-1].T @ delta + self.weight_decay * W
        db[...] = delta.sum(axis=0)
        for k in range(len(layers) - 2, -1, -1):
            delta = (delta @ layers[k + 1][0].T) * dfun(acts[k + 1])  # ∂L/∂(out + b)
            W, _ = layers[k]
            dW, db = dlayers[k]
            db[...] = delta.sum(axis=0)
            delta = batch_norm_backward(delta, *norms[k])  # ∂L/∂(x W)
            dW[...] = acts[k].T @ delta + self.weight_decay * W
        return loss + self._penalty(w), g


def accuracy(predicted, labels):
    """Fraction of predicted labels equal to the true ones."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape:
        raise ValueError(f"{predicted.shape} predictions for {labels.shape} labels")
    return float(np.mean(predicted == labels))


def numerical_gradient(f, w, coords=None, h=1e-6):
    """Central differences (f(w + h e_i) − f(w − h e_i)) / 2h for the coordinates ``coords``.

    coords: indices into the flattened w (default: all, and the result is shaped like w).
    Error O(h²) from truncation plus O(ε·|f|/h) from rounding: h = 1e-6 balances
    them for float64 losses of order one.
    """
    if coords is None:
        return numerical_gradient(f, w, np.arange(np.size(w)), h).reshape(np.shape(w))
    w = np.array(w, dtype=float)
    coords = np.asarray(coords)
    out = np.empty(coords.shape)
    flat = w.reshape(-1)
    for j, i in enumerate(coords.flat):
        old = flat[i]
        flat[i] = old + h
        up = f(w)
        flat[i] = old - h
        down = f(w)
        flat[i] = old
        out.flat[j] = (up - down) / (2 * h)
    return out


def relative_error(a, b):
    """‖a − b‖ / (‖a‖ + ‖b‖): ~1e-8 or less means two gradients agree.

    Norm-wise rather than per coordinate, so that coordinates whose gradient is
    exactly 0 (weights of a pixel that is blank in every image) and where finite
    differences return rounding noise do not dominate.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def split_train_validation(X, y, validation=0.2, seed=0, standardize=True):
    """A seeded random split into (X_train, y_train, X_val, y_val).

    validation: fraction of examples held out. standardize: scale every feature
    by the *training* mean and standard deviation (features constant on the
    training set are only centred), so no validation statistic leaks into training.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    n_val = int(round(validation * len(X)))
    val, train = order[:n_val], order[n_val:]
    X_train, X_val = X[train], X[val]
    if standardize:
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        X_train, X_val = (X_train - mean) / std, (X_val - mean) / std
    return X_train, y[train], X_val, y[val]


# --- lesson 07: initialisation, batch normalisation, clipping ------------------------------

# torch.nn.init.calculate_gain for the course's activations (and the output layer's identity)
GAINS = {"linear": 1.0, "tanh": 5.0 / 3.0, "relu": np.sqrt(2.0)}


def check_init(init):
    """init as MLP takes it: None, "xavier", "he" or a positive number (a gain c)."""
    if init is None or init in ("xavier", "he"):
        return init
    if isinstance(init, (int, float, np.floating)) and not isinstance(init, bool) and init > 0:
        return float(init)
    raise ValueError(f'init must be None, "xavier", "he" or a gain c > 0; got {init!r}')


def init_std(init, fan_in, fan_out, activation="linear"):
    """The standard deviation of a layer's normal weights under ``init`` (see MLP).

    "xavier": gain·√(2/(fan_in + fan_out)) as torch.nn.init.xavier_normal_(W, gain);
    "he": gain/√fan_in as torch.nn.init.kaiming_normal_(W, nonlinearity=activation);
    a number c: c/√fan_in. gain: torch's calculate_gain(activation).
    """
    if init == "xavier":
        return GAINS[activation] * np.sqrt(2.0 / (fan_in + fan_out))
    if init == "he":
        return GAINS[activation] / np.sqrt(fan_in)
    return check_init(init) / np.sqrt(fan_in)


BN_EPS = 1e-5  # torch.nn.BatchNorm1d's default ε


def batch_norm_forward(z, eps=BN_EPS):
    """Normalise each column of a batch z (N, d) to mean 0 and variance 1 over the batch.

    As torch.nn.BatchNorm1d(d, affine=False) in training mode: the variance is the biased
    one (÷N). Returns (out, inv_std): out = (z − mean) · inv_std, inv_std = 1/√(var + ε).
    """
    inv_std = 1.0 / np.sqrt(z.var(axis=0) + eps)
    return (z - z.mean(axis=0)) * inv_std, inv_std


def batch_norm_backward(dout, out, inv_std):
    """∂L/∂z from dout = ∂L/∂out, for out, inv_std = batch_norm_forward(z).

    Every out_i depends on all z_j through the batch's mean and variance, hence the two
    batch means: dz = inv_std · (dout − mean(dout) − out · mean(dout ⊙ out)).
    """
    return inv_std * (dout - dout.mean(axis=0) - out * (dout * out).mean(axis=0))


def clip_grad_norm(grads, max_norm):
    """Clip a list of gradient arrays by their global norm, as torch.nn.utils.clip_grad_norm_.

    total = √(Σ‖g‖²) over all arrays; each g is multiplied by min(1, max_norm/(total + 1e-6)).
    Returns (the clipped arrays, a new list; total).
    """
    total = float(np.sqrt(sum(np.sum(np.square(g)) for g in grads)))
    factor = min(1.0, max_norm / (total + 1e-6))
    return [np.asarray(g) * factor for g in grads], total


def sgd_clipped(x, grad, state, lr=0.1, max_norm=1.0):
    """SGD on the gradient clipped by its global norm: x − η·g·min(1, max_norm/(‖g‖ + 1e-6)).

    As torch's clip_grad_norm_ followed by SGD (the flat vector g holds every array, so ‖g‖ is
    the global norm); for a stack of runs (rows of x, as train_lockstep passes), each row is
    clipped by its own norm.
    """
    g = grad(x)
    norm = np.linalg.norm(g, axis=-1, keepdims=True)
    return x - lr * g * np.minimum(1.0, max_norm / (norm + 1e-6))


# --- training K copies of a network in lockstep ---------------------------------------------
#
# A learning-rate sweep trains the same small network many times; one at a time, Python's
# overhead per update dominates. Stacking the K runs' parameter vectors as the rows of a
# (K, dim) array turns every matrix product into one batched np.matmul, and every step
# function of course_lib.optimizers works unchanged on the stack, because it is elementwise
# (per-run hyperparameters are (K, 1) columns, broadcast along the rows).


def _stacked_layers(net, w):
    """[(W (K, d_in, d_out), b (K, d_out)), …]: views into the rows of a (K, dim) array."""
    return [
        (w[:, o : o + a * b].reshape(-1, a, b), w[:, o + a * b : o + a * b + b])
        for o, a, b in net.shapes
    ]


def _stacked_forward(net, w, X, norms=None):
    """Logits (K, N, C) of K parameter vectors on X (N, d) or (K, N, d), and the activations.

    With batch_norm each run normalises over its own N examples; norms (a list) then receives
    each hidden layer's (out, inv_std), for the backward pass."""
    f = ACTIVATIONS[net.activation][0]
    layers = _stacked_layers(net, w)
    acts = [X]
    for W, b in layers[:-1]:
        z = np.matmul(acts[-1], W)
        if net.batch_norm:
            z, inv_std = _stacked_batch_norm(z)
            if norms is not None:
                norms.append((z, inv_std))
        acts.append(f(z + b[:, None, :]))
    W, b = layers[-1]
    return np.matmul(acts[-1], W) + b[:, None, :], acts


def _stacked_batch_norm(z):
    """batch_norm_forward for each run of a stack z (K, N, d): over its N examples."""
    inv_std = 1.0 / np.sqrt(z.var(axis=-2, keepdims=True) + BN_EPS)
    return (z - z.mean(axis=-2, keepdims=True)) * inv_std, inv_std


def _stacked_batch_norm_backward(dout, out, inv_std):
    """batch_norm_backward for each run of a stack (K, N, d)."""
    means = dout.mean(axis=-2, keepdims=True), (dout * out).mean(axis=-2, keepdims=True)
    return inv_std * (dout - means[0] - out * means[1])


def _stacked_cross_entropy(logits, y):
    """Per-run mean cross-entropy (K,) and its gradient, as softmax_cross_entropy row-wise."""
    log_p = log_softmax(logits)
    picked = np.take_along_axis(log_p, np.broadcast_to(y, log_p.shape[:-1])[..., None], -1)
    loss = -picked[..., 0].mean(axis=-1)
    dlogits = np.exp(log_p)
    runs, rows = np.arange(len(log_p))[:, None], np.arange(log_p.shape[1])
    dlogits[runs, rows, y] -= 1
    return loss, dlogits / log_p.shape[1]


def _stacked_data_term(net, logits, y, loss=True):
    """(loss (K,) or None, dlogits) of net.criterion for each run's logits (K, N, C)."""
    if net.criterion is softmax_cross_entropy:
        return _stacked_cross_entropy(logits, y)
    K, N, C = logits.shape
    y = np.broadcast_to(y, (K, N))
    if loss:  # the recorded loss: one call per run, exactly as net.loss
        return np.array([net.criterion(z, yk)[0] for z, yk in zip(logits, y)]), None
    # Another criterion (lesson 06: the student's) is a mean over rows: one call on the K·N
    # rows gives every run's gradient, K times too small (equal to rounding once scaled).
    d = net.criterion(logits.reshape(-1, C), y.reshape(-1))[1]
    return None, d.reshape(K, N, C) * K


def _stacked_penalty(net, w):
    """½ωΣ‖W_l‖² for each of the K rows of w (0 without weight decay)."""
    if not net.weight_decay:
        return 0.0
    squares = sum(np.sum(W * W, axis=(1, 2)) for W, _ in _stacked_layers(net, w))
    return 0.5 * net.weight_decay * squares


def stacked_grad(net, w, idx):
    """Gradients (K, dim) of ``net.loss`` for the K rows of w, each on its own mini-batch.

    idx: the examples of one mini-batch shared by every run, shape (B,), or one per run,
    shape (K, B). Row k equals ``net.grad(w[k], idx[k])`` (to rounding for a criterion
    other than softmax_cross_entropy, exactly for it).
    """
    X, y = net.X[idx], net.y[idx]
    norms = []
    logits, acts = _stacked_forward(net, w, X, norms)
    delta = _stacked_data_term(net, logits, y, loss=False)[1]
    dfun = ACTIVATIONS[net.activation][1]
    layers = _stacked_layers(net, w)
    g = np.zeros_like(w)
    dlayers = _stacked_layers(net, g)  # views: filling them fills g
    for k in range(len(layers) - 1, -1, -1):
        W, _ = layers[k]
        dW, db = dlayers[k]
        db[...] = delta.sum(axis=-2)  # with batch norm: ∂/∂(out + b) of the layer
        if norms and k < len(norms):  # back through the normalisation: ∂/∂(a W)
            delta = _stacked_batch_norm_backward(delta, *norms[k])
        dW[...] = np.matmul(np.swapaxes(acts[k], -1, -2), delta)
        if net.weight_decay:  # (adding 0 · W would change nothing but cost two passes)
            dW += net.weight_decay * W
        if k:
            delta = np.matmul(delta, np.swapaxes(W, -1, -2)) * dfun(acts[k])
    return g


def _stacked_logits(net, w):
    """Logits (K, n, C) on all of net's examples, in blocks of BLOCK as ``net.logits`` (with
    batch_norm in one block: the statistics are those of all the examples)."""
    size = net.n if net.batch_norm else net.BLOCK
    blocks = [_stacked_forward(net, w, net.X[s : s + size])[0] for s in range(0, net.n, size)]
    return np.concatenate(blocks, axis=1)


def stacked_loss(net, w):
    """``net.loss`` over all of net's examples for the K rows of w: an array (K,)."""
    return _stacked_data_term(net, _stacked_logits(net, w), net.y)[0] + _stacked_penalty(net, w)


def stacked_accuracy(net, w):
    """``net.accuracy`` for the K rows of w: an array (K,)."""
    return np.mean(_stacked_logits(net, w).argmax(axis=-1) == net.y, axis=-1)


def _per_run(value, K):
    """A per-run argument as a length-K array (one number is repeated K times)."""
    values = np.asarray(value, dtype=float)
    return np.full(K, float(values)) if values.ndim == 0 else values


def _run_count(x0, seed, schedule, hyperparameters):
    """K, the common length of the per-run arguments (1 when all are shared)."""
    lengths = {"x0": len(x0)} if np.ndim(x0) == 2 else {}
    if schedule is not None and np.ndim(schedule(0)) == 1:
        lengths["schedule(t)"] = np.size(schedule(0))
    for name, value in {"seed": seed, **hyperparameters}.items():
        if np.ndim(value) == 1:
            lengths[name] = np.size(value)
    if len(set(lengths.values())) > 1:
        raise InputError(
            "the per-run arguments must have one length, the number of runs; got "
            + ", ".join(f"{k}: {v}" for k, v in lengths.items())
        )
    return max(lengths.values(), default=1)


def train_lockstep(
    step,
    net,
    x0=None,
    epochs=5,
    batch_size=32,
    seed=0,
    schedule=None,
    record_every=None,
    every_epoch=True,
    metrics=None,
    label=None,
    keep_iterates=None,
    **hyperparameters,
):
    """Train K copies of ``net`` in lockstep: a list of K Runs, as K calls of train_minibatch.

    Run k is ``train_minibatch(step, net, x0=x0[k], seed=seed[k], lr=lr[k], …)`` computed
    with the K parameter vectors stacked as the rows of one (K, dim) array: each matrix
    product is one batched np.matmul and the step function updates the whole stack at once
    (every rule of course_lib.optimizers is elementwise; its state is shared, its t too;
    lesson 08's matrix-aware rules take each row's matrices apart through param_shapes).
    Equal to one run at a time to ~1e-12 (tests/test_mlp.py), and many times faster. The
    data term is net.criterion: the course's own stacked, another one called once on all
    K mini-batches' rows (it must be a mean over rows, as the MLP requires).

    Per run (one value each, or one shared by all): ``seed`` (the mini-batch order), ``x0``
    ((K, dim), or one vector; default net.x0), every hyperparameter (lr=[…] becomes a (K, 1)
    column), and ``schedule(t)`` → one rate or K rates for update t. K is their common length.
    metrics: name → fn(w) of one vector, recorded per run; a network's own ``.loss`` or
    ``.accuracy`` (e.g. ``net.on(X_val, y_val).accuracy``) is evaluated for all runs at once.
    Records are taken at the start, every ``record_every`` updates and at the end of every
    epoch (every_epoch=False: of the last one only); a run's ``times`` is its share (1/K) of
    the seconds spent in updates. A run that diverges stops recording and keeps its last
    parameters while the others go on; one DivergenceWarning names them all.
    """
    epochs = whole_number("epochs", epochs, 0)
    n = net.n
    batch_size = n if batch_size is None else whole_number("batch_size", batch_size, 1)
    check_hyperparameters(step, hyperparameters)
    x0 = net.x0 if x0 is None else np.asarray(x0, dtype=float)
    K = _run_count(x0, seed, schedule, hyperparameters)
    x = np.array(np.broadcast_to(x0, (K, net.dim)), dtype=float)
    seeds = [int(s) for s in np.broadcast_to(seed, K)]
    columns = {k: _per_run(v, K) for k, v in hyperparameters.items() if np.ndim(v) == 1}
    kwargs = {k: columns[k][:, None] if k in columns else v for k, v in hyperparameters.items()}
    kwargs = {**step_extras(step, net), **kwargs}  # e.g. param_shapes, for lesson 08's rules
    labels = [label or name_of(step)] * K if label is None or isinstance(label, str) else label
    keep = net.dim <= 1000 if keep_iterates is None else keep_iterates
    metrics = metrics or {}
    rngs = [np.random.default_rng(s) for s in seeds]
    shared = len(set(seeds)) == 1  # one batch order for all: one gather per mini-batch

    def measure(fn):
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, MLP) and not owner.batch_norm and fn.__name__ in ("loss", "accuracy"):
            return (stacked_loss if fn.__name__ == "loss" else stacked_accuracy)(owner, x)
        return np.array([fn(w) for w in x])

    rec = {"losses": [], "steps": [], "epochs": [], "grad_evals": [], "times": [], "xs": []}
    rec_metrics = {name: [] for name in metrics}
    alive, kept = np.ones(K, dtype=bool), np.zeros(K, dtype=int)
    diverged_at, reasons = [None] * K, [""] * K
    state, t, evals, busy = {}, 0, 0, 0.0
    start_norm = np.linalg.norm(x, axis=1)  # a row whose norm passes EXPLODE × this exploded

    def stop(k, reason):
        alive[k], diverged_at[k], reasons[k] = False, t, reason

    def record(epoch):
        with np.errstate(all="ignore"):
            loss = stacked_loss(net, x)
            for name, fn in metrics.items():
                rec_metrics[name].append(measure(fn))
        for key, value in zip(
            ("losses", "steps", "epochs", "grad_evals", "times"), (loss, t, epoch, evals, busy / K)
        ):
            rec[key].append(value)
        if keep:
            rec["xs"].append(x.copy())
        kept[alive] = len(rec["losses"])
        return loss

    loss0 = record(0.0)
    batches = range(0, n, batch_size)
    for epoch in range(epochs):
        orders = [rng.permutation(n) for rng in (rngs[:1] if shared else rngs)]
        for b, start in enumerate(batches):
            idx = np.array([order[start : start + batch_size] for order in orders])
            idx = idx[0] if shared else idx
            if schedule is not None:
                rate = np.asarray(schedule(t), dtype=float)
                kwargs["lr"] = rate[:, None] if rate.ndim == 1 else float(rate)
            grad = lambda w, idx=idx: stacked_grad(net, w, idx)
            started = time.perf_counter()
            x_new = call_step(step, x, grad, state, t + 1, kwargs)
            busy += time.perf_counter() - started
            t, evals = t + 1, evals + idx.shape[-1]
            # one pass over the stack: an inf or NaN in a row fails the test through its sum
            with np.errstate(all="ignore"):
                squares = np.einsum("ij,ij->i", x_new, x_new)
            for k in np.flatnonzero(alive & ~(squares <= (EXPLODE * (start_norm + 1)) ** 2)):
                finite = np.isfinite(x_new[k]).all()
                stop(k, "the iterate exploded" if finite else "the iterate is no longer finite")
            x = x_new if alive.all() else np.where(alive[:, None], x_new, x)
            last = b == len(batches) - 1 and (every_epoch or epoch == epochs - 1)
            if (record_every and t % record_every == 0) or last:
                loss = record(epoch + (b + 1) / len(batches))
                for k in np.flatnonzero(alive & ~np.isfinite(loss)):
                    stop(k, "the loss is no longer finite")
                with np.errstate(invalid="ignore"):
                    blown = np.abs(loss) > EXPLODE * (np.abs(loss0) + 1)
                for k in np.flatnonzero(alive & blown):
                    stop(k, f"the loss exploded from {loss0[k]:.3g} to {loss[k]:.3g}")
    if not alive.all():
        gone = [f"{labels[k]} (run {k}, step {diverged_at[k]})" for k in np.flatnonzero(~alive)]
        warnings.warn(
            f"{len(gone)} of {K} runs diverged: {', '.join(gone)}. Each stopped recording "
            "there and returns its records before it; try a smaller learning rate.",
            DivergenceWarning,
            stacklevel=_user_stacklevel(),
        )
    per_run = lambda values, k: np.array([v[k] for v in values[: kept[k]]])
    same = lambda values, k: np.array(values[: kept[k]])
    return [
        Run(
            labels[k],
            per_run(rec["xs"], k) if keep else None,
            per_run(rec["losses"], k),
            f_star=net.f_star,
            diverged_at=diverged_at[k],
            reason=reasons[k],
            hyperparameters={
                name: float(columns[name][k]) if name in columns else value
                for name, value in hyperparameters.items()
            },
            steps=same(rec["steps"], k),
            epochs=same(rec["epochs"], k),
            grad_evals=same(rec["grad_evals"], k),
            times=same(rec["times"], k),
            metrics={name: per_run(values, k) for name, values in rec_metrics.items()},
        )
        for k in range(K)
    ]


def tune_lockstep(step, net, lrs, seeds=(0, 1, 2), label=None, score=None, shape=None, **kwargs):
    """``runners.tune`` for a network, every (η, seed) of the grid trained at once.

    Seed s seeds both the initialisation (``net.init_params(s)``) and the mini-batch order.
    shape(t) → the factor of update t (a schedule with lr = 1, e.g. a warm-up) multiplies each
    run's η: the grid then tunes the schedule's peak. kwargs go to ``train_lockstep``
    (epochs, batch_size, metrics, other hyperparameters). Returns a ``runners.Tuned``.
    """
    lrs, seeds = np.asarray(lrs, dtype=float), tuple(int(s) for s in seeds)
    per_lr, per_seed = np.repeat(lrs, len(seeds)), np.tile(seeds, len(lrs))
    schedule = None if shape is None else lambda t: per_lr * shape(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)  # a too-large η is what a grid is for
        runs = train_lockstep(
            step,
            net,
            x0=np.array([net.init_params(s) for s in seeds])[
                np.tile(np.arange(len(seeds)), len(lrs))
            ],
            seed=per_seed,
            schedule=schedule,
            label=label or name_of(step),
            lr=per_lr,
            **kwargs,
        )
    table = {(lr, s): r for lr, s, r in zip(per_lr, per_seed, runs)}
    return tune(lambda lr, s: table[lr, s], lrs, seeds, label=label or name_of(step), score=score)
