"""The image and the model input move from ``recognizer_drawing`` to ``recognizer_drawingimage`` (issue 25): one row
per drawing, copied in batches of ids, each batch its own transaction (``atomic = False``), so the copy takes no long
lock and a stopped run goes on where it stopped (a drawing already copied is skipped). 0008 copies what was stored
meanwhile and drops the old columns; reversed, 0008 puts the columns back and this copies the bytes back, in batches.
"""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 20_000  # ids per statement: ~40 MB of images at most, a second or so of PostgreSQL at 1M drawings


def _tables(apps):
    drawing = apps.get_model("recognizer", "Drawing")._meta.db_table
    picture = apps.get_model("recognizer", "DrawingImage")._meta.db_table
    return drawing, picture


def copy_missing(cursor, drawing, picture, low=None, high=None):
    """Copy the bytes of the drawings with no image row (between ids ``low`` exclusive and ``high`` inclusive)."""
    where = "" if low is None else " AND d.id > %s AND d.id <= %s"
    cursor.execute(
        f"INSERT INTO {picture} (drawing_id, image, model_input) SELECT d.id, d.image, d.model_input "
        f"FROM {drawing} d WHERE NOT EXISTS (SELECT 1 FROM {picture} i WHERE i.drawing_id = d.id){where}",
        [] if low is None else [low, high],
    )


def _id_batches(cursor, table, column):
    cursor.execute(f"SELECT min({column}), max({column}) FROM {table}")
    first, last = cursor.fetchone()
    if first is None:
        return
    for low in range(first - 1, last, BATCH):
        yield low, min(low + BATCH, last)


def move_bytes(apps, schema_editor):
    drawing, picture = _tables(apps)
    with schema_editor.connection.cursor() as cursor:
        for low, high in list(_id_batches(cursor, drawing, "id")):
            copy_missing(cursor, drawing, picture, low, high)


def move_bytes_back(apps, schema_editor):
    """Reversed: 0008 has put the columns back (empty); fill them from the image rows, in batches."""
    drawing, picture = _tables(apps)
    with schema_editor.connection.cursor() as cursor:
        for low, high in list(_id_batches(cursor, picture, "drawing_id")):
            cursor.execute(
                f"UPDATE {drawing} SET image = i.image, model_input = i.model_input FROM {picture} i "
                f"WHERE i.drawing_id = {drawing}.id AND i.drawing_id > %s AND i.drawing_id <= %s",
                [low, high],
            )


class Migration(migrations.Migration):
    atomic = False  # each batch commits by itself

    dependencies = [
        ("recognizer", "0006_staff_pages_at_scale"),
    ]

    operations = [
        migrations.CreateModel(
            name="DrawingImage",
            fields=[
                (
                    "drawing",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="picture",
                        serialize=False,
                        to="recognizer.drawing",
                    ),
                ),
                ("image", models.BinaryField(help_text="The image exactly as received.")),
                ("model_input", models.BinaryField(help_text="28×28 uint8 model input, 784 bytes, ink bright.")),
            ],
        ),
        migrations.RunPython(move_bytes, move_bytes_back),
    ]
