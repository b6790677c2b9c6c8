from __future__ import annotations

import contextlib
import hashlib
import io
import os
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from PIL import Image as PILImage

THUMBNAIL_EDGE = 512
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def image_path(instance: Image, filename: str) -> str:
    created = instance.run.created_at
    return f"images/{created:%Y/%m}/{instance.run_id}/{filename}"


class ImageQuerySet(models.QuerySet):
    def visible_to(self, user) -> ImageQuerySet:
        from playground.jobs.models import Run

        return self.filter(run__in=Run.objects.visible_to(user).values("pk"))


class Image(models.Model):
    """One stored result image with its WebP thumbnail."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey("jobs.Run", on_delete=models.CASCADE, related_name="images")
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
        ordering = ["run", "index"]

    def __str__(self) -> str:
        return f"{self.width}x{self.height} {self.format}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.format, "bin")

    @property
    def download_name(self) -> str:
        return f"run-{str(self.run_id)[:8]}-{self.index + 1}.{self.extension}"

    @classmethod
    def store(
        cls,
        run,
        index: int,
        data: bytes,
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
        ext = EXTENSIONS.get(image_format, "bin")
        image.file.save(f"{index + 1}-{digest[:12]}.{ext}", ContentFile(data), save=False)
        image.thumbnail.save(
            f"{index + 1}-{digest[:12]}-thumb.webp", ContentFile(make_thumbnail(data)), save=False
        )
        image.save()
        return image

    def delete_files(self) -> None:
        for field in (self.file, self.thumbnail):
            if field:
                field.storage.delete(field.name)


def make_thumbnail(data: bytes) -> bytes:
    with PILImage.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        has_alpha = img.mode in ("RGBA", "LA") or "transparency" in img.info
        if img.mode in ("RGB", "RGBA", "L", "LA"):
            # Shrink first: converting a 4096x4096 image first would hold a second full-size copy
            # (measured: 135 -> 70 MiB at 4096x4096, BENCHMARKS.md figure 4).
            img.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        img = img.convert("RGBA" if has_alpha else "RGB")
        img.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        out = io.BytesIO()
        img.save(out, "WEBP", quality=80, method=4)
        return out.getvalue()


# Review data attaches to runs, not to single images: a run is one prompt with one set of
# parameters, which is what a team approves, rates, tags and discusses. The lightbox shows the
# run's review next to each of its images.


class Rating(models.Model):
    """One person's 1–5 stars for a run."""

    run = models.ForeignKey("jobs.Run", on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings"
    )
    stars = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "user"], name="one_rating_per_person"),
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="stars_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} rated {self.run_id}: {self.stars}"


class Favourite(models.Model):
    """A run one person marked for themselves; nobody else sees it."""

    run = models.ForeignKey("jobs.Run", on_delete=models.CASCADE, related_name="favourites")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "user"], name="one_favourite_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.user} ♥ {self.run_id}"


class Tag(models.Model):
    """A label shared by everyone who can see the runs it is on (names are lower case)."""

    MAX_LENGTH = 40

    name = models.CharField(max_length=MAX_LENGTH, unique=True)
    runs = models.ManyToManyField("jobs.Run", through="RunTag", related_name="tags")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def normalize(name: str) -> str:
        return " ".join(name.split()).lower()


class RunTag(models.Model):
    run = models.ForeignKey("jobs.Run", on_delete=models.CASCADE, related_name="run_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="run_tags")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "tag"], name="tag_once_per_run")]
        # Filtering the gallery by tag walks tag → runs.
        indexes = [models.Index(fields=["tag", "run"])]

    def __str__(self) -> str:
        return f"{self.tag} on {self.run_id}"


class Comment(models.Model):
    """Plain text: rendered escaped, never as HTML or Markdown."""

    MAX_LENGTH = 4000

    run = models.ForeignKey("jobs.Run", on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="comments"
    )
    body = models.TextField(max_length=MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["run", "created_at"])]

    def __str__(self) -> str:
        return f"comment by {self.author} on {self.run_id}"


class Review(models.Model):
    """The team's verdict on a run, set by a reviewer of the run's team. No row means none."""

    class State(models.TextChoices):
        NONE = "none", "Not reviewed"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    run = models.OneToOneField(
        "jobs.Run", on_delete=models.CASCADE, primary_key=True, related_name="review"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.NONE)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.state}"


def with_review(runs: models.QuerySet, user) -> models.QuerySet:
    """Annotate what a tile shows about a run's review, in the same query as the runs."""
    ratings = Rating.objects.filter(run=models.OuterRef("pk")).order_by().values("run")
    comments = Comment.objects.filter(run=models.OuterRef("pk")).order_by().values("run")
    return runs.annotate(
        rating_avg=models.Subquery(ratings.annotate(avg=models.Avg("stars")).values("avg")),
        rating_count=Coalesce(
            models.Subquery(ratings.annotate(n=models.Count("pk")).values("n")), 0
        ),
        my_rating=models.Subquery(
            Rating.objects.filter(run=models.OuterRef("pk"), user=user).values("stars")[:1]
        ),
        is_favourite=models.Exists(Favourite.objects.filter(run=models.OuterRef("pk"), user=user)),
        comment_count=Coalesce(
            models.Subquery(comments.annotate(n=models.Count("pk")).values("n")), 0
        ),
        review_state=Coalesce("review__state", models.Value(Review.State.NONE)),
    )


def can_review(user, run) -> bool:
    """Only reviewers of the run's own team approve or reject it; a private run has no team."""
    from playground.accounts.models import Membership

    if run.team_id is None:
        return False
    return Membership.objects.filter(
        user=user, team_id=run.team_id, role=Membership.Role.REVIEWER
    ).exists()


def can_delete(user, run) -> bool:
    """The owner, or staff for any run they can see (private stays private, even to staff)."""
    return run.owner_id == user.pk or user.is_staff


class RerunRefused(Exception):
    """Why a run cannot be sent again by this user; nothing was created."""


def rerun(run, user):
    """Send a run's parameters again as a new run of `user`'s, through `submit_run`.

    The key is reused only while this user may still use it; otherwise their default key for the
    provider is taken. The run stays shared with its team only if the user is in that team. An
    edit is repeated with its stored references and mask (the files are shared, not copied).
    """
    from playground.accounts.models import team_ids
    from playground.jobs.models import Run
    from playground.jobs.submit import RunRefused, submit_run
    from playground.providers.models import ApiKey

    provider = run.provider
    if provider is None or not provider.enabled:
        raise RerunRefused(f"{run.provider_name} is no longer available.")
    key = None
    if run.api_key_id:
        key = ApiKey.objects.usable_by(user).filter(pk=run.api_key_id, provider=provider).first()
    if key is None:
        key = provider.key_for(user)
    if provider.requires_key and key is None:
        raise RerunRefused(f"You have no API key for {provider.name}; add one on the Keys page.")
    if key is not None and key.needs_reentry:
        raise RerunRefused(
            f"{provider.name}'s address changed since your key was saved; enter it again on Keys."
        )
    attach = None
    if run.kind == Run.Kind.EDIT:
        inputs = list(run.inputs.all())
        if not any(item.role == "reference" for item in inputs):
            raise RerunRefused(
                "This edit's input images were not kept, so it cannot be repeated from here."
            )

        def attach(new_run) -> None:
            for item in inputs:
                item.copy_for(new_run, item.role, item.position)

    params = dict(run.params)
    params.pop("api_key", None)
    if key is not None and key.pk == run.api_key_id and "api_key" in run.params:
        params["api_key"] = key.pk
    in_team = run.team_id and team_ids(user).filter(team_id=run.team_id).exists()
    try:
        return submit_run(
            owner=user,
            team_id=run.team_id if in_team else None,
            provider=provider,
            provider_name=provider.name,
            api_key=key,
            kind=run.kind,
            model=run.model,
            prompt=run.prompt,
            params=params,
            attach=attach,
        )
    except RunRefused as exc:
        raise RerunRefused(exc.message) from exc


def delete_run(run) -> None:
    """Delete a finished run, its review data and its image files."""
    images = list(run.images.all())
    with transaction.atomic():
        run.delete()
    # After the rows are gone: a failed delete must not leave rows pointing at missing files.
    folders = set()
    for image in images:
        image.delete_files()
        folders.add(os.path.dirname(image.file.name))
    for folder in folders:
        _remove_empty_folder(image.file.storage, folder)


def _remove_empty_folder(storage, folder: str) -> None:
    try:
        path = storage.path(folder)
    except NotImplementedError:
        return  # object storage has no folders to leave behind
    with contextlib.suppress(OSError):
        os.rmdir(path)
