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
        from django.db.models.signals import post_migrate

        post_migrate.connect(register_committed, sender=self)
        # The development server loads its models at start (in the background, so it starts at once; the first
        # predict waits for the load if it is still going) and then follows promotions. Only `runserver`'s serving
        # process: never migrate, tests or other commands, and not the autoreloader's parent.
        argv = sys.argv
        if len(argv) > 1 and argv[1] == "runserver" and (os.environ.get("RUN_MAIN") == "true" or "--noreload" in argv):
            from recognizer import inference

            inference.start_in_background()


def register_committed(sender, using="default", **kwargs):
    """After `migrate`: the weights committed in models/ become the first live versions of a fresh database."""
    from recognizer.lifecycle import store

    if using == "default":
        store.ensure_registered()
