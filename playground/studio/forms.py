from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.urls import reverse
from django.utils.html import format_html

from playground.accounts.models import Profile, Team
from playground.jobs import params
from playground.jobs.models import Run
from playground.jobs.services import submit_run
from playground.providers.models import ApiKey, KeyRefused, Provider, choose_key
from playground.studio.catalog import custom_size_problem, parse_size, rules_for

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NOT_SENT = ("", "Not sent")
SIZE_CHOICES = [
    NOT_SENT,
    ("auto", "auto"),
    ("1024x1024", "1024×1024 (square)"),
    ("1536x1024", "1536×1024 (landscape)"),
    ("1024x1536", "1024×1536 (portrait)"),
    ("256x256", "256×256 (dall-e-2)"),
    ("512x512", "512×512 (dall-e-2)"),
    ("1792x1024", "1792×1024 (dall-e-3 landscape)"),
    ("1024x1792", "1024×1792 (dall-e-3 portrait)"),
    ("custom", "Custom WxH…"),
]
QUALITY_CHOICES = [NOT_SENT] + [(q, q) for q in ("auto", "low", "medium", "high", "standard", "hd")]
STYLE_CHOICES = [NOT_SENT, ("vivid", "vivid"), ("natural", "natural")]
RESPONSE_FORMAT_CHOICES = [NOT_SENT, ("url", "url"), ("b64_json", "b64_json")]
BACKGROUND_CHOICES = [NOT_SENT] + [(b, b) for b in ("auto", "transparent", "opaque")]
MODERATION_CHOICES = [NOT_SENT, ("auto", "auto"), ("low", "low")]
OUTPUT_FORMAT_CHOICES = [NOT_SENT, ("png", "png"), ("jpeg", "jpeg"), ("webp", "webp")]
ASPECT_CHOICES = [NOT_SENT] + [
    (a, a) for a in ("1:1", "16:9", "9:16", "4:3", "3:4", "4:5", "5:4", "3:2", "2:3", "21:9")
]
IMAGE_SIZE_CHOICES = [NOT_SENT, ("1K", "1K"), ("2K", "2K"), ("4K", "4K")]

FAMILY_ONLY = {
    "style": "dall-e-3",
    "background": "the GPT image models",
    "moderation": "the GPT image models",
    "output_format": "the GPT image models",
    "output_compression": "the GPT image models",
}


class GenerateForm(forms.Form):
    kind = Run.Kind.GENERATE
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.none(), label="Provider", empty_label=None
    )
    model = forms.CharField(
        label="Model (model)",
        max_length=200,
        widget=forms.TextInput(attrs={"list": "model-options", "autocomplete": "off"}),
        help_text="Pick from the provider's list or type any model id.",
    )
    prompt = forms.CharField(
        label="Prompt (prompt)", widget=forms.Textarea(attrs={"rows": 4}), strip=True
    )
    n = forms.IntegerField(label="Number of images (n)", min_value=1, max_value=10, initial=1)
    size = forms.ChoiceField(label="Size (size)", choices=SIZE_CHOICES, required=False)
    custom_size = forms.CharField(
        label="Custom size (WIDTHxHEIGHT)",
        required=False,
        max_length=11,
        widget=forms.TextInput(attrs={"placeholder": "1536x864"}),
    )
    quality = forms.ChoiceField(label="Quality (quality)", choices=QUALITY_CHOICES, required=False)
    # Generation-only fields are Optional: EditForm removes them by setting them to None.
    style: forms.ChoiceField | None = forms.ChoiceField(
        label="Style (style)", choices=STYLE_CHOICES, required=False
    )
    response_format = forms.ChoiceField(
        label="Response format (response_format)", choices=RESPONSE_FORMAT_CHOICES, required=False
    )
    background = forms.ChoiceField(
        label="Background (background)", choices=BACKGROUND_CHOICES, required=False
    )
    moderation = forms.ChoiceField(
        label="Moderation (moderation)", choices=MODERATION_CHOICES, required=False
    )
    output_format = forms.ChoiceField(
        label="Output format (output_format)", choices=OUTPUT_FORMAT_CHOICES, required=False
    )
    output_compression = forms.IntegerField(
        label="Compression % (output_compression)",
        min_value=0,
        max_value=100,
        required=False,
        help_text="0–100, only with jpeg or webp.",
    )
    # Django's form metaclass moves declared fields into base_fields, so on an instance `user` is
    # the person submitting (set in __init__) and `api_key` the key clean() chose. mypy cannot
    # see the metaclass: hence the instance types and the two ignores below.
    user: User = forms.CharField(  # type: ignore[assignment]  # a field named "user": see above
        label="End-user ID (user)",
        required=False,
        max_length=256,
        help_text="Passed to the upstream for abuse monitoring.",
    )
    aspect_ratio: forms.ChoiceField | None = forms.ChoiceField(
        label="Aspect ratio (image_config.aspect_ratio)", choices=ASPECT_CHOICES, required=False
    )
    image_size: forms.ChoiceField | None = forms.ChoiceField(
        label="Resolution tier (image_config.image_size)",
        choices=IMAGE_SIZE_CHOICES,
        required=False,
    )
    api_key: ApiKey | None = forms.TypedChoiceField(  # type: ignore[assignment]  # see `user`
        label="Send with key",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="Your own key is used unless you pick a team's shared key.",
    )
    team = forms.TypedChoiceField(label="Visible to", required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        cast(forms.ModelChoiceField, self.fields["provider"]).queryset = Provider.objects.filter(
            enabled=True
        )
        self.usable_keys = list(
            ApiKey.objects.usable_by(user).select_related("provider", "team").order_by("pk")
        )
        cast(forms.ChoiceField, self.fields["api_key"]).choices = [
            ("", "Default (your own key first)")
        ] + [(key.pk, key_choice_label(key)) for key in self.usable_keys]
        teams = Team.objects.filter(memberships__user=user).order_by("name")
        cast(forms.ChoiceField, self.fields["team"]).choices = [("", "Only me (private)")] + [
            (team.pk, f"Team {team.name}") for team in teams
        ]
        if not self.is_bound and "team" not in self.initial:
            self.initial["team"] = Profile.of(user).default_team_id
        self.api_key = None

    def clean_custom_size(self) -> str:
        value = self.cleaned_data["custom_size"].strip().lower().replace("×", "x")
        if value and not parse_size(value):
            raise forms.ValidationError("Write the size as WIDTHxHEIGHT, for example 1536x864.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        self._check_provider(data)
        self._resolve_size(data)
        self._check_model_rules(data)
        fmt = data.get("output_format")
        if data.get("output_compression") is not None and fmt not in ("jpeg", "webp"):
            self.add_error(
                "output_compression",
                "Compression applies only to jpeg or webp output; choose one of those formats.",
            )
        if data.get("background") == "transparent" and fmt == "jpeg":
            self.add_error("background", "A transparent background needs png or webp output.")
        provider = data.get("provider")
        wants_config = data.get("aspect_ratio") or data.get("image_size")
        if wants_config and provider and not provider.supports_image_config:
            self.add_error(
                "aspect_ratio" if data.get("aspect_ratio") else "image_size",
                f"{provider.name} is not set up to take image_config.",
            )
        return data

    def _check_provider(self, data: dict[str, Any]) -> None:
        provider = data.get("provider")
        if provider is None:
            return
        try:
            self.api_key = choose_key(self.user, provider, data.get("api_key"))
        except KeyRefused as refused:
            self.add_error(refused.field, _key_message(refused, provider))

    def _resolve_size(self, data: dict) -> None:
        if data.get("size") == "custom":
            if not data.get("custom_size"):
                self.add_error("custom_size", "Enter the custom size, or pick a preset.")
            data["size"] = data.get("custom_size", "")
        elif data.get("custom_size") and not data.get("size"):
            data["size"] = data["custom_size"]

    def _check_model_rules(self, data: dict) -> None:
        rules = rules_for(data.get("model", ""))
        if rules is None:
            return
        model = data["model"]
        prompt = data.get("prompt") or ""
        if len(prompt) > rules.prompt_max:
            self.add_error(
                "prompt",
                f"{model} takes at most {rules.prompt_max:,} characters; this has {len(prompt):,}.",
            )
        if data.get("n") and data["n"] > rules.n_max:
            self.add_error("n", f"{model} makes at most {rules.n_max} image(s) per request.")
        size = data.get("size")
        if size and size not in rules.sizes:
            parsed = parse_size(size)
            if rules.custom_sizes and parsed:
                problem = custom_size_problem(*parsed)
                if problem:
                    self.add_error("custom_size" if data.get("custom_size") else "size", problem)
            else:
                self.add_error(
                    "custom_size" if data.get("custom_size") else "size",
                    f"{model} takes these sizes: {', '.join(rules.sizes)}.",
                )
        if data.get("quality") and data["quality"] not in rules.qualities:
            self.add_error("quality", f"{model} takes quality {', '.join(rules.qualities)}.")
        for name, who in FAMILY_ONLY.items():
            value = data.get(name)
            if value not in (None, "") and name not in rules.params:
                self.add_error(name, f"Only {who} take {name}; {model} does not.")

    def run_fields(self) -> dict[str, Any]:
        """The run this form describes, as `submit_run` takes it (see `jobs.params`)."""
        data = self.cleaned_data
        provider = data["provider"]
        return {
            "owner": self.user,
            "team_id": data.get("team"),
            "provider": provider,
            "provider_name": provider.name,
            "api_key": self.api_key,
            "kind": self.kind,
            "model": data.get("model") or "",
            "prompt": data.get("prompt") or "",
            "params": params.stored(self.kind, dict(data, provider=provider.pk)),
        }

    def upstream_params(self) -> dict[str, Any]:
        """What the run will send: exactly what the user set, and nothing else."""
        fields = self.run_fields()
        return params.upstream(
            Run(
                kind=self.kind,
                model=fields["model"],
                prompt=fields["prompt"],
                params=fields["params"],
            )
        )

    def submit(self) -> Run:
        return submit_run(**self.run_fields())


def _key_message(refused: KeyRefused, provider: Provider) -> str:
    if refused.code == "missing":
        return format_html(
            'You have no API key for {}. <a href="{}">Add one on the Keys page</a>.',
            provider.name,
            reverse("providers:keys"),
        )
    if refused.code == "moved":
        return f"{provider.name}'s address changed since your key was saved; enter it again."
    return refused.message


def key_choice_label(key: ApiKey) -> str:
    if key.team is not None:
        # Members may use a team key but never see any part of it.
        label = f" ({key.label})" if key.label else ""
        return f"{key.provider.name}: team {key.team.name} key{label}"
    return f"{key.provider.name}: your key {key.hint}"


def initial_from_run(run: Run) -> dict[str, Any]:
    """Form values that reproduce a run ("Use these settings")."""
    initial = params.form_values(run)
    initial["team"] = run.team_id
    size = initial.get("size")
    if size and size not in dict(SIZE_CHOICES):
        initial["size"] = "custom"
        initial["custom_size"] = size
    return initial
