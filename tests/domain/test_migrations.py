import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_are_up_to_date():
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_drawer_key_rename_keeps_every_drawers_key():
    """0003 renames Drawing.session_key to drawer_key on a database filled before it: the keys survive."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("recognizer", "0002_drawer_key_and_idempotency_key")]
    after = [("recognizer", "0003_rename_session_key_drawer_key")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("recognizer", "Drawing")
        for key in ("a" * 32, "b" * 32, ""):
            old.objects.create(image=b"png", model_input=bytes(784), preprocess_version="v", session_key=key)
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps.get_model("recognizer", "Drawing")
        assert sorted(new.objects.values_list("drawer_key", flat=True)) == ["", "a" * 32, "b" * 32]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        from recognizer.models import Drawing

        Drawing.objects.all().delete()  # with their image rows (0007 copied them)
