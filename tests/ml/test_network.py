"""recognizer.ml.network: the from-scratch numpy network -- gradients, training, persistence."""

import numpy as np
import pytest

from recognizer.ml import network as N


def numeric_grad(f, array, index, eps=1e-6):
    old = array[index]
    array[index] = old + eps
    plus = f()
    array[index] = old - eps
    minus = f()
    array[index] = old
    return (plus - minus) / (2 * eps)


@pytest.fixture
def tiny():
    net = N.Network(filters=3, hidden=7, dropout=0.0, seed=1).astype(np.float64)
    rng = np.random.default_rng(2)
    x = rng.random((4, 28, 28))
    y = np.array([0, 3, 7, 9])
    w = np.array([1.0, 2.0, 0.5, 1.0])
    return net, x, y, w


def test_gradients_match_finite_differences(tiny):
    net, x, y, w = tiny
    net.loss_and_grads(x, y, w)
    analytic = {(i, k): layer.grads[k].copy() for i, layer in enumerate(net.layers) for k in layer.params}

    def loss():
        return N.cross_entropy(net.forward(x), y, w)[0]

    rng = np.random.default_rng(3)
    checked = 0
    for (i, k), grad in analytic.items():
        param = net.layers[i].params[k]
        for flat in rng.choice(param.size, size=min(12, param.size), replace=False):
            index = np.unravel_index(flat, param.shape)
            num = numeric_grad(loss, param, index)
            assert grad[index] == pytest.approx(num, rel=1e-4, abs=1e-8), (i, k, index)
            checked += 1
    assert checked >= 50


def test_conv_input_gradient():
    rng = np.random.default_rng(4)
    conv = N.Conv2D(2, 3, 3, rng)
    conv.params = {k: v.astype(np.float64) for k, v in conv.params.items()}
    x = rng.random((2, 6, 6, 2))
    g = rng.standard_normal((2, 4, 4, 3))
    conv.forward(x, train=True)
    dx = conv.backward(g)

    def f():
        return float((conv.forward(x) * g).sum())

    for index in [(0, 0, 0, 0), (1, 3, 2, 1), (0, 5, 5, 1), (1, 2, 4, 0)]:
        assert dx[index] == pytest.approx(numeric_grad(f, x, index), rel=1e-5)


def test_dropout_and_pool_backward():
    rng = np.random.default_rng(5)
    pool = N.MaxPool2()
    x = rng.random((1, 4, 4, 1))
    out = pool.forward(x, train=True)
    grad = pool.backward(np.ones_like(out))
    assert grad.sum() == 4  # one per 2x2 block, where the maximum was
    assert np.array_equal(grad[0, :, :, 0] == 1, x[0, :, :, 0] == np.kron(out[0, :, :, 0], np.ones((2, 2))))
    drop = N.Dropout(0.5, rng)
    a = np.ones((1000, 10), np.float32)
    assert np.array_equal(drop.forward(a), a)  # no-op at inference
    t = drop.forward(a, train=True)
    assert set(np.unique(t)) <= {0.0, 2.0} and abs(t.mean() - 1) < 0.1
    assert np.array_equal(drop.backward(a), t)


def test_softmax_cross_entropy():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    p = N.softmax(logits)
    assert np.allclose(p.sum(axis=1), 1) and np.isfinite(p).all()
    loss, grad = N.cross_entropy(logits, np.array([0, 2]))
    assert loss == pytest.approx(np.log(3) / 2)
    assert np.allclose(grad.sum(axis=1), 0)


def test_save_load_roundtrip(tmp_path):
    net = N.Network(filters=4, hidden=16, seed=3)
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    path = tmp_path / "net.npz"
    net.save(path, metadata={"version": "7"})
    loaded = N.Network.load(path)
    assert loaded.config == net.config and loaded.metadata == {"version": "7"}
    assert np.array_equal(loaded.forward(x), net.forward(x))
    assert loaded.dtype == np.float32 and path.exists() and not (tmp_path / "net.npz.npz").exists()


def test_a_file_from_before_the_second_convolution_loads_as_one_convolution(tmp_path):
    import json

    old = N.Network(filters=4, hidden=16, seed=3, conv2=0)
    path = tmp_path / "old.npz"
    old.save(path)
    with np.load(path) as data:  # rewrite its config as custom-4 and older stored it: no "conv2" key
        arrays = {k: data[k] for k in data.files if k != "__meta__"}
        meta = json.loads(str(data["__meta__"]))
    del meta["config"]["conv2"]
    with open(path, "wb") as f:
        np.savez_compressed(f, __meta__=np.array(json.dumps(meta)), **arrays)
    loaded = N.Network.load(path)
    assert loaded.config["conv2"] == 0 and len(loaded.layers) == len(old.layers) == 8
    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    assert np.array_equal(loaded.forward(x), old.forward(x))


def test_second_convolution_shapes():
    net = N.Network(filters=4, hidden=16, conv2=6, seed=0)
    assert [type(layer).__name__ for layer in net.layers[:6]] == ["Conv2D", "MaxPool2", "ReLU"] * 2
    assert net.layers[7].params["W"].shape == (5 * 5 * 6, 16)
    assert net.forward(np.zeros((2, 28, 28), np.float32)).shape == (2, 10)


def test_inference_is_stateless_and_uint8_ok():
    net = N.Network(filters=4, hidden=16, seed=3)
    x = np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    p = net.predict_proba(x)
    assert p.shape == (2, 10) and np.allclose(p.sum(axis=1), 1)
    assert np.allclose(net.predict_proba(x[:1])[0], p[0], atol=1e-6)
    assert not hasattr(net.layers[0], "cols")  # forward without train keeps nothing


def test_layers_without_parameters_do_not_share_one_dict():
    pool, relu = N.MaxPool2(), N.ReLU()
    pool.grads["x"] = np.zeros(1)
    assert pool.params is not relu.params
    assert relu.grads == {}
    assert N.Network(filters=2, hidden=3).layers[1].grads == {}
