# Drawing.session_key has held the drawer cookie's key since 0002; the name now says so.
# RenameField keeps every row's value (a column rename, not drop + add).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recognizer", "0002_drawer_key_and_idempotency_key"),
    ]

    operations = [
        migrations.RenameField(model_name="drawing", old_name="session_key", new_name="drawer_key"),
        migrations.AlterField(
            model_name="drawing",
            name="drawer_key",
            field=models.CharField(
                blank=True,
                db_index=True,
                default="",
                help_text="Random key in the signed drawer cookie of the browser that drew it (see drawer.py).",
                max_length=64,
                verbose_name="drawer key",
            ),
        ),
    ]
