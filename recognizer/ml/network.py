"""The "custom" model: a small convolutional network written from scratch in numpy.

    input 28x28x1
      -> Conv2D 5x5, 32 filters (valid)   24x24x32
      -> MaxPool 2x2 -> ReLU              12x12x32
      -> Conv2D 3x3, 32 filters (valid)   10x10x32
      -> MaxPool 2x2 -> ReLU              5x5x32
      -> Flatten                          800
      -> Dense 256 -> ReLU -> Dropout
      -> Dense 10 -> softmax

(``conv2=0`` leaves out the second convolution: models up to custom-4 were built that way.)

Every layer has ``forward(x, train)`` and ``backward(grad) -> grad of its input`` and keeps the
gradients of its parameters in ``self.grads`` (same keys as ``self.params``).  The loss is
softmax cross-entropy (optionally weighted per example), the optimiser Adam with decoupled
weight decay.  Convolution is done as one matrix product over image patches ("im2col").
Only numpy; float32 by default (``astype(np.float64)`` for gradient checks).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Layer:
    def __init__(self):
        # Set per layer: dicts on the class would be one object shared by every layer without parameters.
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Conv2D(Layer):
    """'valid' convolution (cross-correlation, stride 1) on NHWC tensors."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, rng: np.random.Generator):
        super().__init__()
        fan_in = in_channels * kernel * kernel
        self.k = kernel
        self.params = {
            # rows ordered (channel, ky, kx) to match the patches below
            "W": (rng.standard_normal((fan_in, out_channels)) * np.sqrt(2.0 / fan_in)).astype(np.float32),
            "b": np.zeros(out_channels, np.float32),
        }
        self.grads = {}
        self.input_grad = True  # the first layer does not need the gradient of its input

    def _patches(self, x: np.ndarray) -> np.ndarray:
        # (N, H, W, C) -> (N, Ho, Wo, C, k, k) view -> (N*Ho*Wo, C*k*k) copy
        windows = sliding_window_view(x, (self.k, self.k), axis=(1, 2))
        return windows.reshape(-1, windows.shape[3] * self.k * self.k)

    def forward(self, x, train=False):
        n, h, w, _ = x.shape
        cols = self._patches(x)
        if train:  # inference keeps no state, so one network can serve many threads
            self.x_shape, self.cols = x.shape, cols
        out = cols @ self.params["W"] + self.params["b"]
        return out.reshape(n, h - self.k + 1, w - self.k + 1, -1)

    def backward(self, grad):
        g = grad.reshape(-1, grad.shape[-1])
        self.grads = {"W": self.cols.T @ g, "b": g.sum(axis=0)}
        if not self.input_grad:
            return None
        # d(input): each patch's gradient (one matrix product), added back where the patch came from.
        n, h, w, c = self.x_shape
        k, ho, wo = self.k, grad.shape[1], grad.shape[2]
        patch_grads = (g @ self.params["W"].T).reshape(n, ho, wo, c, k, k)
        dx = np.zeros(self.x_shape, grad.dtype)
        for ky in range(k):
            for kx in range(k):
                dx[:, ky : ky + ho, kx : kx + wo, :] += patch_grads[..., ky, kx]
        return dx


class MaxPool2(Layer):
    """2x2 max pooling, stride 2 (height and width must be even)."""

    def forward(self, x, train=False):
        n, h, w, c = x.shape
        blocks = x.reshape(n, h // 2, 2, w // 2, 2, c)
        out = blocks.max(axis=(2, 4))
        if train:
            # Where the maximum was (ties share the gradient; they are vanishingly rare).
            self.mask = blocks == out[:, :, None, :, None, :]
        return out

    def backward(self, grad):
        g = self.mask * grad[:, :, None, :, None, :]
        n, h2, _, w2, _, c = g.shape
        return g.reshape(n, h2 * 2, w2 * 2, c)


class ReLU(Layer):
    def forward(self, x, train=False):
        out = np.maximum(x, 0)
        if train:
            self.positive = x > 0
        return out

    def backward(self, grad):
        return grad * self.positive


class Flatten(Layer):
    def forward(self, x, train=False):
        if train:
            self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self.shape)


class Dense(Layer):
    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator):
        super().__init__()
        self.params = {
            "W": (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32),
            "b": np.zeros(n_out, np.float32),
        }
        self.grads = {}

    def forward(self, x, train=False):
        if train:
            self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad):
        self.grads = {"W": self.x.T @ grad, "b": grad.sum(axis=0)}
        return grad @ self.params["W"].T


class Dropout(Layer):
    """Inverted dropout: scales at training time, does nothing at inference."""

    def __init__(self, rate: float, rng: np.random.Generator):
        super().__init__()
        self.rate, self.rng = rate, rng

    def forward(self, x, train=False):
        if not train:
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self.keep = (keep / np.float32(1 - self.rate)).astype(x.dtype)
        return x * self.keep

    def backward(self, grad):
        return grad * self.keep


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None):
    """Mean (weighted) softmax cross-entropy and its gradient with respect to the logits."""
    n = logits.shape[0]
    w = np.ones(n, logits.dtype) if weights is None else np.asarray(weights, logits.dtype)
    w = w / w.sum()
    p = softmax(logits)
    loss = -float(np.sum(w * np.log(p[np.arange(n), y] + 1e-12)))
    grad = p
    grad[np.arange(n), y] -= 1
    return loss, grad * w[:, None]


class Network:
    """A stack of layers, trained with Adam on softmax cross-entropy."""

    def __init__(
        self,
        filters: int = 32,
        hidden: int = 256,
        dropout: float = 0.3,
        seed: int = 0,
        dropout_rng: np.random.Generator | None = None,
        conv2: int = 32,
    ):
        # dropout_rng: training passes its own stream for the dropout masks (not part of the saved config)
        # conv2: filters of the second convolution (3x3 on the pooled 12x12 maps); 0 = none, as in custom-4 and older
        self.config = {"filters": filters, "hidden": hidden, "dropout": dropout, "seed": seed, "conv2": conv2}
        rng = np.random.default_rng(seed)
        self.layers: list[Layer] = [Conv2D(1, filters, 5, rng), MaxPool2(), ReLU()]  # 28 -> 24 -> 12
        if conv2:
            # A second, small convolution: same cost as one conv into a wide dense layer, more accurate.
            self.layers += [Conv2D(filters, conv2, 3, rng), MaxPool2(), ReLU()]  # 12 -> 10 -> 5
            flat = 5 * 5 * conv2
        else:
            flat = 12 * 12 * filters
        self.layers += [
            Flatten(),
            Dense(flat, hidden, rng),
            ReLU(),
            Dropout(dropout, dropout_rng or rng),
            Dense(hidden, 10, rng),
        ]
        self.layers[0].input_grad = False
        self.step_count = 0
        self.adam: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}

    # -- shapes and dtypes --------------------------------------------------------------------
    @property
    def dtype(self):
        return self.layers[0].params["W"].dtype

    def astype(self, dtype) -> Network:
        for layer in self.layers:
            layer.params = {k: v.astype(dtype) for k, v in layer.params.items()}
        return self

    def num_params(self) -> int:
        return sum(p.size for layer in self.layers for p in layer.params.values())

    def _as_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = x.astype(self.dtype) / 255
        return x.astype(self.dtype, copy=False).reshape(-1, 28, 28, 1)

    # -- forward / backward -------------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Logits (N, 10) for images (N, 28, 28) float in [0, 1] (or uint8)."""
        a = self._as_input(x)
        for layer in self.layers:
            a = layer.forward(a, train)
        return a

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.forward(x))

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        return np.concatenate([self.forward(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])

    def loss_and_grads(self, x, y, weights=None) -> float:
        """Forward + backward on one mini-batch; gradients land in each layer's ``grads``."""
        loss, grad = cross_entropy(self.forward(x, train=True), np.asarray(y), weights)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return loss

    # -- optimiser ----------------------------------------------------------------------------
    def adam_step(self, lr: float, weight_decay: float = 0.0, beta1=0.9, beta2=0.999, eps=1e-8) -> None:
        self.step_count += 1
        t = self.step_count
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        for i, layer in enumerate(self.layers):
            for name, p in layer.params.items():
                g = layer.grads[name]
                if (i, name) not in self.adam:
                    self.adam[(i, name)] = (np.zeros_like(p), np.zeros_like(p))
                m, v = self.adam[(i, name)]
                m *= beta1
                m += (1 - beta1) * g  # running mean of the gradient
                v *= beta2
                v += (1 - beta2) * (g * g)  # running mean of its square
                update = (m / c1) / (np.sqrt(v / c2) + eps)
                if weight_decay and name == "W":
                    update += weight_decay * p  # decoupled weight decay (AdamW)
                p -= lr * update

    def train_batch(self, x, y, lr: float, weight_decay: float = 0.0, weights=None) -> float:
        loss = self.loss_and_grads(x, y, weights)
        self.adam_step(lr, weight_decay)
        return loss

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | Path, metadata: dict | None = None) -> None:
        arrays = {f"{i}.{name}": p for i, layer in enumerate(self.layers) for name, p in layer.params.items()}
        meta = {"config": self.config, "metadata": metadata or {}}
        with open(path, "wb") as f:  # a file object, so numpy does not append ".npz"
            np.savez_compressed(f, __meta__=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Network:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            net = cls(**{"conv2": 0, **meta["config"]})  # files from before conv2 have one convolution
            for i, layer in enumerate(net.layers):
                for name in layer.params:
                    stored = data[f"{i}.{name}"]
                    if stored.shape != layer.params[name].shape:
                        raise ValueError(
                            f"{path}: {i}.{name} has shape {stored.shape}, expected {layer.params[name].shape}"
                        )
                    layer.params[name] = stored.astype(np.float32)
        net.metadata = meta["metadata"]
        return net
