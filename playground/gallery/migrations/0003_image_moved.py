
from django.db import migrations


class Migration(migrations.Migration):
    """Image now lives in the jobs app (same table)."""

    dependencies = [
        ('jobs', '0003_image_and_limit_moved'),
        ('gallery', '0002_review'),
    ]

    # Moved between apps: the tables keep their names and rows; only Django's state changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='Image',
                ),
    
            ],
            database_operations=[],
        ),
    ]
