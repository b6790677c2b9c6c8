"""Review data: ratings, favourites, tags, comments and the team's verdict on a run."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from playground.accounts.models import Membership
from playground.jobs.models import Run

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

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
    runs: models.ManyToManyField[Run, RunTag] = models.ManyToManyField(
        "jobs.Run", through="RunTag", related_name="tags"
    )
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


class ReviewAnnotations(TypedDict):
    """What `with_review` adds to each run."""

    rating_avg: float | None
    rating_count: int
    my_rating: int | None
    is_favourite: bool
    comment_count: int
    review_state: str


def with_review(
    runs: QuerySet[Run], user: User
) -> QuerySet[WithAnnotations[Run, ReviewAnnotations]]:
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


def can_review(user: User, run: Run) -> bool:
    """Only reviewers of the run's own team approve or reject it; a private run has no team."""
    if run.team_id is None:
        return False
    return Membership.objects.filter(
        user=user, team_id=run.team_id, role=Membership.Role.REVIEWER
    ).exists()


def can_delete(user: User, run: Run) -> bool:
    """The owner, or staff for any run they can see (private stays private, even to staff)."""
    return run.owner_id == user.pk or user.is_staff
