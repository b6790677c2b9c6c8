"""The edit form: a prompt, 1-16 reference images and an optional mask, plus the edit options.

References come as kept inputs (uploads of an earlier, invalid submission or the inputs of the
run being re-run), gallery picks, uploaded files and typed URLs, sent in that order; the mask
applies to the first. A submission that does not validate stores what was accepted as pending
inputs and re-renders them as kept inputs, so nothing has to be uploaded twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms

from playground import imaging
from playground.jobs import params
from playground.jobs.models import Image, Run, RunInput
from playground.jobs.services import submit_run
from playground.studio.catalog import rules_for
from playground.studio.forms import BACKGROUND_CHOICES, NOT_SENT, GenerateForm
from playground.studio.inputs import (
    MAX_URL_LENGTH,
    Candidate,
    MultipleFileField,
    check_image_bytes,
    check_mask_bytes,
    decode_data_url,
    read_upload,
    url_problem,
    uuids,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import QueryDict

MAX_REFERENCES = 16

EDIT_SIZE_CHOICES = [
    NOT_SENT,
    ("1024x1024", "1024×1024 (square)"),
    ("auto", "auto (from the first reference)"),
    ("1536x1024", "1536×1024 (landscape)"),
    ("1024x1536", "1024×1536 (portrait)"),
    ("256x256", "256×256 (dall-e-2)"),
    ("512x512", "512×512 (dall-e-2)"),
    ("custom", "Custom WxH… (gpt-image-2)"),
]
EDIT_QUALITY_CHOICES = [NOT_SENT] + [(q, q) for q in ("auto", "low", "medium", "high", "standard")]
INPUT_FIDELITY_CHOICES = [NOT_SENT, ("high", "high"), ("low", "low")]
WATERMARK_CHOICES = [NOT_SENT, ("true", "true"), ("false", "false")]


class EditForm(GenerateForm):
    kind = Run.Kind.EDIT
    # Generation-only parameters.
    style = None
    aspect_ratio = None
    image_size = None

    size = forms.ChoiceField(
        label="Size (size)", choices=EDIT_SIZE_CHOICES, required=False, initial="1024x1024"
    )
    quality = forms.ChoiceField(
        label="Quality (quality)", choices=EDIT_QUALITY_CHOICES, required=False
    )
    background = forms.ChoiceField(
        label="Background (background)", choices=BACKGROUND_CHOICES, required=False
    )
    input_fidelity = forms.ChoiceField(
        label="Input fidelity (input_fidelity)",
        choices=INPUT_FIDELITY_CHOICES,
        required=False,
        help_text="How closely to keep faces and details of the references.",
    )
    watermark = forms.TypedChoiceField(
        label="Watermark (watermark)",
        choices=WATERMARK_CHOICES,
        required=False,
        coerce=lambda value: value == "true",
        empty_value=None,
        help_text="Relay gateways only; OpenAI refuses it.",
    )

    references = forms.MultipleChoiceField(
        label="Chosen references",
        required=False,
        error_messages={"invalid_choice": "A chosen reference is no longer available: %(value)s."},
    )
    gallery = forms.MultipleChoiceField(
        label="From the gallery",
        required=False,
        error_messages={"invalid_choice": "That gallery image is not available to you."},
    )
    # A field named "files": the form metaclass moves it into base_fields, so self.files stays
    # the request's uploads (BaseForm.files), which mypy cannot see.
    files = MultipleFileField(  # type: ignore[assignment]  # see above
        label="Upload references (image)",
        required=False,
        help_text="PNG, JPEG or WebP; several at once.",
    )
    urls = forms.CharField(
        label="Reference URLs (image), one per line",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://example.com/photo.png"}),
        help_text="http(s) or data:image/… URLs.",
    )
    mask_keep = forms.ChoiceField(
        label="Keep this mask",
        required=False,
        error_messages={"invalid_choice": "That mask is no longer available; give it again."},
    )
    mask_file = forms.FileField(
        label="Upload a mask (mask)",
        required=False,
        help_text="A PNG the size of the first reference; transparent where to edit.",
    )
    mask_painted = forms.FileField(label="Painted mask (mask)", required=False)
    mask_url = forms.CharField(label="Mask URL (mask)", required=False, max_length=MAX_URL_LENGTH)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.fields["files"].widget.attrs["accept"] = "image/png,image/jpeg,image/webp"
        self.fields["mask_file"].widget.attrs["accept"] = "image/png"
        self.fields["mask_painted"].widget.attrs["accept"] = "image/png"
        self.reference_candidates: list[Candidate] = []
        self.mask_candidate: Candidate | None = None
        self.rejected_lines: list[str] = []
        self._load_choices()

    def _values(self, name: str) -> list:
        if self.is_bound and hasattr(self.data, "getlist"):
            return self.data.getlist(name)
        value = (self.data if self.is_bound else self.initial).get(name)
        return value if isinstance(value, list) else [value] if value else []

    def _load_choices(self) -> None:
        """Choices are exactly the submitted inputs and images this user may use."""
        tokens = uuids(self._values("references")) + uuids(self._values("mask_keep"))
        usable = RunInput.objects.usable_by(self.user).filter(pk__in=tokens)
        self.usable_inputs = {str(item.pk): item for item in usable}
        self.chosen_inputs = [
            self.usable_inputs[t]
            for t in uuids(self._values("references"))
            if t in self.usable_inputs
        ]
        cast(forms.ChoiceField, self.fields["references"]).choices = [
            (str(i.pk), i.label) for i in self.chosen_inputs
        ]
        masks = [
            self.usable_inputs[t]
            for t in uuids(self._values("mask_keep"))
            if t in self.usable_inputs
        ]
        self.kept_mask = masks[0] if masks else None
        cast(forms.ChoiceField, self.fields["mask_keep"]).choices = [("", "No mask")] + [
            (str(m.pk), m.label) for m in masks
        ]
        picked = uuids(self._values("gallery"))
        images = Image.objects.visible_to(self.user).select_related("run").filter(pk__in=picked)
        by_id = {str(image.pk): image for image in images}
        self.selected_images = [by_id[pk] for pk in picked if pk in by_id]
        cast(forms.ChoiceField, self.fields["gallery"]).choices = [
            (str(i.pk), str(i)) for i in self.selected_images
        ]

    # --- validation ---------------------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.reference_candidates = self._collect_references(data)
        self.mask_candidate = self._collect_mask(data)
        refs, mask = self.reference_candidates, self.mask_candidate
        reference_errors = any(
            self.has_error(f) for f in ("references", "gallery", "files", "urls")
        )
        if not refs and not reference_errors:
            self.add_error(
                "references",
                "Add at least one reference image: pick one from the gallery, upload one or "
                "give its URL.",
            )
        if len(refs) > MAX_REFERENCES:
            self.add_error(
                "references",
                f"An edit takes at most {MAX_REFERENCES} reference images; you gave {len(refs)}.",
            )
        if mask is not None and not refs:
            self.add_error(
                self._mask_field, "A mask needs a reference image to apply to; add one above."
            )
        elif mask is not None and mask.size and refs[0].size:
            problem = imaging.mask_size_problem(mask.size, refs[0].size)
            if problem:
                self.add_error(self._mask_field, problem)
        self._check_edit_rules(data)
        return data

    def _collect_references(self, data: dict) -> list[Candidate]:
        # Exactly the ticked inputs and images this user may use, in the order submitted; one
        # that is not available any more is reported by its field without dropping the others.
        found = [Candidate.of_input(item) for item in self.chosen_inputs]
        found += [Candidate.of_image(image) for image in self.selected_images]
        problems = []
        for upload in data.get("files") or []:
            label = upload.name
            try:
                payload = read_upload(upload, label)
                fmt, width, height = check_image_bytes(payload, label)
            except forms.ValidationError as exc:
                problems.extend(exc.messages)
                continue
            found.append(
                Candidate(
                    RunInput.Source.UPLOAD,
                    data=payload,
                    image_format=fmt,
                    width=width,
                    height=height,
                    name=label[:255],
                )
            )
        if problems:
            self.add_error("files", problems)
        problems = []
        for number, line in enumerate((data.get("urls") or "").splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            label = f"Line {number}"
            try:
                if line.lower().startswith("data:"):
                    found.append(decode_data_url(line, label))
                elif problem := url_problem(line):
                    raise forms.ValidationError(f"{label} {problem}.")
                else:
                    found.append(Candidate(RunInput.Source.URL, url=line))
            except forms.ValidationError as exc:
                problems.extend(exc.messages)
                self.rejected_lines.append(line)
        if problems:
            self.add_error("urls", problems)
        return found

    def _collect_mask(self, data: dict) -> Candidate | None:
        given = [name for name in ("mask_painted", "mask_file", "mask_url") if data.get(name)]
        self._mask_field = given[0] if given else "mask_keep"
        if len(given) > 1:
            self.add_error(given[1], "Give the mask one way only: painted, uploaded or by URL.")
            return None
        if not given:
            keep = data.get("mask_keep")
            if keep and self.kept_mask is not None and str(self.kept_mask.pk) == keep:
                return Candidate.of_input(self.kept_mask)
            return None
        name = given[0]
        try:
            if name == "mask_url":
                url = data["mask_url"].strip()
                if url.lower().startswith("data:"):
                    candidate = decode_data_url(url, "The mask data URL")
                    check_mask_bytes(candidate.data or b"", "The mask data URL")
                    return candidate
                if problem := url_problem(url):
                    raise forms.ValidationError(f"The mask URL {problem}.")
                return Candidate(RunInput.Source.URL, url=url)
            upload = data[name]
            label = "The painted mask" if name == "mask_painted" else upload.name
            payload = read_upload(upload, label)
            fmt, width, height = check_mask_bytes(payload, label)
        except forms.ValidationError as exc:
            self.add_error(name, exc)
            return None
        painted = name == "mask_painted"
        return Candidate(
            RunInput.Source.PAINTED if painted else RunInput.Source.UPLOAD,
            data=payload,
            image_format=fmt,
            width=width,
            height=height,
            name="painted mask" if painted else upload.name[:255],
        )

    def _check_edit_rules(self, data: dict) -> None:
        model = data.get("model") or ""
        rules = rules_for(model)
        if rules is None:
            return
        refs = self.reference_candidates
        if rules.family == "dall-e-3":
            self.add_error(
                "model", "dall-e-3 cannot edit images; use a GPT image model or dall-e-2."
            )
            return
        if data.get("input_fidelity") and (
            rules.family == "dall-e-2" or model.endswith("gpt-image-1-mini")
        ):
            self.add_error("input_fidelity", f"{model} does not take input_fidelity.")
        if rules.family != "dall-e-2":
            return
        provider = data.get("provider")
        if provider is not None and provider.edit_mode != "multipart":
            self.add_error(
                "model",
                f"dall-e-2 edits are multipart uploads only, and {provider.name} sends edits "
                "as JSON; pick a GPT image model or a provider in multipart mode.",
            )
        if len(refs) > 1:
            self.add_error("references", "dall-e-2 edits take exactly one reference image.")
        elif (
            refs
            and refs[0].size
            and (refs[0].image_format != "PNG" or refs[0].width != refs[0].height)
        ):
            self.add_error("references", "dall-e-2 edits need a square PNG reference image.")

    # --- outcome ------------------------------------------------------------------------------

    def keep_accepted(self) -> None:
        """After a failed submission: store what was accepted and show it as kept inputs."""
        refs = [c.pending(self.user, RunInput.Role.REFERENCE) for c in self.reference_candidates]
        data = cast("QueryDict", self.data).copy()  # bound to request.POST
        data.setlist("references", [str(item.pk) for item in refs])
        data.setlist("gallery", [])
        data["urls"] = "\n".join(self.rejected_lines)
        if self.mask_candidate is not None:
            data["mask_keep"] = str(self.mask_candidate.pending(self.user, "mask").pk)
            data["mask_url"] = ""
        elif not self.has_error("mask_url"):
            data["mask_keep"] = ""
        self.data = data
        self._load_choices()

    def submit(self) -> Run:
        def attach(run: Run) -> None:
            for position, candidate in enumerate(self.reference_candidates):
                candidate.attach(run, RunInput.Role.REFERENCE, position)
            if self.mask_candidate is not None:
                self.mask_candidate.attach(run, RunInput.Role.MASK, 0)

        return submit_run(attach=attach, **self.run_fields())


def edit_initial_from_run(run: Run) -> dict[str, Any]:
    """Form values that repeat an edit, its stored references and mask included."""
    initial = params.form_values(run)
    initial["team"] = run.team_id
    if isinstance(initial.get("watermark"), bool):
        initial["watermark"] = "true" if initial["watermark"] else "false"
    size = initial.get("size")
    if size and size not in dict(EDIT_SIZE_CHOICES):
        initial["size"] = "custom"
        initial["custom_size"] = size
    inputs = list(run.inputs.all())
    initial["references"] = [
        str(i.pk) for i in sorted(inputs, key=lambda i: i.position) if i.role == "reference"
    ]
    initial["mask_keep"] = next((str(i.pk) for i in inputs if i.role == "mask"), "")
    initial.setdefault("size", "")
    return initial
