"""Lesson 07 (deep networks): the MLP's deep-network options (initialisation, per-layer
gradient norms, batch normalisation against finite differences and torch), clipping, and the
checks of Exercises 7.1–7.3 accepting right versions and rejecting the usual mistakes."""

import numpy as np
import pytest
from lessons import Exercise, exercise_tests, solution_functions

from course_lib import data
from course_lib.checks import (
    evaluate_batch_norm_backward,
    evaluate_clip_grad_norm,
    evaluate_init_std,
)
from course_lib.data import load_references
from course_lib.mlp import (
    GAINS,
    MLP,
    batch_norm_backward,
    batch_norm_forward,
    clip_grad_norm,
    init_std,
    numerical_gradient,
    relative_error,
    split_train_validation,
)

SOLVED = solution_functions("07-deep-networks.ipynb")


def toy(sizes=(5, 6, 6, 3), n=20, seed=0, **kw):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    return MLP(X, y, sizes, seed=seed, **kw)


# --- the MLP's new options ---------------------------------------------------------------------


def test_defaults_are_unchanged():
    plain, explicit = toy(), toy(init=None, batch_norm=False)
    np.testing.assert_array_equal(plain.x0, explicit.x0)
    w = plain.x0 + 0.1
    assert plain.loss(w) == explicit.loss(w)


@pytest.mark.parametrize("init", ["xavier", "he", 0.5, 2.0])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_init_draws_normal_weights_with_the_stated_std(init, activation):
    X, y = data.load_digits()
    net = MLP(X[:50], y[:50], (64, 200, 300, 10), activation, init=init, seed=1)
    assert net.on(X[50:60], y[50:60]).init == net.init
    layers = net.unpack(net.x0)
    for k, (W, b) in enumerate(layers):
        # the output layer, which no activation follows, takes the linear gain 1 (torch
        # practice) under a named scheme; a number c is every layer's gain
        last = k == len(layers) - 1 and isinstance(init, str)
        expected = init_std(init, *W.shape, "linear" if last else activation)
        assert abs(W.std() / expected - 1) < 0.03 and abs(W.mean()) < 0.05 * expected
        assert not b.any()


def test_init_std_formulas_and_bad_values():
    assert init_std("xavier", 64, 32, "tanh") == pytest.approx(5 / 3 * np.sqrt(2 / 96))
    assert init_std("he", 32, 10, "relu") == pytest.approx(np.sqrt(2 / 32))
    assert init_std(1.5, 25, 7) == pytest.approx(0.3)
    for bad in ("glorot", -1.0, 0, True):
        with pytest.raises(ValueError, match="init must be"):
            toy(init=bad)


def test_gains_are_torchs():
    torch = pytest.importorskip("torch")
    for name, gain in GAINS.items():
        assert gain == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-15)


def test_layer_grad_norms_are_the_weight_blocks_of_the_gradient():
    net = toy()
    g = net.grad(net.x0)
    norms = net.layer_grad_norms(net.x0)
    assert norms.shape == (3,)
    np.testing.assert_allclose(norms, [np.linalg.norm(W) for W, _ in net.unpack(g)])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_batch_norm_network_gradient_matches_finite_differences(activation, weight_decay):
    net = toy(activation=activation, batch_norm=True, weight_decay=weight_decay, init="he")
    w = net.x0 + 0.1 * np.random.default_rng(1).normal(size=net.dim)
    for idx in (None, np.array([1, 4, 9, 9, 13])):
        g = net.grad(w, idx)
        assert relative_error(g, numerical_gradient(lambda v: net.loss(v, idx), w)) < 1e-7


def test_batch_norm_network_uses_the_statistics_of_the_examples_it_is_given():
    net = toy(batch_norm=True)
    w = net.x0 + 0.1
    # the mean of the inputs to each normalisation is removed: shifting every x W changes nothing
    assert net.loss(w) == pytest.approx(net.loss(w, np.arange(net.n)), rel=1e-12)
    big = MLP(np.tile(net.X, (10, 1)), np.tile(net.y, 10), net.sizes, batch_norm=True)
    assert big.loss(w) == pytest.approx(net.loss(w), rel=1e-10)  # no blocks of 128


def test_batch_norm_layer_agrees_with_torch_reference():
    for c in load_references("deep")["batch_norm_backward"]["cases"]:
        z, dout = np.array(c["z"]), np.array(c["dout"])
        out, inv_std = batch_norm_forward(z, c["eps"])
        np.testing.assert_allclose(out, c["out"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            batch_norm_backward(dout, out, inv_std), c["expected"], rtol=1e-9, atol=1e-13
        )


def test_batch_norm_agrees_with_torch_autograd():
    torch = pytest.importorskip("torch")
    net = toy((4, 5, 3), n=12, batch_norm=True, activation="tanh")
    w = net.x0 + 0.2 * np.random.default_rng(3).normal(size=net.dim)
    wt = torch.tensor(w, requires_grad=True)
    (o1, a1, b1), (o2, a2, b2) = net.shapes
    W1, c1 = wt[o1 : o1 + a1 * b1].reshape(a1, b1), wt[o1 + a1 * b1 : o1 + a1 * b1 + b1]
    W2, c2 = wt[o2 : o2 + a2 * b2].reshape(a2, b2), wt[o2 + a2 * b2 :]
    bn = torch.nn.BatchNorm1d(b1, affine=False).train().double()
    h = torch.tanh(bn(torch.tensor(net.X) @ W1) + c1)
    loss = torch.nn.functional.cross_entropy(h @ W2 + c2, torch.tensor(net.y))
    loss.backward()
    assert net.loss(w) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(net.grad(w), wt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_clip_grad_norm_agrees_with_torch_reference_and_copies():
    for c in load_references("deep")["clip_grad_norm"]["cases"]:
        grads = [np.array(g["array"]) for g in c["grads"]]
        before = [g.copy() for g in grads]
        clipped, total = clip_grad_norm(grads, c["max_norm"])
        assert total == pytest.approx(c["total"], rel=1e-12)
        for got, expected in zip(clipped, c["expected"]):
            np.testing.assert_allclose(got, expected["array"], rtol=1e-12)
        for g, b in zip(grads, before):
            np.testing.assert_array_equal(g, b)


def test_split_still_works_for_the_lesson():
    X, y = data.load_digits()
    assert len(split_train_validation(X, y)[0]) == 1438


# --- the checks of Exercises 7.1–7.3 ------------------------------------------------------


def init_std_wrong(change):
    def init_std(scheme, fan_in, fan_out, nonlinearity):
        gain = GAINS[nonlinearity]
        return change(scheme, fan_in, fan_out, gain)

    return init_std


def clip_wrong(change):
    def clip_grad_norm(grads, max_norm):
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        return change(grads, max_norm, total)

    return clip_grad_norm


def clip_in_place(grads, max_norm):
    """The check cannot see it if it passes copies: it must pass the arrays and look."""
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    for g in grads:
        g *= min(1.0, max_norm / (total + 1e-6))
    return grads, total


def clip_replaces_items(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    for i, g in enumerate(grads):
        grads[i] = g * min(1.0, max_norm / (total + 1e-6))
    return list(grads), total


def bn_wrong(change):
    def batch_norm_backward(dout, out, inv_std):
        return change(dout, out, inv_std)

    return batch_norm_backward


def bn_in_place(dout, out, inv_std):
    dout -= dout.mean(axis=0)
    dout -= out * (dout * out).mean(axis=0)
    return inv_std * dout


def right(scheme, fi, fo, gain):
    return gain * np.sqrt(2 / (fi + fo)) if scheme == "xavier" else gain / np.sqrt(fi)


EXERCISES = {
    "init_std": Exercise(
        evaluate_init_std,
        right=[SOLVED["init_std"], lambda s, fi, fo, nl: init_std(s, fi, fo, nl)],
        wrong={
            "Xavier with fan_in": (
                init_std_wrong(lambda s, fi, fo, g: g / np.sqrt(fi)),
                "Xavier averages the two fans",
            ),
            "He without the factor 2": (
                init_std_wrong(lambda s, fi, fo, g: right(s, fi, fo, g if s == "xavier" else 1)),
                "factor 2 is missing",
            ),
            "no gain": (init_std_wrong(lambda s, fi, fo, g: right(s, fi, fo, 1.0)), "gain"),
            "He with fan_out": (
                init_std_wrong(
                    lambda s, fi, fo, g: right(s, fo, fi, g) if s == "he" else right(s, fi, fo, g)
                ),
                "He uses fan_in",
            ),
            "the variance": (
                init_std_wrong(lambda s, fi, fo, g: right(s, fi, fo, g) ** 2),
                "that is the variance",
            ),
            "the gain on the variance": (
                init_std_wrong(lambda s, fi, fo, g: np.sqrt(g) * right(s, fi, fo, 1.0)),
                "not the variance",
            ),
            "the uniform bound": (
                init_std_wrong(lambda s, fi, fo, g: np.sqrt(3) * right(s, fi, fo, g)),
                "xavier_uniform_",
            ),
        },
    ),
    "clip_grad_norm": Exercise(
        evaluate_clip_grad_norm,
        right=[SOLVED["clip_grad_norm"], clip_grad_norm],
        wrong={
            "per tensor": (
                clip_wrong(
                    lambda gs, m, t: (
                        [g * min(1, m / (np.linalg.norm(g) + 1e-6)) for g in gs],
                        t,
                    )
                ),
                "global",
            ),
            "the sum of the arrays' norms": (
                clip_wrong(
                    lambda gs, m, t: (lambda n: ([g * min(1, m / (n + 1e-6)) for g in gs], n))(
                        sum(np.linalg.norm(g) for g in gs)
                    )
                ),
                "not the sum of the arrays' norms",
            ),
            "without torch's 1e-6": (
                clip_wrong(lambda gs, m, t: ([g * min(1, m / t) for g in gs], t)),
                "1e-6",
            ),
            "always rescaled": (
                clip_wrong(lambda gs, m, t: ([g * m / (t + 1e-6) for g in gs], t)),
                "only shrink",
            ),
            "squared total": (
                clip_wrong(lambda gs, m, t: (clip_grad_norm(gs, m)[0], t * t)),
                "not its square",
            ),
            "total after clipping": (
                clip_wrong(lambda gs, m, t: (clip_grad_norm(gs, m)[0], min(t, m))),
                "before clipping",
            ),
            "clipped values (clip_grad_value_)": (
                clip_wrong(lambda gs, m, t: ([np.clip(g, -m, m) for g in gs], t)),
                "clip_grad_value_",
            ),
            "a single array": (
                clip_wrong(
                    lambda gs, m, t: (
                        np.concatenate([g.ravel() for g in clip_grad_norm(gs, m)[0]]),
                        t,
                    )
                ),
                "clipped is a list with one array per gradient array",
            ),
            "flattened arrays": (
                clip_wrong(lambda gs, m, t: ([g.ravel() for g in clip_grad_norm(gs, m)[0]], t)),
                "shaped like it",
            ),
            "scaled in place": (clip_in_place, "`g *= factor` scales the caller's gradients"),
            "items replaced in the caller's list": (
                clip_replaces_items,
                "changed its argument `grads` in place",
            ),
            "no min, no 1e-6": (
                clip_wrong(lambda gs, m, t: ([g * m / t for g in gs], t)),
                "only shrink, and add torch's 1e-6",
            ),
            "not clipped at all": (clip_wrong(lambda gs, m, t: (list(gs), t)), "unclipped"),
        },
    ),
    "batch_norm_backward": Exercise(
        evaluate_batch_norm_backward,
        right=[SOLVED["batch_norm_backward"], batch_norm_backward],
        wrong={
            "without the mean terms": (bn_wrong(lambda d, o, s: d * s), "mean terms are missing"),
            "without the variance term": (
                bn_wrong(lambda d, o, s: s * (d - d.mean(0))),
                "variance's term",
            ),
            "without the mean of dout": (
                bn_wrong(lambda d, o, s: s * (d - o * (d * o).mean(0))),
                "mean's term",
            ),
            "the variance's term added": (
                bn_wrong(lambda d, o, s: s * (d - d.mean(0) + o * (d * o).mean(0))),
                "is subtracted",
            ),
            "sums for means": (
                bn_wrong(lambda d, o, s: s * (d - d.sum(0) - o * (d * o).sum(0))),
                "not sums",
            ),
            "without inv_std": (
                bn_wrong(lambda d, o, s: d - d.mean(0) - o * (d * o).mean(0)),
                "inv_std",
            ),
            "means over features": (
                bn_wrong(
                    lambda d, o, s: (
                        s * (d - d.mean(1, keepdims=True) - o * (d * o).mean(1, keepdims=True))
                    )
                ),
                "not over the features (axis 1)",
            ),
            "means over the whole array": (
                bn_wrong(lambda d, o, s: s * (d - d.mean() - o * (d * o).mean())),
                "not over the whole array",
            ),
            "inv_std twice": (
                bn_wrong(lambda d, o, s: s * s * (d - d.mean(0) - o * (d * o).mean(0))),
                "once, not twice",
            ),
            "dout changed in place": (bn_in_place, "changed its argument `dout` in place"),
        },
    ),
}

test_right_passes, test_mistake_fails, test_unfinished = exercise_tests(EXERCISES)
