"""Everything under tests/system/ runs the real stack (nginx, gunicorn, load, a browser) or trains models: slow.

`make test-fast` (``-m "not browser and not slow"``) leaves all of it out.
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)
