
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """AuditEvent moves here from the console app (table console_auditevent)."""

    initial = True

    dependencies = [
        ('console', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Moved between apps: the tables keep their names and rows; only Django's state changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('actor_name', models.CharField(max_length=150)),
                        ('action', models.CharField(choices=[('key.added', 'Key added'), ('key.rotated', 'Key rotated'), ('key.revoked', 'Key revoked'), ('key.tested', 'Key tested'), ('key.deleted', 'Key deleted'), ('provider.added', 'Provider added'), ('provider.changed', 'Provider changed'), ('provider.url_changed', 'Provider base URL changed'), ('limit.changed', 'Limit changed'), ('limit.removed', 'Limit removed'), ('team.added', 'Team added'), ('membership.added', 'Member added'), ('membership.removed', 'Member removed'), ('membership.role_changed', 'Member role changed'), ('encryption.rotated', 'Keys re-encrypted')], db_index=True, max_length=40)),
                        ('target_type', models.CharField(choices=[('key', 'Key'), ('provider', 'Provider'), ('limit', 'Limit'), ('team', 'Team'), ('system', 'System')], max_length=20)),
                        ('target_id', models.CharField(blank=True, max_length=64)),
                        ('target_label', models.CharField(max_length=300)),
                        ('details', models.JSONField(blank=True, default=dict)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='audit_events', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'console_auditevent',
                        'ordering': ['-created_at', '-pk'],
                        'indexes': [models.Index(fields=['target_type', 'target_id'], name='console_aud_target__dc5692_idx')],
                    },
                ),
    
            ],
            database_operations=[],
        ),
    ]
