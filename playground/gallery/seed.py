"""Many runs at once, for benchmarks, query-count tests and screenshots (`manage.py seed_gallery`).

Rows go in with bulk_create, so 10,000 runs take seconds. Images are either real files (one small
PNG and its thumbnail per run) or rows only, for measuring pages that never open a file.
"""

from __future__ import annotations

import io
import random
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from playground.gallery.models import Comment, Rating, Review, RunTag, Tag
from playground.imaging import make_thumbnail
from playground.jobs.models import Image, Run

SUBJECTS = ["lighthouse", "fox", "teapot", "city at night", "mountain lake", "robot", "forest"]
STYLES = ["watercolour", "isometric", "photograph", "oil painting", "pixel art", "line drawing"]
TAGS = ["keeper", "hero shot", "needs work", "brand", "social"]
MODELS = ["gpt-image-1", "dall-e-3", "gpt-image-1-mini"]
COLOURS = [(200, 60, 60), (60, 140, 200), (70, 160, 90), (220, 170, 40), (120, 80, 180)]


def _png(colour, size=(96, 64)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def seed_runs(
    owner,
    count: int,
    *,
    team=None,
    provider=None,
    files: bool = False,
    reviewers=(),
    batch: int = 1000,
) -> list[Run]:
    """Create `count` finished runs of `owner` (one image each, some failed) with review data."""
    rng = random.Random(count)  # noqa: S311 - sample data, not security
    now = timezone.now()
    provider_name = provider.name if provider else "Demo"
    runs = []
    for i in range(count):
        model = MODELS[i % len(MODELS)]
        prompt = f"{rng.choice(STYLES)} of a {rng.choice(SUBJECTS)}, variation {i}"
        failed = i % 17 == 16
        created = now - timedelta(minutes=count - i)
        runs.append(
            Run(
                owner=owner,
                team=team,
                provider=provider,
                provider_name=provider_name,
                model=model,
                prompt=prompt,
                params={"n": 1, "size": "1024x1024"},
                status=Run.Status.FAILED if failed else Run.Status.SUCCEEDED,
                error_kind="rate_limited" if failed else "",
                error_message="Rate limit reached for requests (HTTP 429)." if failed else "",
                error_status=429 if failed else None,
                usage=None if failed else {"total_tokens": 272, "output_tokens": 256},
                created_at=created,
                started_at=created,
                upstream_started_at=created,
                upstream_finished_at=created + timedelta(seconds=8),
                finished_at=created + timedelta(seconds=9),
            )
        )
    Run.objects.bulk_create(runs, batch_size=batch)

    images = []
    for i, run in enumerate(runs):
        if run.status != Run.Status.SUCCEEDED:
            continue
        image = Image(run=run, index=0, format="PNG", width=96, height=64, bytes=0, sha256="0" * 64)
        if files:
            data = _png(COLOURS[i % len(COLOURS)])
            folder = f"images/{run.created_at:%Y/%m}/{run.pk}"
            image.file.name = default_storage.save(f"{folder}/1.png", ContentFile(data))
            image.thumbnail.name = default_storage.save(
                f"{folder}/1-thumb.webp", ContentFile(make_thumbnail(data))
            )
            image.bytes = len(data)
        else:
            image.file.name = f"images/seed/{run.pk}.png"
            image.thumbnail.name = f"images/seed/{run.pk}-thumb.webp"
        images.append(image)
    Image.objects.bulk_create(images, batch_size=batch)

    tags = {name: Tag.objects.get_or_create(name=name)[0] for name in TAGS}
    people = [owner, *reviewers]
    Rating.objects.bulk_create(
        [
            Rating(run=run, user=people[i % len(people)], stars=5 - i % 5)
            for i, run in enumerate(runs)
            if i % 3 == 0
        ],
        batch_size=batch,
    )
    RunTag.objects.bulk_create(
        [
            RunTag(run=run, tag=tags[TAGS[i % len(TAGS)]], added_by=owner)
            for i, run in enumerate(runs)
            if i % 4 == 0
        ],
        batch_size=batch,
    )
    Comment.objects.bulk_create(
        [
            Comment(run=run, author=owner, body=f"Note on variation {i}.")
            for i, run in enumerate(runs)
            if i % 7 == 0
        ],
        batch_size=batch,
    )
    if team is not None and reviewers:
        Review.objects.bulk_create(
            [
                Review(
                    run=run,
                    state=Review.State.APPROVED if i % 2 else Review.State.REJECTED,
                    decided_by=reviewers[0],
                    decided_at=now,
                )
                for i, run in enumerate(runs)
                if i % 5 == 0
            ],
            batch_size=batch,
        )
    return runs
