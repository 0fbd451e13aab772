"""The "keras" model: a small convolutional network in Keras 3 on TensorFlow.

    28x28x1 -> Conv 5x5 32, BN, ReLU -> MaxPool              (24 -> 12)
            -> [Conv 3x3 64, BN, ReLU] x2 -> MaxPool        (10, 8 -> 4)
            -> Flatten 1024 -> Dense 128, BN, ReLU -> Dropout 0.4 -> Dense 10 softmax

(Pooling right after the first convolution keeps an epoch on 2 CPU cores to ~45 s, a third of
the cost of two 3x3 convolutions at full resolution.)

Saved as a ``.keras`` file, and beside it as a TensorFlow Lite flatbuffer (``.tflite``,
:func:`export_tflite`): requests run that, through TensorFlow's own Lite interpreter, one per
thread (:class:`LiteModel`) -- the same answers (within 1e-6) for ~0.12 ms of CPU a call instead
of ~1-2 ms through the Keras model's ``tf.function``.  Without a ``.tflite`` file (models before
keras-5), :func:`make_predict_fn` wraps the model in a ``tf.function`` traced once for shape
(1, 28, 28, 1).  Never ``model.predict`` per request.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

DEFAULT_ARCHITECTURE = {"widths": (32, 64, 64), "dense": 128, "dropout": 0.4}


def describe(model: keras.Model) -> str:
    """The layer stack in one line, as the manifest records it (e.g. ``conv5x5x32-pool-conv64-...-dense10``)."""
    parts = []
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            k = layer.kernel_size[0]
            parts.append(f"conv{k}x{k}x{layer.filters}" if k != 3 else f"conv{layer.filters}")
        elif isinstance(layer, layers.MaxPooling2D):
            parts.append("pool")
        elif isinstance(layer, layers.Dense):
            parts.append(f"dense{layer.units}")
        elif isinstance(layer, layers.Dropout):
            parts.append(f"dropout{layer.rate:g}")
    return "-".join(parts) + " (BatchNorm)"


def _conv_bn_relu(h, filters: int, kernel: int = 3):
    h = layers.Conv2D(filters, kernel, use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    return layers.ReLU()(h)


def build_model(
    widths: tuple[int, int, int] = DEFAULT_ARCHITECTURE["widths"],
    dense: int = DEFAULT_ARCHITECTURE["dense"],
    dropout: float = DEFAULT_ARCHITECTURE["dropout"],
) -> keras.Model:
    """The network in the module's docstring; ``widths`` are the three convolutions', ``dense`` the hidden layer's."""
    inputs = keras.Input((28, 28, 1), name="image")
    h = _conv_bn_relu(inputs, widths[0], kernel=5)
    h = layers.MaxPooling2D()(h)
    h = _conv_bn_relu(h, widths[1])
    h = _conv_bn_relu(h, widths[2])
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dense(dense, use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.Dropout(dropout)(h)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs, name="digits_cnn")


def save_model(model: keras.Model, path) -> None:
    model.save(str(path))


def load_model(path) -> keras.Model:
    return keras.models.load_model(str(path), compile=False)


def to_batch(x: np.ndarray) -> np.ndarray:
    """(N, 28, 28) or (28, 28), uint8 or float [0, 1] -> float32 (N, 28, 28, 1)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    return x.astype(np.float32, copy=False).reshape(-1, 28, 28, 1)


def make_predict_fn(model: keras.Model):
    """A tf.function for one image (1, 28, 28, 1) float32 -> probabilities (1, 10)."""

    @tf.function(input_signature=[tf.TensorSpec((1, 28, 28, 1), tf.float32)], reduce_retracing=True)
    def predict_one(x):
        return model(x, training=False)

    return predict_one


def tflite_path(path) -> Path:
    """Where the Lite flatbuffer of the ``.keras`` file ``path`` lives: beside it, same name."""
    return Path(path).with_suffix(".tflite")


def export_tflite(model: keras.Model, path) -> Path:
    """Write ``model`` as a TensorFlow Lite flatbuffer (through a SavedModel, the converter's sure way in)."""
    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", verbose=False)
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
    Path(path).write_bytes(flatbuffer)
    return Path(path)


class LiteModel:
    """One image (28, 28) -> probabilities (10,) through the Lite interpreter.

    An interpreter holds its input and output buffers, so each thread gets its own (built on its
    first call, after any fork), on one CPU thread: a 28x28 answer gains nothing from more.
    """

    def __init__(self, flatbuffer: bytes):
        self.flatbuffer = flatbuffer
        self.local = threading.local()

    def _interpreter(self):
        found = getattr(self.local, "interpreter", None)
        if found is None:
            with warnings.catch_warnings():  # tf.lite.Interpreter's notice that LiteRT is its successor
                warnings.simplefilter("ignore")
                interpreter = tf.lite.Interpreter(model_content=self.flatbuffer, num_threads=1)
            given = interpreter.get_input_details()[0]
            if list(given["shape"]) != [1, 28, 28, 1]:
                interpreter.resize_tensor_input(given["index"], [1, 28, 28, 1])
            interpreter.allocate_tensors()
            found = self.local.interpreter = (interpreter, given["index"], interpreter.get_output_details()[0]["index"])
        return found

    def __call__(self, x: np.ndarray) -> np.ndarray:
        interpreter, given, answer = self._interpreter()
        interpreter.set_tensor(given, np.asarray(x, np.float32).reshape(1, 28, 28, 1))
        interpreter.invoke()
        return interpreter.get_tensor(answer)[0].copy()


def serving_functions(path) -> tuple:
    """The model in ``path`` as served: ``(predict, predict_many)``.

    One image (28, 28) -> (10,) through the Lite flatbuffer beside ``path`` (:class:`LiteModel`),
    or without one through the concrete function of :func:`make_predict_fn`; a batch (N, 28, 28)
    -> (N, 10) through a second signature with any batch size (traced once here, not per size).
    """
    model = load_model(path)
    many = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)]
    ).get_concrete_function()
    if tflite_path(path).exists():
        predict = LiteModel(tflite_path(path).read_bytes())
    else:
        # The concrete function of the one traced signature: skips tf.function's dispatch (0.43 vs 0.55 ms a call).
        fn = make_predict_fn(model).get_concrete_function()

        def predict(x: np.ndarray) -> np.ndarray:
            return fn(tf.constant(x.reshape(1, 28, 28, 1))).numpy()[0]

    def predict_many(x: np.ndarray) -> np.ndarray:
        return many(tf.constant(x.reshape(-1, 28, 28, 1))).numpy()

    return predict, predict_many


def predict_proba(model: keras.Model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Probabilities (N, 10) for a batch of images, for evaluation (not for requests)."""
    x = to_batch(x)
    out = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)
