from __future__ import annotations

import builtins
import hashlib
import uuid
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.db import models

from playground import imaging
from playground.jobs.models.run import Run

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def image_path(instance: Image, filename: str) -> str:
    created = instance.run.created_at
    return f"images/{created:%Y/%m}/{instance.run_id}/{filename}"


class ImageQuerySet(models.QuerySet["Image"]):
    def visible_to(self, user: User) -> ImageQuerySet:
        return self.filter(run__in=Run.objects.visible_to(user).values("pk"))


class Image(models.Model):
    """One stored result image with its WebP thumbnail."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=image_path, max_length=300)
    thumbnail = models.FileField(upload_to=image_path, max_length=300)
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    revised_prompt = models.TextField(blank=True)
    # Where the bytes were downloaded from, when the upstream answered with a URL.
    source_url = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        # The model moved here from the gallery app; its table kept its name and its rows.
        db_table = "gallery_image"
        ordering = ["run", "index"]

    def __str__(self) -> str:
        return f"{self.width}x{self.height} {self.format}"

    @property
    def content_type(self) -> str:
        return imaging.content_type(self.format)

    @property
    def extension(self) -> str:
        return imaging.extension(self.format)

    @property
    def download_name(self) -> str:
        return f"run-{str(self.run_id)[:8]}-{self.index + 1}.{self.extension}"

    @classmethod
    def store(
        cls,
        run: Run,
        index: int,
        data: builtins.bytes,
        *,
        image_format: str,
        width: int,
        height: int,
        revised_prompt: str = "",
        source_url: str = "",
    ) -> Image:
        """Save verified image bytes and a thumbnail. `data` was checked with Pillow already."""
        digest = hashlib.sha256(data).hexdigest()
        image = cls(
            run=run,
            index=index,
            format=image_format,
            width=width,
            height=height,
            bytes=len(data),
            sha256=digest,
            revised_prompt=revised_prompt or "",
            source_url=(source_url or "")[:2000],
        )
        stem = f"{index + 1}-{digest[:12]}"
        image.file.save(f"{stem}.{imaging.extension(image_format)}", ContentFile(data), save=False)
        image.thumbnail.save(
            f"{stem}-thumb.webp", ContentFile(imaging.make_thumbnail(data)), save=False
        )
        image.save()
        return image

    def delete_files(self) -> None:
        for field in (self.file, self.thumbnail):
            if field:
                field.storage.delete(field.name)
