"""The drawing's old byte columns go (issue 25), after copying the bytes of drawings stored since 0007 started,
with inserts held off by a lock until the columns are dropped (the same transaction), so nothing is lost."""

from importlib import import_module

from django.db import migrations, models

moving = import_module("recognizer.migrations.0007_drawing_images")


def copy_stragglers(apps, schema_editor):
    drawing, picture = moving._tables(apps)
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # SQLite's write transaction already excludes other writers
            cursor.execute(f"LOCK TABLE {drawing} IN SHARE MODE")
        moving.copy_missing(cursor, drawing, picture)


class Migration(migrations.Migration):
    dependencies = [
        ("recognizer", "0007_drawing_images"),
    ]

    operations = [
        migrations.RunPython(copy_stragglers, migrations.RunPython.noop),
        # blank=True changes nothing in the database; reversed, it lets the columns come back (empty, b"") on a table
        # that has rows, for 0007's reverse to fill.
        migrations.AlterField(model_name="drawing", name="image", field=models.BinaryField(blank=True)),
        migrations.AlterField(model_name="drawing", name="model_input", field=models.BinaryField(blank=True)),
        migrations.RemoveField(model_name="drawing", name="image"),
        migrations.RemoveField(model_name="drawing", name="model_input"),
    ]
