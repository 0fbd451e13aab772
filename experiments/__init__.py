"""Experiments: scripts that train and score variants of the models, outside the product (see README.md here).

Run from the repository root as ``.venv/bin/python -m experiments.<name>``. They may import ``recognizer``; nothing in
``recognizer/`` or ``digitsite/`` imports them.
"""
