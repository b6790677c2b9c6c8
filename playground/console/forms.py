from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from django import forms
from django.contrib.auth import get_user_model

from playground import localtime
from playground.accounts.models import Membership, Team
from playground.audit.models import AuditEvent
from playground.jobs.models import Limit
from playground.providers.forms import ApiKeyForm
from playground.providers.models import ApiKey, Provider
from playground.upstream.requests import normalize_base_url

if TYPE_CHECKING:
    from django.http import QueryDict

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MAX_USAGE_DAYS = 366


def owner_choices() -> list:
    """Teams and users as one select: a key or a limit belongs to exactly one of them."""
    teams = [(f"team:{t.pk}", f"Team {t.name}") for t in Team.objects.order_by("name")]
    users = [
        (f"user:{u.pk}", u.get_username())
        for u in get_user_model().objects.filter(is_active=True).order_by("username")
    ]
    return [("", "Choose a team or a user…"), ("Teams", teams), ("Users", users)]


def parse_owner(value: str):
    """The Team or user a `team:<id>` / `user:<id>` choice names, or None."""
    kind, _, pk = (value or "").partition(":")
    if not pk.isdigit():
        return None
    if kind == "team":
        return Team.objects.filter(pk=pk).first()
    if kind == "user":
        return get_user_model().objects.filter(pk=pk, is_active=True).first()
    return None


def owner_value(owner) -> str:
    return f"team:{owner.pk}" if isinstance(owner, Team) else f"user:{owner.pk}"


class OwnerFormMixin:
    cleaned_data: dict[str, Any]  # mixed into a Form

    def clean_owner(self):
        owner = parse_owner(self.cleaned_data["owner"])
        if owner is None:
            raise forms.ValidationError("Choose a team or a user from the list.")
        return owner


class ProviderForm(forms.ModelForm):
    """A provider's settings; the model's fields, with the console's labels and bounds."""

    timeout = forms.IntegerField(
        label="Timeout (seconds)",
        min_value=5,
        max_value=900,
        initial=150,
        help_text="How long one image call may take before it is given up.",
    )
    quota_multiplier = forms.DecimalField(
        label="Quota multiplier",
        min_value=Decimal("0.001"),
        max_value=Decimal("10000"),
        max_digits=8,
        decimal_places=3,
        initial=Decimal(1),
        help_text="Quota units per image (5,000; 12,500 at 4K) are multiplied by this.",
    )

    class Meta:
        model = Provider
        fields = (
            "name",
            "base_url",
            "timeout",
            "quota_multiplier",
            "edit_mode",
            "output_format_field",
            "supports_image_config",
            "enabled",
            "requires_key",
            "is_local",
        )
        labels = {
            "name": "Name",
            "base_url": "Base URL",
            "edit_mode": "Edit request mode",
            "output_format_field": "Output format field",
            "supports_image_config": "Accepts image_config (aspect_ratio, image_size)",
            "enabled": "Enabled",
            "requires_key": "Requires an API key",
            "is_local": "Runs on this machine",
        }
        help_texts = {
            "base_url": "With or without a trailing /v1, e.g. https://api.openai.com/v1. Changing "
            "it makes every key stored for this provider need re-entry.",
            "output_format_field": "Some gateways take format instead of output_format.",
            "supports_image_config": "",
            "is_local": "Lets result URLs on its own host be fetched (the Demo only).",
        }
        widgets = {"base_url": forms.TextInput()}

    def values(self) -> dict[str, Any]:
        """The instance's current values of this form's fields (before or after validation)."""
        return {name: getattr(self.instance, name) for name in self._meta.fields or ()}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = Provider.objects.filter(name__iexact=name)
        if self.instance.pk is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("Another provider already has this name.")
        return name

    def clean_base_url(self) -> str:
        value = self.cleaned_data["base_url"].strip()
        parts = urlsplit(value)
        if "@" in parts.netloc:
            raise forms.ValidationError(
                "Leave credentials out of the address; store the key as a key instead."
            )
        try:
            return normalize_base_url(value)
        except ValueError:
            raise forms.ValidationError(
                "Enter an http:// or https:// address with a host and no query, e.g. "
                "https://api.openai.com/v1."
            ) from None


class AddKeyForm(OwnerFormMixin, ApiKeyForm):
    owner = forms.ChoiceField(
        label="Owner",
        help_text="A team key is used by the team's members and never shown to them.",
    )
    provider = forms.ModelChoiceField(
        label="Provider", queryset=Provider.objects.all(), empty_label="Choose a provider…"
    )

    field_order = ["owner", "provider", "label", "secret"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["owner"]).choices = owner_choices()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        owner, provider = data.get("owner"), data.get("provider")
        if owner is not None and provider is not None:
            by = {"team": owner} if isinstance(owner, Team) else {"user": owner}
            if ApiKey.objects.filter(provider=provider, **by).exists():
                self.add_error(
                    "owner",
                    f"{_owner_label(owner)} already has a key for {provider.name}: rotate it "
                    f"from the keys list instead.",
                )
        return data

    def owner_kwargs(self) -> dict[str, Any]:
        owner = self.cleaned_data["owner"]
        return {"team": owner} if isinstance(owner, Team) else {"user": owner}


class RotateKeyForm(ApiKeyForm):
    """A new secret for the same key: same owner, label, runs and history."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["label"]
        self.fields["secret"].label = "New API key"


class LimitForm(forms.Form):
    max_concurrent_runs = forms.IntegerField(
        label="Concurrent runs",
        required=False,
        min_value=0,
        max_value=10_000,
        help_text="Runs queued or running at once. Empty: no limit.",
    )
    max_images_per_day = forms.IntegerField(
        label="Images per day",
        required=False,
        min_value=0,
        max_value=1_000_000,
        help_text="Images requested (n) per day; resets at midnight. Empty: no limit.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        caps = (data.get("max_concurrent_runs"), data.get("max_images_per_day"))
        if not self.errors and all(cap is None for cap in caps):
            raise forms.ValidationError("Set at least one of the two; or remove the limit.")
        return data


class NewLimitForm(OwnerFormMixin, LimitForm):
    owner = forms.ChoiceField(label="Applies to")

    field_order = ["owner", "max_concurrent_runs", "max_images_per_day"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["owner"]).choices = owner_choices()

    def clean_owner(self):
        owner = super().clean_owner()
        by = {"team": owner} if isinstance(owner, Team) else {"user": owner}
        if Limit.objects.filter(**by).exists():
            raise forms.ValidationError(
                f"{_owner_label(owner)} has a limit already; change it in the list below."
            )
        return owner


class TeamForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Team.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError("A team with this name exists already.")
        return name


class MemberForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    role = forms.ChoiceField(
        label="Role", choices=Membership.Role.choices, initial=Membership.Role.MEMBER
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username__iexact=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is no active user called “{username}”.")
        if Membership.objects.filter(team=self.team, user=user).exists():
            raise forms.ValidationError(f"{user} is in {self.team} already.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


class UsageFilterForm(forms.Form):
    GROUPS = [
        ("user", "User"),
        ("team", "Team"),
        ("key", "Key"),
        ("provider", "Provider"),
        ("model", "Model"),
    ]
    METRICS = [
        ("units", "Quota units"),
        ("images", "Images"),
        ("runs", "Runs"),
        ("failures", "Failures"),
        ("tokens", "Tokens"),
    ]

    start = forms.DateField(label="From", widget=DATE_WIDGET, required=False)
    end = forms.DateField(label="To", widget=DATE_WIDGET, required=False)
    group = forms.ChoiceField(label="Per", choices=GROUPS, required=False)
    metric = forms.ChoiceField(label="Chart", choices=METRICS, required=False)
    user = forms.ModelChoiceField(
        label="User",
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="All users",
    )
    team = forms.ModelChoiceField(
        label="Team", queryset=Team.objects.all(), required=False, empty_label="All teams"
    )
    provider = forms.ModelChoiceField(
        label="Provider",
        queryset=Provider.objects.all(),
        required=False,
        empty_label="All providers",
    )
    key = forms.TypedChoiceField(
        label="Key", required=False, coerce=int, empty_value=None, choices=[]
    )
    model = forms.CharField(label="Model", required=False, max_length=200)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:
            # Missing filters take their defaults visibly, so the form shows what is applied.
            self.data = cast("QueryDict", self.data).copy()  # bound to request.GET
            for name, value in self._defaults().items():
                if not self.data.get(name):
                    self.data[name] = value
        cast(
            forms.ModelChoiceField, self.fields["user"]
        ).queryset = get_user_model().objects.order_by("username")
        keys = ApiKey.objects.select_related("provider", "user", "team").order_by(
            "provider__name", "pk"
        )
        cast(forms.ChoiceField, self.fields["key"]).choices = [("", "All keys")] + [
            (k.pk, f"{k.provider.name} {k.hint} ({k.owner_label})") for k in keys
        ]

    def _defaults(self) -> dict[str, str]:
        today = localtime.today()
        try:
            end = date.fromisoformat(self.data.get("end") or "")
        except ValueError:
            end = today
        return {
            "end": today.isoformat(),
            "start": (end - timedelta(days=29)).isoformat(),
            "group": "provider",
            "metric": "units",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        today = localtime.today()
        data["end"] = data.get("end") or today
        data["start"] = data.get("start") or data["end"] - timedelta(days=29)
        data["group"] = data.get("group") or "provider"
        data["metric"] = data.get("metric") or "units"
        if data["start"] > data["end"]:
            self.add_error("start", "The start date is after the end date.")
        elif (data["end"] - data["start"]).days >= MAX_USAGE_DAYS:
            self.add_error("start", f"Choose at most {MAX_USAGE_DAYS} days.")
        return data


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        label="Action", required=False, choices=[("", "All actions"), *AuditEvent.Action.choices]
    )
    target_type = forms.ChoiceField(
        label="About", required=False, choices=[("", "Anything"), *AuditEvent.Target.choices]
    )
    actor = forms.CharField(label="Who (username)", required=False, max_length=150)
    q = forms.CharField(label="Target contains", required=False, max_length=100)
    start = forms.DateField(label="From", widget=DATE_WIDGET, required=False)
    end = forms.DateField(label="To", widget=DATE_WIDGET, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("start", "The start date is after the end date.")
        return data


def _owner_label(owner) -> str:
    return f"Team {owner.name}" if isinstance(owner, Team) else str(owner)
