"""`postmortem_html`: a post-mortem's Markdown as HTML, for the public tracking page."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from atalaia.review.postmortem import to_fragment

register = template.Library()


@register.filter
def postmortem_html(markdown_text: str) -> SafeString:
    # to_fragment never lets markup from the text through (see postmortem.py).
    return mark_safe(to_fragment(str(markdown_text or "")))  # noqa: S308
