"""The Keras model as requests run it: its TensorFlow Lite flatbuffer, one interpreter per thread."""

import threading

import numpy as np
import pytest

from recognizer.ml import keras_model, publishing, registry


@pytest.fixture(scope="module")
def model_and_lite(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(3)
    model = keras_model.build_model()
    path = tmp_path_factory.mktemp("lite") / "keras-9.keras"
    written = registry.get("keras").resolve("save")(model, path, {})
    return model, path, written


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((40, 28, 28)).astype(np.float32)


def test_save_writes_the_flatbuffer_beside_the_weights(model_and_lite):
    _, path, written = model_and_lite
    assert written == [path.with_suffix(".tflite")] and path.exists() and written[0].exists()
    assert written[0].read_bytes()[4:8] == b"TFL3"  # the TensorFlow Lite file identifier
    record = publishing.companions(written)
    assert record == [{"file": "keras-9.tflite", "sha256": publishing.sha256_file(written[0])}]


def test_lite_answers_are_the_keras_models(model_and_lite, images):
    model, path, written = model_and_lite
    lite = keras_model.LiteModel(written[0].read_bytes())
    expected = np.asarray(model(keras_model.to_batch(images), training=False))
    got = np.stack([lite(x) for x in images])
    assert got.shape == (40, 10) and got.dtype == np.float32
    assert np.allclose(got, expected, atol=1e-5)
    assert np.array_equal(got.argmax(1), expected.argmax(1))


def test_served_through_lite_when_the_flatbuffer_is_there_else_the_traced_function(model_and_lite, images, tmp_path):
    model, path, _ = model_and_lite
    predict, predict_many = keras_model.serving_functions(path)
    assert isinstance(predict, keras_model.LiteModel)
    without = tmp_path / "keras-9.keras"
    without.write_bytes(path.read_bytes())  # the weights alone, as models before keras-5 were published
    plain, plain_many = keras_model.serving_functions(without)
    assert not isinstance(plain, keras_model.LiteModel)
    for x in images[:10]:
        assert np.allclose(predict(x), plain(x), atol=1e-5)
    assert np.allclose(predict_many(images), plain_many(images), atol=1e-6)
    assert np.allclose(np.stack([predict(x) for x in images]), predict_many(images), atol=1e-5)


def test_each_thread_has_its_own_interpreter(model_and_lite, images):
    _, _, written = model_and_lite
    lite = keras_model.LiteModel(written[0].read_bytes())
    expected = np.stack([lite(x) for x in images])
    results, interpreters = {}, []
    all_started = threading.Barrier(4)

    def worker(k):
        all_started.wait()  # all four alive at once
        out = []
        for _ in range(5):
            for i in range(k, len(images), 4):
                out.append((i, lite(images[i])))
        results[k] = out
        interpreters.append(lite.local.interpreter[0])  # the objects, so no id is reused after a thread ends

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(i) for i in interpreters}) == 4
    for out in results.values():
        for i, answer in out:  # interleaved calls never mix one thread's input with another's answer
            assert np.array_equal(answer, expected[i])


def test_publishing_a_new_version_replaces_the_old_flatbuffer(model_and_lite, tmp_path):
    model, _, _ = model_and_lite
    result = publishing.TrainResult(model, 1, 0, 1.0, [], cpu_seconds=1.0, config={})
    first = publishing.publish(tmp_path, "keras", result, {})
    second = publishing.publish(tmp_path, "keras", result, {})
    assert publishing.files_of(first) == ["keras-1.keras", "keras-1.tflite"]
    assert publishing.files_of(second) == ["keras-2.keras", "keras-2.tflite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keras-2.keras", "keras-2.tflite", "manifest.json"]


def test_the_architecture_line_names_the_layers_built():
    wide = keras_model.build_model(widths=(32, 64, 128), dense=256)
    assert keras_model.describe(keras_model.build_model()) == (
        "conv5x5x32-pool-conv64-conv64-pool-dense128-dropout0.4-dense10 (BatchNorm)"
    )
    assert keras_model.describe(wide) == "conv5x5x32-pool-conv64-conv128-pool-dense256-dropout0.4-dense10 (BatchNorm)"
    assert wide.count_params() > keras_model.build_model().count_params()


def test_the_default_build_is_the_committed_models_architecture():
    import json
    from pathlib import Path

    manifest = json.loads((Path(__file__).resolve().parents[2] / "models" / "manifest.json").read_text())["models"]
    built = keras_model.build_model()
    assert keras_model.describe(built) == manifest["keras"]["architecture"]
    assert built.count_params() == manifest["keras"]["parameters"]
    assert set(keras_model.DEFAULT_ARCHITECTURE) == {"widths", "dense", "dropout"}  # experiments' variants live there
