"""A zip of runs, written while it is sent: original images and a JSON sidecar per run.

The archive goes through a write-through buffer that is emptied after every chunk, so memory
holds one chunk of one image at a time however large the export. Images are stored (they are
compressed already); the sidecars are deflated. Nothing secret goes in: no key, no key hint, no
key id, and no upstream result URL (those can carry signed tokens).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from playground.gallery.models import Review
from playground.jobs import params

if TYPE_CHECKING:
    from playground.jobs.models import Image

CHUNK_BYTES = 64 * 1024


class _Sink:
    """A write-only file for ZipFile: it keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass  # ZipFile never closes a file it was handed; this completes the file interface

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def folder_name(run) -> str:
    return f"{timezone.localtime(run.created_at):%Y%m%d-%H%M%S}-{str(run.pk)[:8]}"


def stream_zip(runs: Iterable, user, only_images: dict | None = None) -> Iterator[bytes]:
    """Yield the bytes of a zip of `runs`; `only_images` limits a run to some image ids."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        for run in runs:
            folder = folder_name(run)
            images = [
                image
                for image in run.images.all()
                if only_images is None
                or run.pk not in only_images
                or image.pk in only_images[run.pk]
            ]
            stored = []
            for image in images:
                name = f"{folder}/{image.download_name}"
                written = yield from _write_file(archive, sink, name, image, run.created_at)
                stored.append(image_record(image, name if written else None))
            archive.writestr(
                _info(f"{folder}/run.json", run.created_at, zipfile.ZIP_DEFLATED),
                json.dumps(sidecar(run, user, stored), indent=2, ensure_ascii=False),
            )
            yield sink.take()
    yield sink.take()


def _info(name: str, when: datetime, compression: int) -> zipfile.ZipInfo:
    local = timezone.localtime(when)
    info = zipfile.ZipInfo(name, date_time=local.timetuple()[:6])
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info


def _write_file(
    archive: zipfile.ZipFile, sink: _Sink, name: str, image: Image, when: datetime
) -> Generator[bytes, None, bool]:
    storage = image.file.storage
    try:
        source = storage.open(image.file.name, "rb")
    except FileNotFoundError:
        return False
    info = _info(name, when, zipfile.ZIP_STORED)
    info.file_size = image.bytes  # lets zipfile pick zip64 headers up front when needed
    with source, archive.open(info, "w") as target:
        while chunk := source.read(CHUNK_BYTES):
            target.write(chunk)
            yield sink.take()
    return True


def image_record(image, path: str | None) -> dict:
    return {
        "file": path,
        "missing": path is None,
        "index": image.index,
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "bytes": image.bytes,
        "sha256": image.sha256,
        "revised_prompt": image.revised_prompt,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def sidecar(run, user, images: list[dict]) -> dict:
    """Everything about a run except secrets: parameters, request, usage, timings, review."""
    return {
        "id": str(run.pk),
        "kind": run.kind,
        "status": run.status,
        "provider": run.provider_name,
        "model": run.model,
        "prompt": run.prompt,
        "owner": run.owner.get_username(),
        "team": run.team.name if run.team_id else None,
        "parameters": params.shown(run),
        "request": run.request,
        "response": run.response_summary,
        "usage": run.usage,
        "error": (
            {"kind": run.error_kind, "message": run.error_message, "status": run.error_status}
            if run.error_kind or run.error_message
            else None
        ),
        "timings": {
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "upstream_started_at": _iso(run.upstream_started_at),
            "upstream_finished_at": _iso(run.upstream_finished_at),
            "finished_at": _iso(run.finished_at),
            "queued_ms": run.queued_ms,
            "upstream_ms": run.upstream_ms,
            "saving_ms": run.saving_ms,
            "total_ms": run.total_ms,
        },
        "images": images,
        "review": review_record(run, user),
    }


def review_record(run, user) -> dict:
    ratings = sorted(run.ratings.all(), key=lambda r: r.user.get_username())
    review = getattr(run, "review", None)  # no row: never reviewed
    return {
        "state": review.state if review else Review.State.NONE,
        "decided_by": review.decided_by.get_username() if review and review.decided_by else None,
        "decided_at": _iso(review.decided_at) if review else None,
        "rating": {
            "average": (
                round(sum(r.stars for r in ratings) / len(ratings), 2) if ratings else None
            ),
            "count": len(ratings),
            "by": [{"user": r.user.get_username(), "stars": r.stars} for r in ratings],
        },
        "tags": sorted(tag.name for tag in run.tags.all()),
        "comments": [
            {
                "author": c.author.get_username() if c.author else None,
                "body": c.body,
                "created_at": _iso(c.created_at),
            }
            for c in run.comments.all()
        ],
        # Favourites are personal: only whether the person exporting marked it.
        "favourite": any(f.user_id == user.pk for f in run.favourites.all()),
    }
