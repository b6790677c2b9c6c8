"""Runs and what they own: their inputs, their stored images, and the limits they count against."""

from playground.jobs.models.image import Image, ImageQuerySet
from playground.jobs.models.inputs import PENDING_INPUT_HOURS, RunInput, RunInputQuerySet
from playground.jobs.models.limit import Limit
from playground.jobs.models.run import INTERRUPTED_MESSAGE, Run, RunQuerySet

__all__ = [
    "INTERRUPTED_MESSAGE",
    "PENDING_INPUT_HOURS",
    "Image",
    "ImageQuerySet",
    "Limit",
    "Run",
    "RunInput",
    "RunInputQuerySet",
    "RunQuerySet",
]
