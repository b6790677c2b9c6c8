"""References and masks as a form accepts them: uploads, pasted data URLs, URLs, kept inputs.

Everything here checks one input and says what is wrong with it in words fit for the form.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from playground import imaging
from playground.jobs.models import Image, Run, RunInput

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DATA_URL_RE = re.compile(r"^data:image/(png|jpeg|jpg|webp);base64,(.*)$", re.IGNORECASE | re.DOTALL)
MAX_URL_LENGTH = 2048


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data if item]
        return [super().clean(data, initial)] if data else []


@dataclass
class Candidate:
    """A reference or mask as accepted from the form, before it is stored for a run."""

    source: str
    url: str = ""
    data: bytes | None = None
    image_format: str = ""
    width: int | None = None
    height: int | None = None
    name: str = ""
    existing: RunInput | None = None
    picked: Image | None = None

    @classmethod
    def of_input(cls, item: RunInput) -> Candidate:
        return cls(
            item.source,
            url=item.url,
            image_format=item.format,
            width=item.width,
            height=item.height,
            name=item.name,
            existing=item,
        )

    @classmethod
    def of_image(cls, image: Image) -> Candidate:
        name = f"gallery image {image.width}×{image.height} from run {str(image.run_id)[:8]}"
        return cls(
            RunInput.Source.GALLERY,
            image_format=image.format,
            width=image.width,
            height=image.height,
            name=name,
            picked=image,
        )

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None

    def pending(self, owner: User, role: str) -> RunInput:
        """This candidate as an input of no run yet (stored once, then reused)."""
        if self.existing is not None:
            return self.existing
        if self.picked is not None:
            with self.picked.file.open("rb") as fh:
                self.data = fh.read()
        if self.data is None:
            self.existing = RunInput.objects.create(
                owner=owner, source=self.source, role=role, url=self.url
            )
        else:
            self.existing = RunInput.store(
                self.data,
                owner=owner,
                source=self.source,
                role=role,
                image_format=self.image_format,
                width=self.width,
                height=self.height,
                name=self.name,
                picked_from=self.picked.pk if self.picked else None,
            )
        return self.existing

    def attach(self, run: Run, role: str, position: int) -> RunInput:
        item = self.pending(run.owner, role)
        # Claim a pending input for this run; an input that already has a run is shared instead.
        claimed = RunInput.objects.filter(pk=item.pk, run__isnull=True, owner=run.owner).update(
            run=run, role=role, position=position
        )
        return item if claimed else item.copy_for(run, role, position)


def check_image_bytes(data: bytes, label: str) -> tuple[str, int, int]:
    """Format allowlist, pixel cap and decompression-bomb refusal (Pillow, header first)."""
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            f"{label} is {filesizeformat(len(data))}; images may be at most "
            f"{filesizeformat(settings.MAX_UPLOAD_BYTES)}."
        )
    try:
        return imaging.verify_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    except imaging.ImageRejected as exc:
        raise forms.ValidationError(f"{label}: {exc}.") from None


def read_upload(upload, label: str) -> bytes:
    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            f"{label} is {filesizeformat(upload.size)}; uploads may be at most "
            f"{filesizeformat(settings.MAX_UPLOAD_BYTES)}."
        )
    return upload.read()


def url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in url:
        return "is not an http(s) URL or a data:image/… URL"
    if parts.username or parts.password:
        return "has a user name or password in it, which is not allowed"
    return None


def decode_data_url(text: str, label: str) -> Candidate:
    match = DATA_URL_RE.match(text)
    if match is None:
        raise forms.ValidationError(
            f"{label} is not a PNG, JPEG or WebP data URL (data:image/png;base64,…)."
        )
    try:
        data = base64.b64decode(re.sub(r"\s+", "", match.group(2)), validate=True)
    except (binascii.Error, ValueError):
        raise forms.ValidationError(f"{label} is not valid base64.") from None
    fmt, width, height = check_image_bytes(data, label)
    return Candidate(
        RunInput.Source.PASTED,
        data=data,
        image_format=fmt,
        width=width,
        height=height,
        name="pasted data URL",
    )


def check_mask_bytes(data: bytes, label: str) -> tuple[str, int, int]:
    fmt, width, height = check_image_bytes(data, label)
    if fmt != "PNG":
        raise forms.ValidationError(f"{label}: a mask must be a PNG (it needs transparency).")
    if not imaging.has_transparency(data):
        raise forms.ValidationError(
            f"{label} has no transparency: its transparent pixels mark where to edit."
        )
    return fmt, width, height


def uuids(values) -> list[str]:
    found = []
    for value in values or []:
        try:
            text = str(uuid.UUID(str(value)))
        except ValueError:
            continue
        if text not in found:
            found.append(text)
    return found
