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
½·λ·Σ‖W‖² on the weight matrices (not the biases).

Lesson 07 makes it deep: ``init`` ("xavier", "he", or a weight scale s, std s/√fan_in),
``layer_grad_norms`` (‖∂L/∂W_l‖ per layer), ``batch_norm=True`` (each hidden layer
normalised over the batch before its activation: ``batch_norm_forward`` and
``batch_norm_backward``) and ``clip_grad_norm`` (torch's clipping by global norm).
"""

import numpy as np


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
    weight_decay λ: L2 penalty ½λΣ‖W‖² on weight matrices (default 0).
    seed: initialisation of ``x0`` — Glorot-uniform weights for tanh, He-normal for
    ReLU, zero biases. criterion(logits, y) → (loss, dloss/dlogits): the data term,
    softmax_cross_entropy by default (lesson 06 plugs in the student's own).
    init (lesson 07): None (the above), "xavier" (normal, std gain·√(2/(fan_in + fan_out))),
    "he" (normal, std gain/√fan_in), gain as torch.nn.init.calculate_gain(activation), or a
    number s (normal, std s/√fan_in); the same rule for every layer. batch_norm: normalise
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

    def on(self, X, y):
        """The same network (architecture, λ) on other data, e.g. the validation set."""
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
        """Mean cross-entropy over the examples idx (None: all) + ½λΣ‖W‖²."""
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
        """Generalised Gauss–Newton product (Jᵀ H_L J + λ I_W) v, positive semidefinite.

        J: Jacobian of the logits in w; H_L: Hessian of the mean softmax cross-entropy in
        the logits; λ: the weight decay (its Hessian, on the weight matrices only).
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
        for W, _ in self.unpack(w):
            W[...] = rng.normal(0.0, init_std(self.init, *W.shape, self.activation), size=W.shape)
        return w

    def layer_grad_norms(self, w, idx=None):
        """‖∂L/∂W_l‖ for each layer l = 1 … L (weight matrices only), on the examples idx."""
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
    """init as MLP takes it: None, "xavier", "he" or a positive number (a weight scale)."""
    if init is None or init in ("xavier", "he"):
        return init
    if isinstance(init, (int, float, np.floating)) and not isinstance(init, bool) and init > 0:
        return float(init)
    raise ValueError(f'init must be None, "xavier", "he" or a weight scale > 0; got {init!r}')


def init_std(init, fan_in, fan_out, activation="linear"):
    """The standard deviation of a layer's normal weights under ``init`` (see MLP).

    "xavier": gain·√(2/(fan_in + fan_out)) as torch.nn.init.xavier_normal_(W, gain);
    "he": gain/√fan_in as torch.nn.init.kaiming_normal_(W, nonlinearity=activation);
    a number s: s/√fan_in. gain: torch's calculate_gain(activation).
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
