"""The numpy MLP of lesson 06: gradients against finite differences (and torch autograd when
installed), the flat parameter vector, the finite-sum interface train_minibatch uses, every
course optimiser training it unchanged, the data split, and the checks of Exercises 6.1
(softmax cross-entropy) and 6.2 (backward through a tanh layer) accepting right versions and
rejecting the usual mistakes."""

import warnings

import numpy as np
import pytest
from lessons import Call, Exercise, answer_tests, exercise_tests

from course_lib import DivergenceWarning, data, optimizers, schedules, train_minibatch, tune
from course_lib.checks import (
    evaluate_backprop_chain,
    evaluate_dense_tanh_backward,
    evaluate_softmax_cross_entropy,
)
from course_lib.contract import InputError
from course_lib.mlp import (
    MLP,
    accuracy,
    numerical_gradient,
    relative_error,
    softmax,
    softmax_cross_entropy,
    split_train_validation,
    train_lockstep,
    tune_lockstep,
)


def toy(sizes=(5, 4, 3), n=30, seed=0, **kw):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    return MLP(X, y, sizes, seed=seed, **kw)


@pytest.fixture(scope="module")
def digits():
    X, y = data.load_digits()
    return split_train_validation(X, y, validation=0.2, seed=0)


# --- gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("sizes", [(5, 3), (5, 4, 3), (5, 6, 4, 3)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_gradient_matches_finite_differences(activation, sizes, weight_decay):
    net = toy(sizes, activation=activation, weight_decay=weight_decay)
    w = net.x0 + 0.05 * np.random.default_rng(1).normal(size=net.dim)  # biases non-zero too
    for idx in (None, np.array([3, 7, 7, 21])):  # full batch and a mini-batch (with a repeat)
        g = net.grad(w, idx)
        g_num = numerical_gradient(lambda v: net.loss(v, idx), w)
        assert g.shape == w.shape
        assert relative_error(g, g_num) < 1e-7, relative_error(g, g_num)
        np.testing.assert_allclose(g, g_num, rtol=1e-5, atol=1e-8)


def test_gradient_on_digits_matches_finite_differences(digits):
    X_train, y_train, _, _ = digits
    net = MLP(X_train, y_train, (64, 32, 10), "tanh", weight_decay=1e-3, seed=0)
    idx = np.arange(0, 200, 7)
    coords = np.random.default_rng(0).choice(net.dim, size=60, replace=False)
    g = net.grad(net.x0, idx)[coords]
    g_num = numerical_gradient(lambda v: net.loss(v, idx), net.x0, coords)
    np.testing.assert_allclose(g, g_num, rtol=1e-5, atol=1e-9)
    assert relative_error(g, g_num) < 1e-7
    assert relative_error(g, 1.01 * g_num) > 1e-3 and relative_error(g, g) == 0


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_loss_and_gradient_agree_with_torch_autograd(activation):
    torch = pytest.importorskip("torch", reason="the autograd comparison needs torch")
    net = toy((6, 5, 4, 3), n=25, activation=activation, weight_decay=0.03)
    w = net.x0 + 0.1 * np.random.default_rng(2).normal(size=net.dim)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(net.X)
    act = torch.tanh if activation == "tanh" else torch.relu
    penalty = 0
    for k, (o, a, b) in enumerate(net.shapes):
        W, bias = wt[o : o + a * b].reshape(a, b), wt[o + a * b : o + a * b + b]
        h = h @ W + bias
        if k < len(net.shapes) - 1:
            h = act(h)
        penalty = penalty + 0.5 * net.weight_decay * (W * W).sum()
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(net.y)) + penalty
    loss.backward()
    assert net.loss(w) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(net.grad(w), wt.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_softmax_cross_entropy_is_stable_and_matches_definition():
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    loss, dz = softmax_cross_entropy(z, y)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(6), y])), rel=1e-12)
    np.testing.assert_allclose(softmax(z), p, rtol=1e-12)
    np.testing.assert_allclose(dz.sum(axis=1), 0, atol=1e-15)  # rows of p − onehot sum to 0
    loss_big, dz_big = softmax_cross_entropy(z + 1000, y)  # no overflow, shift-invariant
    assert loss_big == pytest.approx(loss, rel=1e-10)
    np.testing.assert_allclose(dz_big, dz, atol=1e-12)


# --- the objective interface and the flat vector --------------------------------------------


def test_parameters_are_one_flat_vector_with_views():
    net = toy((5, 4, 3))
    assert net.dim == 5 * 4 + 4 + 4 * 3 + 3 and net.x0.shape == (net.dim,)
    w = np.zeros(net.dim)
    (W1, b1), (W2, b2) = net.unpack(w)
    assert W1.shape == (5, 4) and b1.shape == (4,) and W2.shape == (4, 3) and b2.shape == (3,)
    W2[1, 2] = 7.0  # views: writes reach w
    assert w[5 * 4 + 4 + 1 * 3 + 2] == 7.0
    with pytest.raises(ValueError, match="flat parameter vector"):
        net.unpack(np.zeros((net.dim, 1)))


def test_initialisation_is_seeded_with_zero_biases():
    a, b, c = toy(seed=0), toy(seed=0), toy(seed=1)
    np.testing.assert_array_equal(a.x0, b.x0)
    assert not np.allclose(a.init_params(0), a.init_params(1))
    assert all(np.all(bias == 0) for _, bias in a.unpack(a.x0))
    del c


def test_minibatch_losses_average_to_the_full_loss():
    net = toy(n=40, weight_decay=0.2)
    w = net.x0 + 0.1
    batches = np.array_split(np.random.default_rng(0).permutation(40), 4)
    assert np.mean([net.loss(w, i) for i in batches]) == pytest.approx(net.loss(w), rel=1e-12)
    np.testing.assert_allclose(
        np.mean([net.grad(w, i) for i in batches], axis=0), net.grad(w), rtol=1e-10, atol=1e-14
    )
    loss, g = net.loss_and_grad(w, batches[0])
    assert loss == net.loss(w, batches[0]) and np.array_equal(g, net.grad(w, batches[0]))


def test_blockwise_evaluation_equals_one_forward_pass():
    net = toy(n=2 * MLP.BLOCK + 37)
    w = net.x0 + 0.1
    np.testing.assert_allclose(net.logits(w, net.X), net.forward(w, net.X)[0], rtol=1e-13)
    assert net.loss(w) == pytest.approx(
        softmax_cross_entropy(net.forward(w, net.X)[0], net.y)[0], rel=1e-13
    )


def test_accuracy_and_predictions():
    net = toy(n=50)
    pred = net.predict(net.x0)
    assert pred.shape == (50,) and net.accuracy(net.x0) == np.mean(pred == net.y)
    assert accuracy([1, 2, 3, 4], [1, 0, 3, 0]) == 0.5
    with pytest.raises(ValueError, match="predictions"):
        accuracy([1, 2], [1, 2, 3])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda X, y: MLP(X[:, :4], y, (5, 3)), "shape"),
        (lambda X, y: MLP(X, y.astype(float), (5, 3)), "integer labels"),
        (lambda X, y: MLP(X, y, (5, 2)), "0 … 1"),
        (lambda X, y: MLP(X, y, (5, 3), activation="sigmoid"), "activation"),
    ],
)
def test_bad_inputs_raise_clear_errors(make, message):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 5)), np.arange(10) % 3
    with pytest.raises(ValueError, match=message):
        make(X, y)


def test_split_is_seeded_disjoint_and_standardised_on_train(digits):
    X, y = data.load_digits()
    X_train, y_train, X_val, _ = digits
    assert len(X_train) + len(X_val) == len(X) and len(X_val) == round(0.2 * len(X))
    again = split_train_validation(X, y, validation=0.2, seed=0)
    np.testing.assert_array_equal(again[0], X_train)
    other = split_train_validation(X, y, validation=0.2, seed=1)
    assert not np.array_equal(other[1], y_train)
    assert np.allclose(X_train.mean(0), 0, atol=1e-12)
    std = X_train.std(0)
    assert np.allclose(std[std > 0], 1)
    assert np.all(np.isfinite(X_val))  # constant pixels only centred
    raw = split_train_validation(X, y, validation=0.2, seed=0, standardize=False)
    assert sorted(map(tuple, np.vstack([raw[0], raw[2]]))) == sorted(map(tuple, X))


# --- every optimiser of the course trains it, unchanged --------------------------------------

LRS = {
    "gd": 0.1,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.05,
    "rmsprop": 3e-3,
    "adadelta": 1.0,
    "adam": 1e-2,
    "amsgrad": 1e-2,
    "adamax": 1e-2,
    "nadam": 1e-2,
    "adabelief": 1e-2,
    "adamw": 1e-2,
}


@pytest.mark.parametrize("name", sorted(optimizers.STEPS))
def test_every_course_optimiser_trains_the_network(name, digits):
    X_train, y_train, X_val, y_val = digits
    net = MLP(X_train[:300], y_train[:300], (64, 16, 10), "tanh", seed=0)
    val = net.on(X_val, y_val)
    run = train_minibatch(
        optimizers.STEPS[name],
        net,
        epochs=3,
        batch_size=32,
        seed=0,
        metrics={"val_acc": val.accuracy},
        lr=LRS[name],
    )
    assert run.diverged_at is None and len(run.losses) == 4
    assert run.losses[-1] < 0.7 * run.losses[0]
    assert run.metrics["val_acc"][-1] > 0.5 > run.metrics["val_acc"][0]
    assert np.all(np.diff(run.times) >= 0)


def test_a_custom_criterion_is_used_for_loss_and_gradient():
    net = toy(n=20)
    net2 = MLP(
        net.X,
        net.y,
        net.sizes,
        criterion=lambda z, y: (2 * sce_right(z, y)[0], 2 * sce_right(z, y)[1]),
    )
    assert net2.loss(net.x0) == pytest.approx(2 * net.loss(net.x0), rel=1e-12)
    np.testing.assert_allclose(net2.grad(net.x0), 2 * net.grad(net.x0), rtol=1e-12)
    assert net2.on(net.X[:5], net.y[:5]).criterion is net2.criterion


def test_training_is_reproducible():
    net = toy(n=60)
    kw = dict(epochs=2, batch_size=8, seed=3, lr=0.01)
    a, b = (train_minibatch(optimizers.adam, net, **kw) for _ in range(2))
    np.testing.assert_array_equal(a.losses, b.losses)


# --- Exercise 6.1: softmax cross-entropy ------------------------------------------------------


def sce_right(logits, y):  # a student's version: log-sum-exp written out
    n = len(y)
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.sum(np.exp(logits - m), axis=1))
    loss = np.mean(lse - logits[np.arange(n), y])
    p = np.exp(logits - lse[:, None])
    onehot = np.zeros_like(logits)
    onehot[np.arange(n), y] = 1
    return loss, (p - onehot) / n


def _naive(logits, y):
    n = len(y)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    onehot = np.eye(logits.shape[1])[y]
    return -np.mean(np.log(p[np.arange(n), y])), (p - onehot) / n


def _softmax_over_batch(logits, y):
    e = np.exp(logits - logits.max(axis=0))
    p = e / e.sum(axis=0)  # normalised down each column
    return -np.mean(np.log(p[np.arange(len(y)), y])), sce_right(logits, y)[1]


def _modify(fn):
    return lambda logits, y: fn(*sce_right(logits, y), logits, y)


SCE_WRONG = {
    "no max shift": (_naive, "subtract each row's maximum"),
    "sum, not mean": (_modify(lambda loss, g, z, y: (loss * len(y), g * len(y))), "the sum"),
    "gradient not divided by N": (_modify(lambda loss, g, z, y: (loss, g * len(y))), "divide by N"),
    "gradient sign": (_modify(lambda loss, g, z, y: (loss, -g)), "wrong sign"),
    "gradient is softmax only": (
        _modify(lambda loss, g, z, y: (loss, softmax(z) / len(y))),
        "onehot",
    ),
    "softmax over the batch axis": (lambda z, y: _softmax_over_batch(z, y), "axis=1"),
    "returns only the loss": (lambda z, y: sce_right(z, y)[0], "pair"),
    "dlogits transposed": (_modify(lambda loss, g, z, y: (loss, g.T)), "shape"),
}


SCE_WRONG["a list, not a tuple"] = (
    lambda z, y: list(softmax_cross_entropy(z, y)),
    "return them as a tuple: `return loss, dlogits`",
)


# --- Exercise 6.2: backward through one tanh layer ----------------------------------------


def dense_right(da, x, W, a):
    delta = da * (1 - a * a)
    return x.T @ delta, delta.sum(axis=0), delta @ W.T


def _delta(da, a):
    return da * (1 - a * a)


DENSE_WRONG = {
    "no tanh derivative": (lambda da, x, W, a: (x.T @ da, da.sum(0), da @ W.T), "tanh derivative"),
    "1 − tanh(a)²": (
        lambda da, x, W, a: dense_right(da * (1 - np.tanh(a) ** 2) / (1 - a * a), x, W, a),
        "not 1 − tanh(a)²",
    ),
    "db averaged": (
        lambda da, x, W, a: (x.T @ _delta(da, a), _delta(da, a).mean(0), _delta(da, a) @ W.T),
        "do not average",
    ),
    "dW transposed": (
        lambda da, x, W, a: (_delta(da, a).T @ x, _delta(da, a).sum(0), _delta(da, a) @ W.T),
        "must have shape",
    ),
    "db not summed": (
        lambda da, x, W, a: (x.T @ _delta(da, a), _delta(da, a), _delta(da, a) @ W.T),
        "must have shape",
    ),
    "dx off by a factor": (
        lambda da, x, W, a: (
            x.T @ _delta(da, a),
            _delta(da, a).sum(0),
            _delta(da, a) @ W.T * 1.5,
        ),
        "dx = δ Wᵀ",
    ),
    "sign": (lambda da, x, W, a: tuple(-g for g in dense_right(da, x, W, a)), "wrong sign"),
    "returns a list": (lambda da, x, W, a: list(dense_right(da, x, W, a)), "triple"),
}


test_right_versions_pass, test_mistakes_fail_with_their_hint, test_unfinished_says_so = (
    exercise_tests(
        {
            # Exercise 6.1
            "softmax_cross_entropy": Exercise(
                evaluate_softmax_cross_entropy,
                right=[sce_right, softmax_cross_entropy],
                wrong=SCE_WRONG,
            ),
            # Exercise 6.2
            "dense_tanh_backward": Exercise(
                evaluate_dense_tanh_backward, right=[dense_right], wrong=DENSE_WRONG
            ),
        }
    )
)


def test_network_gradient_is_the_layer_backward_chain():
    net = toy((5, 4, 3), n=12)
    w = net.x0 + 0.1
    (W1, b1), (W2, b2) = net.unpack(w)
    a1 = np.tanh(net.X @ W1 + b1)
    _, delta2 = softmax_cross_entropy(a1 @ W2 + b2, net.y)
    dW1, db1, _ = dense_right(delta2 @ W2.T, net.X, W1, a1)
    (gW1, gb1), (gW2, _) = net.unpack(net.grad(w))
    np.testing.assert_allclose(dW1, gW1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db1, gb1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a1.T @ delta2, gW2, rtol=1e-12, atol=1e-15)


# --- the lesson's chained check (section 2) ---------------------------------------------------


def _chain(broken=lambda dW1, db1: (dW1, db1)):
    """The arguments of Exercise 6.2's chained check: dW1, db1 from the two exercise functions
    on a toy network's first 8 examples (``broken`` changes them), the network, the batch."""

    def make():
        net = toy((5, 4, 3), n=12)
        idx = np.arange(8)
        (W1, b1), (W2, b2) = net.unpack(net.x0)
        a1 = np.tanh(net.X[idx] @ W1 + b1)
        _, delta2 = softmax_cross_entropy(a1 @ W2 + b2, net.y[idx])
        dW1, db1, _ = dense_right(delta2 @ W2.T, net.X[idx], W1, a1)
        return (*broken(dW1, db1), net, idx)

    return Call(make)


test_backprop_chain_passes_the_chain, test_backprop_chain_names_a_broken_part = answer_tests(
    evaluate_backprop_chain,
    "backprop_chain",
    [_chain()],
    {
        "db1 off by a factor": (
            _chain(lambda dW1, db1: (dW1, 1.5 * db1)),
            "hint: δ_2 from softmax_cross_entropy, back through W_2",
            "db1 differs",
        ),
        "dW1 transposed": (_chain(lambda dW1, db1: (dW1.T, db1)), "shape"),
    },
    right_says="your two functions, chained, give net.grad",
)


# --- K networks in lockstep -----------------------------------------------------------------


def _one_at_a_time(step, net, x0s, seeds, lrs, **kw):
    return [
        train_minibatch(step, net, x0=x0, seed=s, lr=lr, keep_iterates=True, **kw)
        for x0, s, lr in zip(x0s, seeds, lrs)
    ]


@pytest.mark.parametrize("name", sorted(optimizers.STEPS))
def test_lockstep_equals_one_run_at_a_time(name, digits):
    X_train, y_train, X_val, y_val = digits
    net = MLP(X_train[:150], y_train[:150], (64, 8, 10), "tanh", weight_decay=1e-3, seed=0)
    val = net.on(X_val[:100], y_val[:100])
    metrics = {"val_acc": val.accuracy, "val_loss": val.loss, "norm": np.linalg.norm}
    x0s, seeds = [net.init_params(s) for s in (0, 1, 2)], [0, 1, 1]
    lrs = [LRS[name] / 3, LRS[name], 3 * LRS[name]]
    kw = dict(epochs=2, batch_size=32, metrics=metrics)  # 5 batches, the last one of 22
    runs = train_lockstep(
        optimizers.STEPS[name], net, x0=x0s, seed=seeds, lr=lrs, keep_iterates=True, **kw
    )
    for r, one in zip(runs, _one_at_a_time(optimizers.STEPS[name], net, x0s, seeds, lrs, **kw)):
        assert r.hyperparameters == one.hyperparameters and r.label == one.label == name
        np.testing.assert_allclose(r.xs, one.xs, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.losses, one.losses, rtol=1e-12)
        for key in metrics:
            np.testing.assert_allclose(r.metrics[key], one.metrics[key], rtol=1e-12)
        for key in ("steps", "epochs", "grad_evals"):
            np.testing.assert_array_equal(getattr(r, key), getattr(one, key))
    assert runs[0].losses[-1] != runs[2].losses[-1]  # the runs really differ


def test_lockstep_per_run_schedule_and_records(digits):
    X_train, y_train, _, _ = digits
    net = MLP(X_train[:100], y_train[:100], (64, 8, 10), seed=0)
    peaks = np.array([0.03, 0.1])
    shape = lambda t: schedules.cosine_annealing_lr(t, lr=1.0, T_max=12)
    runs = train_lockstep(
        optimizers.momentum,
        net,
        epochs=3,
        batch_size=25,
        schedule=lambda t: peaks * shape(t),
        record_every=3,
        keep_iterates=True,
        gamma=0.9,
    )
    for peak, r in zip(peaks, runs):
        one = train_minibatch(
            optimizers.momentum,
            net,
            epochs=3,
            batch_size=25,
            record_every=3,
            schedule=lambda t: peak * shape(t),
            gamma=0.9,
            keep_iterates=True,
        )
        np.testing.assert_allclose(r.xs, one.xs, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(r.steps, [0, 3, 4, 6, 8, 9, 12])
    last = train_lockstep(
        optimizers.gd, net, epochs=3, batch_size=25, lr=[0.1, 0.2], every_epoch=False
    )
    assert [list(r.steps) for r in last] == [[0, 12]] * 2
    assert np.all(np.diff(runs[0].times) >= 0)


def test_lockstep_with_a_custom_criterion_agrees_to_rounding(digits):
    X_train, y_train, _, _ = digits
    own = lambda z, y: softmax_cross_entropy(z, y)  # not the library's own object
    net = MLP(X_train[:100], y_train[:100], (64, 8, 10), seed=0, criterion=own)
    runs = train_lockstep(optimizers.adam, net, epochs=2, lr=[1e-3, 1e-2, 3e-2], keep_iterates=True)
    for r in runs:
        one = train_minibatch(
            optimizers.adam, net, epochs=2, keep_iterates=True, **r.hyperparameters
        )
        np.testing.assert_allclose(r.xs, one.xs, rtol=0, atol=1e-10)


def test_lockstep_divergence_stops_one_run_and_warns_once():
    net = toy(n=40, activation="relu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = train_lockstep(optimizers.gd, net, epochs=3, batch_size=10, lr=[0.01, 1e12])
    assert [w.category for w in caught] == [DivergenceWarning]
    assert "1 of 2 runs diverged" in str(caught[0].message)
    good, bad = runs
    assert good.diverged_at is None and bad.diverged_at is not None and bad.reason
    one = train_minibatch(optimizers.gd, net, epochs=3, batch_size=10, lr=0.01)
    # the same run; a stack of two may round its last bit differently (numpy 1.23)
    np.testing.assert_allclose(good.losses, one.losses, rtol=1e-12)
    assert len(bad.losses) < len(good.losses) and np.all(np.isfinite(bad.losses))


def test_lockstep_refuses_per_run_arguments_of_different_lengths():
    net = toy()
    with pytest.raises(InputError, match="one length"):
        train_lockstep(optimizers.gd, net, seed=[0, 1], lr=[0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="out of range"):
        train_lockstep(optimizers.gd, net, lr=[0.1, -1.0])


def test_tune_lockstep_equals_tune_with_train_minibatch(digits):
    X_train, y_train, _, _ = digits
    net = MLP(X_train[:120], y_train[:120], (64, 8, 10), seed=0)
    lrs, kw = [0.1, 1.0, 10.0, 100.0], dict(epochs=2, batch_size=30)

    def train(lr, seed):
        return train_minibatch(optimizers.gd, net, x0=net.init_params(seed), seed=seed, lr=lr, **kw)

    fast, slow = tune_lockstep(optimizers.gd, net, lrs, **kw), tune(train, lrs, label="gd")
    np.testing.assert_allclose(fast.scores, slow.scores, rtol=1e-12)
    assert fast.best_lr == slow.best_lr and str(fast) == str(slow)
    assert len(fast.best_runs) == 3 and fast.best_runs[0].hyperparameters == {"lr": fast.best_lr}
