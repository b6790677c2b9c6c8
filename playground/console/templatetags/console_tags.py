from __future__ import annotations

from decimal import Decimal

from django import template

from playground.console.usage import format_units

register = template.Library()


@register.filter
def thousands(value) -> str:
    """12500 → 12,500; fractional quota units keep their decimals."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal | float):
        text = format_units(Decimal(str(value)))
        whole, _, fraction = text.partition(".")
        return f"{int(whole):,}" + (f".{fraction}" if fraction else "")
    return f"{int(value):,}"
