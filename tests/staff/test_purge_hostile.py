"""`manage.py purge` with an age past the calendar: a clear error, no traceback, nothing deleted (issue 27, item 15)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from recognizer.models import Drawing
from tests.factories import make_drawing

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["999999999", "1000000000", str(10**30), "740000"])
def test_an_age_before_the_year_1_is_a_clear_error(days):
    make_drawing()
    with pytest.raises(CommandError, match=r"reaches back before the year 1; give at most 7\d{5} days"):
        call_command("purge", "--unlabeled-older-than", days, "--yes")
    assert Drawing.objects.count() == 1


@pytest.mark.django_db
def test_the_largest_age_it_names_is_accepted():
    make_drawing()
    with pytest.raises(CommandError) as refused:
        call_command("purge", "--unlabeled-older-than", "999999999")
    most = str(refused.value).rsplit("at most ", 1)[1].split()[0]
    call_command("purge", "--unlabeled-older-than", most, "--yes", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert Drawing.objects.count() == 1  # nothing is that old


def test_from_the_command_line_it_is_one_line_not_a_traceback(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "digitsite.settings", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run(
        [sys.executable, "manage.py", "purge", "--unlabeled-older-than", "999999999"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "OverflowError" not in result.stderr
    assert "CommandError: --unlabeled-older-than 999999999 days reaches back before the year 1" in result.stderr
