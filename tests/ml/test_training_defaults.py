"""recognizer.ml.training: one number of epochs per model, whichever way training is started."""

import inspect

from recognizer.ml import training


def test_each_trainer_defaults_to_the_epochs_the_train_command_uses():
    for name, trainer in (("custom", training.train_custom), ("keras", training.train_keras)):
        assert inspect.signature(trainer).parameters["epochs"].default == training.DEFAULT_EPOCHS[name]
