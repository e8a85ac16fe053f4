from django import template
from django.utils.translation import get_language, pgettext_lazy

from atalaia.catalog.models import Criticality
from atalaia.oncall.paging import describe_via
from atalaia.plans.schema import describe, pick_text

register = template.Library()


@register.filter
def get_item(mapping, key):
    """mapping[key] for keys a template cannot spell, such as 'pt-BR'."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


RISK_LABELS = {"low": pgettext_lazy("risk", "Low"), "medium": pgettext_lazy("risk", "Medium"),
               "high": pgettext_lazy("risk", "High")}


@register.filter
def risk_label(value):
    return RISK_LABELS.get(value, value)


@register.filter
def criticality_label(value):
    return dict(Criticality.choices).get(value, value)


@register.simple_tag
def level_reason(incident):
    """Why the plan gave this level, in the reader's language."""
    if incident.plan_level_details:
        return describe(incident.plan_level_details)
    return incident.plan_level_reason


@register.filter
def plan_text(text):
    return pick_text(text, get_language())


@register.filter
def page_via(via: str) -> str:
    """Why a person was paged, in the reader's language."""
    return describe_via(via)


@register.filter
def target_name(names, target):
    """An escalation target's current name, or the one it had when it was saved."""
    return names.get((target["kind"], target["id"]), target.get("name", ""))
