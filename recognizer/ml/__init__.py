"""The ML core: data, preprocessing, both networks, augmentation, training, publishing, evaluation sets.

Plain Python (numpy, scipy, Pillow, TensorFlow/Keras): it never imports Django, DRF or drf-spectacular, so it can be
used and tested without a database (tests/test_architecture.py enforces it).
"""
