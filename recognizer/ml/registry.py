"""The one list of the models: everything that iterates over models (the page, inference, storage, the
admin, the dashboard, training and publishing) reads it from here.

Adding a model means one more :class:`ModelSpec` in :data:`MODELS` (and its code in ``recognizer/ml/``).

The callables are named as ``"module:attribute"`` and imported only when asked for (:meth:`ModelSpec.resolve`),
so reading the list imports neither TensorFlow nor the training code: the admin, ``migrate`` and ``export``
start fast, and the registry sits below every module that uses it (no import circles).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    name: str  # stored in Prediction.model_name, the API's keys, "<name>-<version>" in model_version
    title: str  # shown on the drawing page
    extension: str  # weights file: models/<name>-<version>.<extension>
    platform: str  # what runs it (Open Inference Protocol model metadata)
    colour: str  # its line and bars on the dashboard's charts
    serve: str  # weights file -> (predict (28, 28) -> (10,), predict_many (N, 28, 28) -> (N, 10)), for requests
    load: str  # weights file -> the model object (evaluation, retraining)
    save: str  # (model, path, metadata) -> writes the weights file; returns any files written beside it
    classify: str  # (model, x (N, 28, 28)) -> (N,) digits, batched, for evaluation
    describe: str  # model -> (architecture, number of parameters), for the manifest
    trainer: str  # the training function (recognizer.ml.training)
    epochs: int = 15  # default training epochs

    def resolve(self, what: str) -> Callable:
        """The callable named by the field ``what`` (``"serve"``, ``"load"``, ``"trainer"``), imported now."""
        module, _, attribute = getattr(self, what).partition(":")
        found = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
        return found

    def filename(self, version) -> str:
        return f"{self.name}-{version}.{self.extension}"

    def version_of(self, entry: Mapping) -> str:
        """``"<name>-<version>"`` of a manifest entry, e.g. ``"keras-3"``: what predictions store."""
        return f"{self.name}-{entry['version']}"


def serve_custom(path) -> tuple[Callable, Callable]:
    """The numpy network as served: one image and a batch, both through ``predict_proba``."""
    from recognizer.ml.network import Network

    net = Network.load(path)
    return (lambda x: net.predict_proba(x.reshape(1, 28, 28))[0]), (lambda x: net.predict_proba(x.reshape(-1, 28, 28)))


def save_keras(model, path, metadata) -> list[Path]:
    from recognizer.ml import keras_model

    keras_model.save_model(model, path)  # the .keras file carries its own config; no metadata needed
    return [keras_model.export_tflite(model, keras_model.tflite_path(path))]  # what requests run


def classify_keras(model, x):
    from recognizer.ml import keras_model

    return keras_model.predict_proba(model, x).argmax(axis=1)


def describe_keras(model) -> tuple[str, int]:
    from recognizer.ml import keras_model

    return keras_model.describe(model), int(model.count_params())


def save_custom(model, path, metadata) -> None:
    model.save(path, metadata=metadata)


def classify_custom(model, x):
    return model.predict(x)


def describe_custom(model) -> tuple[str, int]:
    c = model.config
    convs = f"conv5x5x{c['filters']}-maxpool-relu" + (f"-conv3x3x{c['conv2']}-maxpool-relu" if c.get("conv2") else "")
    return f"{convs}-dense{c['hidden']}-relu-dropout-dense10 (numpy)", int(model.num_params())


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="keras",
        title="Keras CNN",
        extension="keras",
        platform="tensorflow_keras",
        colour="#1f6fb4",
        serve="recognizer.ml.keras_model:serving_functions",
        load="recognizer.ml.keras_model:load_model",
        save="recognizer.ml.registry:save_keras",
        classify="recognizer.ml.registry:classify_keras",
        describe="recognizer.ml.registry:describe_keras",
        trainer="recognizer.ml.training:train_keras",
    ),
    ModelSpec(
        name="custom",
        title="Numpy network",
        extension="npz",
        platform="numpy",
        colour="#d9480f",
        serve="recognizer.ml.registry:serve_custom",
        load="recognizer.ml.network:Network.load",
        save="recognizer.ml.registry:save_custom",
        classify="recognizer.ml.registry:classify_custom",
        describe="recognizer.ml.registry:describe_custom",
        trainer="recognizer.ml.training:train_custom",
    ),
)
NAMES: tuple[str, ...] = tuple(spec.name for spec in MODELS)
BY_NAME: dict[str, ModelSpec] = {spec.name: spec for spec in MODELS}


def get(name: str) -> ModelSpec:
    """The model called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; models: {', '.join(NAMES)}") from None
