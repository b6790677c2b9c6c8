from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

INTERRUPTED_MESSAGE = (
    "No process was working on this run any more (the server stopped or restarted while the "
    "upstream call was in flight). It was not sent again, so it cannot have been billed twice; "
    "re-run it if you still need the result."
)


class RunQuerySet(models.QuerySet):
    def visible_to(self, user) -> RunQuerySet:
        """Own runs, and runs shared with one of the user's teams."""
        from playground.accounts.models import team_ids

        return self.filter(models.Q(owner=user) | models.Q(team__in=team_ids(user)))

    def claim(self, run_id, worker: str) -> bool:
        """Atomically move a queued run to running. Only one worker can ever win this."""
        now = timezone.now()
        claimed = self.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker
        )
        return claimed == 1

    def heartbeat(self, run_ids, worker: str) -> int:
        return self.filter(pk__in=list(run_ids), worker=worker, status=Run.Status.RUNNING).update(
            heartbeat_at=timezone.now()
        )

    def sweep_stale(self, stale_seconds: int | None = None) -> int:
        """End running runs whose worker stopped sending heartbeats."""
        stale = stale_seconds if stale_seconds is not None else settings.RUN_STALE_SECONDS
        cutoff = timezone.now() - timedelta(seconds=stale)
        return self.filter(status=Run.Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=Run.Status.INTERRUPTED,
            finished_at=timezone.now(),
            error_kind="interrupted",
            error_message=INTERRUPTED_MESSAGE,
        )


class Run(models.Model):
    """One request to an upstream: its parameters, status, timings and outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    class Kind(models.TextChoices):
        GENERATE = "generate"
        EDIT = "edit"

    FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.INTERRUPTED}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs"
    )
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.SET_NULL, null=True, related_name="runs"
    )
    provider_name = models.CharField(max_length=100)
    # Visibility: None is private to the owner; a team shares the run with its members.
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    api_key = models.ForeignKey(
        "providers.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GENERATE)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    model = models.CharField(max_length=200, blank=True)
    prompt = models.TextField()
    # What the user set in the form, exactly: "Use these settings" refills the form from it.
    params = models.JSONField(default=dict)
    # The request as sent: method, URL and body. Never a header, so never a key.
    request = models.JSONField(default=dict, blank=True)
    response_summary = models.JSONField(default=dict, blank=True)
    usage = models.JSONField(null=True, blank=True)
    error_kind = models.CharField(max_length=20, blank=True)
    error_message = models.TextField(blank=True)
    error_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    upstream_started_at = models.DateTimeField(null=True, blank=True)
    upstream_finished_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def reference_inputs(self) -> list[RunInput]:
        """An edit's reference images in the order they were sent."""
        items = [i for i in self.inputs.all() if i.role == RunInput.Role.REFERENCE]
        return sorted(items, key=lambda i: i.position)

    @property
    def mask_input(self) -> RunInput | None:
        return next((i for i in self.inputs.all() if i.role == RunInput.Role.MASK), None)

    @staticmethod
    def _ms(start, end) -> int | None:
        if start and end:
            return int((end - start).total_seconds() * 1000)
        return None

    @property
    def queued_ms(self) -> int | None:
        return self._ms(self.created_at, self.started_at or self.finished_at)

    @property
    def upstream_ms(self) -> int | None:
        return self._ms(self.upstream_started_at, self.upstream_finished_at)

    @property
    def saving_ms(self) -> int | None:
        if self.status != self.Status.SUCCEEDED:
            return None
        return self._ms(self.upstream_finished_at, self.finished_at)

    @property
    def total_ms(self) -> int | None:
        return self._ms(self.created_at, self.finished_at)

    def elapsed_seconds(self) -> float:
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.created_at).total_seconds())

    def finish(self, worker: str, **fields) -> bool:
        """Record the outcome unless another worker owns the run.

        An interrupted run may still be completed by the worker that held it: a paid result that
        arrives late is kept rather than thrown away.
        """
        fields.setdefault("finished_at", timezone.now())
        updated = Run.objects.filter(
            pk=self.pk, worker=worker, status__in=[self.Status.RUNNING, self.Status.INTERRUPTED]
        ).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)
        return updated == 1


# --- the inputs of an edit run --------------------------------------------------------------

INPUT_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
INPUT_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# An upload kept for a form that did not validate lives this long before it is swept.
PENDING_INPUT_HOURS = 24


class RunInputQuerySet(models.QuerySet):
    def usable_by(self, user) -> RunInputQuerySet:
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
        return INPUT_CONTENT_TYPES.get(self.format, "application/octet-stream")

    @property
    def extension(self) -> str:
        return INPUT_EXTENSIONS.get(self.format, "bin")

    @property
    def size_label(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else ""

    @property
    def label(self) -> str:
        if not self.is_stored:
            return self.url
        return self.name or f"{self.get_source_display()} {self.size_label}".strip()

    def read(self) -> bytes:
        with self.file.open("rb") as fh:
            return fh.read()

    def data_url(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.read()).decode('ascii')}"

    @classmethod
    def store(
        cls,
        data: bytes,
        *,
        owner,
        source: str,
        image_format: str,
        width: int,
        height: int,
        role: str = Role.REFERENCE,
        name: str = "",
        picked_from=None,
    ) -> RunInput:
        """A pending input for verified image bytes (checked with Pillow by the caller)."""
        digest = hashlib.sha256(data).hexdigest()
        item = cls(
            owner=owner, source=source, role=role, format=image_format, width=width,
            height=height, bytes=len(data), sha256=digest, name=name[:255],
            picked_from=picked_from,
        )  # fmt: skip
        stem = f"inputs/{digest[:2]}/{digest}"
        item.file.name = _save_once(f"{stem}.{item.extension}", data)
        item.thumbnail.name = _save_once(f"{stem}-thumb.webp", None, source_data=data)
        item.save()
        return item

    def copy_for(self, run: Run, role: str, position: int) -> RunInput:
        """The same input for another run; stored bytes are shared, not copied."""
        copy = RunInput(
            owner=run.owner, run=run, role=role, position=position, source=self.source,
            url=self.url, format=self.format, width=self.width, height=self.height,
            bytes=self.bytes, sha256=self.sha256, name=self.name, picked_from=self.picked_from,
        )  # fmt: skip
        copy.file.name = self.file.name
        copy.thumbnail.name = self.thumbnail.name
        copy.save()
        return copy


def _save_once(name: str, data: bytes | None, *, source_data: bytes | None = None) -> str:
    """Content-addressed storage: identical bytes are written once and shared by every input."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    if default_storage.exists(name):
        return name
    if data is None:
        from playground.gallery.models import make_thumbnail

        data = make_thumbnail(source_data or b"")
    return default_storage.save(name, ContentFile(data))


@receiver(post_delete, sender=RunInput)
def _delete_unused_files(sender, instance: RunInput, **kwargs) -> None:
    """Delete an input's files once no other input shares them."""
    for field in ("file", "thumbnail"):
        name = getattr(instance, field).name
        if name and not RunInput.objects.filter(**{field: name}).exists():
            getattr(instance, field).storage.delete(name)
