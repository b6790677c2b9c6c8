
from django.db import migrations


class Migration(migrations.Migration):
    """Limit now lives in the jobs app, AuditEvent in the audit app (same tables)."""

    dependencies = [
        ('jobs', '0003_image_and_limit_moved'),
        ('audit', '0001_initial'),
        ('console', '0001_initial'),
    ]

    # Moved between apps: the tables keep their names and rows; only Django's state changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='limit',
                    name='team',
                ),
                migrations.RemoveField(
                    model_name='limit',
                    name='user',
                ),
                migrations.DeleteModel(
                    name='AuditEvent',
                ),
                migrations.DeleteModel(
                    name='Limit',
                ),
    
            ],
            database_operations=[],
        ),
    ]
