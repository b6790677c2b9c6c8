"""Serving stored images from object storage: a redirect to a short-lived signed URL.

The bucket stays private. Only a view that has already checked the user's permission calls this,
so a signed URL is handed to exactly the people who may see the image, and it stops working after
`MEDIA_URL_SECONDS`. Local files (the default storage) are streamed by the view itself.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage
from django.http import HttpResponseRedirect

from playground.jobs.models import Image


def signs_urls(storage: Storage) -> bool:
    """True for storages whose files are fetched by the browser from a signed URL."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages[s3] is only needed when media lives in a bucket
        return False
    return isinstance(storage, S3Storage) and storage.querystring_auth


def signed_redirect(image: Image, variant: str, download: bool) -> HttpResponseRedirect | None:
    """A redirect to a signed URL of the image (or its thumbnail); None for local storage."""
    field = image.thumbnail if variant == "thumb" else image.file
    if not signs_urls(field.storage):
        return None
    seconds = settings.MEDIA_URL_SECONDS
    # The bucket answers with these headers, whatever metadata the object was stored with.
    parameters = {"ResponseContentType": "image/webp" if variant == "thumb" else image.content_type}
    if download:
        parameters["ResponseContentDisposition"] = f'attachment; filename="{image.download_name}"'
    url = field.storage.url(field.name, parameters=parameters, expire=seconds)
    response = HttpResponseRedirect(url)
    # The browser may reuse the redirect (and so its cached image) while the URL is still valid.
    response["Cache-Control"] = f"private, max-age={max(0, seconds // 2)}"
    response["Referrer-Policy"] = "no-referrer"
    return response
