
import django.db.models.deletion
import playground.jobs.models.image
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Image moves here from the gallery app, Limit from the console app."""

    dependencies = [
        ('gallery', '0002_review'),
        ('console', '0001_initial'),
        ('accounts', '0001_initial'),
        ('jobs', '0002_run_inputs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Moved between apps: the tables keep their names and rows; only Django's state changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Image',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('index', models.PositiveSmallIntegerField(default=0)),
                        ('file', models.FileField(max_length=300, upload_to=playground.jobs.models.image.image_path)),
                        ('thumbnail', models.FileField(max_length=300, upload_to=playground.jobs.models.image.image_path)),
                        ('format', models.CharField(max_length=10)),
                        ('width', models.PositiveIntegerField()),
                        ('height', models.PositiveIntegerField()),
                        ('bytes', models.PositiveBigIntegerField()),
                        ('sha256', models.CharField(max_length=64)),
                        ('revised_prompt', models.TextField(blank=True)),
                        ('source_url', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='images', to='jobs.run')),
                    ],
                    options={
                        'db_table': 'gallery_image',
                        'ordering': ['run', 'index'],
                    },
                ),
                migrations.CreateModel(
                    name='Limit',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('max_concurrent_runs', models.PositiveIntegerField(blank=True, help_text='Runs queued or running at the same time.', null=True)),
                        ('max_images_per_day', models.PositiveIntegerField(blank=True, help_text="Images requested (n) per calendar day in the server's time zone.", null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('team', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='run_limit', to='accounts.team')),
                        ('user', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='run_limit', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'console_limit',
                        'ordering': ['team__name', 'user__username'],
                        'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('team__isnull', True), ('user__isnull', False)), models.Q(('team__isnull', False), ('user__isnull', True)), _connector='OR'), name='limit_has_one_subject')],
                    },
                ),
    
            ],
            database_operations=[],
        ),
    ]
