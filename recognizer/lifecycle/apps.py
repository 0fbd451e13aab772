"""The model lifecycle: versions in the database, promote / roll back / retire / shadow, training jobs."""

import os
import sys

from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recognizer.lifecycle"
    label = "lifecycle"
    verbose_name = "Model lifecycle"

    def ready(self):
        # The development server loads its models at start (in the background, so it starts at once; the first
        # predict waits for the load if it is still going) and then follows promotions. Only `runserver`'s serving
        # process: never migrate, tests or other commands, and not the autoreloader's parent.
        argv = sys.argv
        if len(argv) > 1 and argv[1] == "runserver" and (os.environ.get("RUN_MAIN") == "true" or "--noreload" in argv):
            from recognizer import inference

            inference.start_in_background()
