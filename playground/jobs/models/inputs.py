from __future__ import annotations

import base64
import builtins
import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from playground import imaging
from playground.jobs.models.run import Run

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# An upload kept for a form that did not validate lives this long before it is swept.
PENDING_INPUT_HOURS = 24


class RunInputQuerySet(models.QuerySet["RunInput"]):
    def usable_by(self, user: User) -> RunInputQuerySet:
        """Inputs a user may reuse: their own pending uploads and the inputs of runs they see."""
        return self.filter(
            models.Q(run__isnull=True, owner=user)
            | models.Q(run__in=Run.objects.visible_to(user).values("pk"))
        )

    def sweep_pending(self, hours: int = PENDING_INPUT_HOURS) -> int:
        """Forget uploads of forms that were never submitted successfully (files included)."""
        cutoff = timezone.now() - timedelta(hours=hours)
        deleted, _ = self.filter(run__isnull=True, created_at__lt=cutoff).delete()
        return deleted


class RunInput(models.Model):
    """A reference image or the mask of an edit: a URL as given, or stored bytes.

    Uploads, gallery picks, pasted data URLs and painted masks are stored (content-addressed, so
    re-running an edit reuses the same file); URLs are kept as typed and fetched only when a
    multipart provider needs the bytes. Without a run the input is pending: accepted from a form
    that did not validate yet, owned by the user who uploaded it.
    """

    class Role(models.TextChoices):
        REFERENCE = "reference"
        MASK = "mask"

    class Source(models.TextChoices):
        URL = "url", "URL"
        UPLOAD = "upload", "upload"
        GALLERY = "gallery", "gallery"
        PASTED = "pasted", "pasted data URL"
        PAINTED = "painted", "painted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="run_inputs"
    )
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, null=True, blank=True, related_name="inputs"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REFERENCE)
    position = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices)
    url = models.TextField(blank=True)
    file = models.FileField(upload_to="inputs/", max_length=300, blank=True)
    thumbnail = models.FileField(upload_to="inputs/", max_length=300, blank=True)
    format = models.CharField(max_length=10, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # The file name as uploaded, or what the input was picked from; shown, never used as a path.
    name = models.CharField(max_length=255, blank=True)
    # The gallery image this was copied from (a plain id: the copy outlives the original).
    picked_from = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = RunInputQuerySet.as_manager()

    class Meta:
        ordering = ["run", "role", "position"]

    def __str__(self) -> str:
        return f"{self.role} {self.position + 1} ({self.source})"

    @property
    def is_stored(self) -> bool:
        return bool(self.file)

    @property
    def content_type(self) -> str:
        return imaging.content_type(self.format)

    @property
    def extension(self) -> str:
        return imaging.extension(self.format)

    @property
    def size_label(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else ""

    @property
    def label(self) -> str:
        if not self.is_stored:
            return self.url
        return self.name or f"{self.get_source_display()} {self.size_label}".strip()

    def read(self) -> builtins.bytes:
        with self.file.open("rb") as fh:
            return fh.read()

    def data_url(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.read()).decode('ascii')}"

    @classmethod
    def store(
        cls,
        data: builtins.bytes,
        *,
        owner: User,
        source: str,
        image_format: str,
        width: int | None,
        height: int | None,
        role: str = Role.REFERENCE,
        name: str = "",
        picked_from: uuid.UUID | None = None,
    ) -> RunInput:
        """A pending input for verified image bytes (checked with Pillow by the caller)."""
        digest = hashlib.sha256(data).hexdigest()
        item = cls(
            owner=owner,
            source=source,
            role=role,
            format=image_format,
            width=width,
            height=height,
            bytes=len(data),
            sha256=digest,
            name=name[:255],
            picked_from=picked_from,
        )
        stem = f"inputs/{digest[:2]}/{digest}"
        item.file.name = _save_once(f"{stem}.{item.extension}", data)
        item.thumbnail.name = _save_once(f"{stem}-thumb.webp", None, source_data=data)
        item.save()
        return item

    def copy_for(self, run: Run, role: str, position: int) -> RunInput:
        """The same input for another run; stored bytes are shared, not copied."""
        copy = RunInput(
            owner=run.owner,
            run=run,
            role=role,
            position=position,
            source=self.source,
            url=self.url,
            format=self.format,
            width=self.width,
            height=self.height,
            bytes=self.bytes,
            sha256=self.sha256,
            name=self.name,
            picked_from=self.picked_from,
        )
        copy.file.name = self.file.name
        copy.thumbnail.name = self.thumbnail.name
        copy.save()
        return copy


def _save_once(name: str, data: bytes | None, *, source_data: bytes | None = None) -> str:
    """Content-addressed storage: identical bytes are written once and shared by every input."""
    if default_storage.exists(name):
        return name
    if data is None:
        data = imaging.make_thumbnail(source_data or b"")
    return default_storage.save(name, ContentFile(data))


@receiver(post_delete, sender=RunInput)
def _delete_unused_files(sender: type[RunInput], instance: RunInput, **kwargs: Any) -> None:
    """Delete an input's files once no other input shares them."""
    for field in ("file", "thumbnail"):
        name = getattr(instance, field).name
        if name and not RunInput.objects.filter(**{field: name}).exists():
            getattr(instance, field).storage.delete(name)
