from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recognizer", "0004_drawing_source_v2_tfserving"),
    ]

    operations = [
        migrations.AlterField(
            model_name="drawing",
            name="source",
            field=models.CharField(
                choices=[
                    ("web", "Web page"),
                    ("api", "API"),
                    ("v2", "Open Inference Protocol v2"),
                    ("tfserving", "TF Serving REST"),
                    ("import", "Imported (manage.py import_drawings)"),
                ],
                default="api",
                max_length=16,
            ),
        ),
    ]
