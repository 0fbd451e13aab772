"""Migrating the test database to a given state and back, for the tests of data migrations."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets):
    """Migrate to ``targets`` ([(app, migration)]); returns the apps of that state (its historical models)."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    """Every app's last migration (some apps depend on recognizer's)."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
