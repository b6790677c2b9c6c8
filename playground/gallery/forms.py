from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from playground.accounts.models import Team
from playground.gallery.models import Comment, Review, RunTag, Tag
from playground.jobs.models import Run

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SORTS = {
    "newest": ("-created_at", "-pk"),
    "oldest": ("created_at", "pk"),
    "rating": (
        models.F("rating_avg").desc(nulls_last=True),
        "-rating_count",
        "-created_at",
        "-pk",
    ),
}
RATING_CHOICES = [("", "Any rating"), ("unrated", "Not rated yet")] + [
    (str(n), f"{'★' * n} {n} or more" if n < 5 else "★★★★★ 5") for n in range(5, 0, -1)
]
# Enough words to narrow a search; more would only make a slow LIKE chain.
MAX_SEARCH_WORDS = 8
TAG_PATTERN = re.compile(r"^[\w][\w .:+#/-]*$")


class GalleryFilterForm(forms.Form):
    """The gallery's filters. They live in the URL, so any view can be shared or bookmarked."""

    q = forms.CharField(
        label="Search prompts",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "words in the prompt"}),
    )
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=[("", "Newest first"), ("oldest", "Oldest first"), ("rating", "Best rated")],
    )
    person = forms.TypedChoiceField(label="Person", required=False, coerce=int, empty_value=None)
    team = forms.ChoiceField(label="Shared with", required=False)
    provider = forms.ChoiceField(label="Provider", required=False)
    model = forms.ChoiceField(label="Model", required=False)
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "Any kind"), *Run.Kind.choices]
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Run.Status.choices]
    )
    since = forms.DateField(
        label="From date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    rating = forms.ChoiceField(label="Rating", required=False, choices=RATING_CHOICES)
    tag = forms.CharField(
        label="Tag",
        required=False,
        max_length=Tag.MAX_LENGTH,
        widget=forms.TextInput(attrs={"list": "tag-suggestions", "autocomplete": "off"}),
    )
    review = forms.ChoiceField(
        label="Review", required=False, choices=[("", "Any review state"), *Review.State.choices]
    )
    favourites = forms.BooleanField(label="Only my favourites", required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        visible = Run.objects.visible_to(user)
        people = get_user_model().objects.filter(pk__in=visible.values("owner_id"))
        cast(forms.ChoiceField, self.fields["person"]).choices = [("", "Anyone")] + [
            (p.pk, "me" if p.pk == user.pk else p.get_username())
            for p in people.order_by("username")
        ]
        teams = Team.objects.filter(memberships__user=user).order_by("name")
        cast(forms.ChoiceField, self.fields["team"]).choices = [
            ("", "Any"),
            ("private", "Private (only me)"),
        ] + [(str(t.pk), f"Team {t.name}") for t in teams]
        distinct = visible.order_by()
        providers = distinct.values_list("provider_name", flat=True).distinct()
        cast(forms.ChoiceField, self.fields["provider"]).choices = [("", "Any provider")] + [
            (name, name) for name in sorted(providers)
        ]
        model_names = distinct.exclude(model="").values_list("model", flat=True).distinct()
        cast(forms.ChoiceField, self.fields["model"]).choices = [("", "Any model")] + [
            (name, name) for name in sorted(model_names)
        ]

    def clean_tag(self) -> str:
        return Tag.normalize(self.cleaned_data["tag"])

    def clean_until(self):
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since and until and until < since:
            raise forms.ValidationError("The end date is before the start date.")
        return until

    @property
    def values(self) -> dict:
        """The valid filters only: a bad value is reported by its field and otherwise ignored."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "", False)}

    def active_count(self) -> int:
        return len([k for k in self.values if k not in ("q", "sort")])

    def apply(self, runs: models.QuerySet) -> models.QuerySet:
        """Filter and order runs already annotated with `with_review`."""
        v = self.values
        for word in v.get("q", "").split()[:MAX_SEARCH_WORDS]:
            runs = runs.filter(prompt__icontains=word)
        if "person" in v:
            runs = runs.filter(owner_id=v["person"])
        if v.get("team") == "private":
            runs = runs.filter(team__isnull=True)
        elif "team" in v:
            runs = runs.filter(team_id=int(v["team"]))
        for name in ("provider", "model", "kind", "status"):
            if name in v:
                field = "provider_name" if name == "provider" else name
                runs = runs.filter(**{field: v[name]})
        if "since" in v:
            runs = runs.filter(created_at__gte=_day_start(v["since"]))
        if "until" in v:
            runs = runs.filter(created_at__lt=_day_start(v["until"] + timedelta(days=1)))
        if v.get("rating") == "unrated":
            runs = runs.filter(rating_count=0)
        elif "rating" in v:
            runs = runs.filter(rating_avg__gte=int(v["rating"]))
        if "tag" in v:
            runs = runs.filter(pk__in=RunTag.objects.filter(tag__name=v["tag"]).values("run_id"))
        if "review" in v:
            runs = runs.filter(review_state=v["review"])
        if v.get("favourites"):
            runs = runs.filter(is_favourite=True)
        return runs.order_by(*SORTS[v.get("sort") or "newest"])


def _day_start(day) -> datetime:
    # A range on the indexed column itself, not on a date() of it.
    return timezone.make_aware(datetime.combine(day, time.min))


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(
        label="Your rating",
        coerce=int,
        choices=[(0, "Clear")] + [(n, f"{n} star{'s' if n > 1 else ''}") for n in range(1, 6)],
    )


class TagForm(forms.Form):
    name = forms.CharField(
        label="Add a tag",
        max_length=Tag.MAX_LENGTH,
        widget=forms.TextInput(attrs={"list": "tag-suggestions", "autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        name = Tag.normalize(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Type a tag.")
        if not TAG_PATTERN.match(name):
            raise forms.ValidationError(
                "Tags use letters, digits, spaces and . : + # / - _ (starting with a letter "
                "or digit)."
            )
        return name


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Add a comment",
        max_length=Comment.MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Plain text.",
    )


class ReviewForm(forms.Form):
    state = forms.ChoiceField(label="Review", choices=Review.State.choices)


class TeamChoiceForm(forms.Form):
    """Private or one of the user's teams: the run's visibility, or the default for new runs."""

    team = forms.TypedChoiceField(label="Visible to", required=False, coerce=int, empty_value=None)

    def __init__(
        self, *args: Any, user: User, current_team: Team | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        teams = list(Team.objects.filter(memberships__user=user).order_by("name"))
        choices = [("", "Only me (private)")] + [(t.pk, f"Team {t.name}") for t in teams]
        if current_team is not None and current_team not in teams:
            # Shared with a team the owner has left since: keep it listed so a save keeps it.
            choices.append((current_team.pk, f"Team {current_team.name} (you left it)"))
        cast(forms.ChoiceField, self.fields["team"]).choices = choices
