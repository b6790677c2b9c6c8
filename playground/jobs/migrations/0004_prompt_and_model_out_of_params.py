from django.db import migrations

BATCH = 500


def forward(apps, schema_editor):
    """The prompt and model live in Run.prompt and Run.model only (see jobs/params.py)."""
    Run = apps.get_model("jobs", "Run")
    changed = []
    for run in Run.objects.only("pk", "prompt", "model", "params").iterator(chunk_size=BATCH):
        params = run.params if isinstance(run.params, dict) else {}
        if "prompt" not in params and "model" not in params:
            continue
        prompt, model = params.pop("prompt", None), params.pop("model", None)
        run.prompt = run.prompt or (prompt if isinstance(prompt, str) else "")
        run.model = run.model or (model if isinstance(model, str) else "")
        run.params = params
        changed.append(run)
        if len(changed) >= BATCH:
            Run.objects.bulk_update(changed, ["prompt", "model", "params"])
            changed = []
    if changed:
        Run.objects.bulk_update(changed, ["prompt", "model", "params"])


def backward(apps, schema_editor):
    Run = apps.get_model("jobs", "Run")
    changed = []
    for run in Run.objects.only("pk", "prompt", "model", "params").iterator(chunk_size=BATCH):
        run.params = {"model": run.model, "prompt": run.prompt, **(run.params or {})}
        changed.append(run)
        if len(changed) >= BATCH:
            Run.objects.bulk_update(changed, ["params"])
            changed = []
    if changed:
        Run.objects.bulk_update(changed, ["params"])


class Migration(migrations.Migration):
    dependencies = [("jobs", "0003_image_and_limit_moved")]

    operations = [migrations.RunPython(forward, backward, elidable=True)]
