"""Formatting for the accuracy numbers in admin templates."""

from django import template

register = template.Library()


@register.filter
def pct(value, digits=1):
    """0.9312 -> '93.1%'; None (nothing to measure) -> '—'."""
    if value is None or value == "":
        return "—"
    return f"{100 * float(value):.{int(digits)}f}%"


@register.filter
def interval(p):
    """A proportion's 95% Wilson interval, '[88.0%, 96.2%]', or '' when n is 0."""
    if not p or p.get("rate") is None:
        return ""
    return f"[{pct(p['ci_low'])}, {pct(p['ci_high'])}]"
