from django import template

from atalaia.comms.models import ComponentStatus
from atalaia.incidents.models import PublicStatus

register = template.Library()


@register.filter
def public_status(value: str) -> str:
    return str(PublicStatus(value).label) if value in PublicStatus.values else value


@register.filter
def component_status(value: str) -> str:
    return str(ComponentStatus(value).label) if value in ComponentStatus.values else value


@register.filter
def body(item, language: str) -> str:
    """An update's or a maintenance's text in the page's language."""
    return item.body(language or "en")


@register.filter
def title_in(item, language: str) -> str:
    return item.title(language or "en")


@register.filter
def get_bars(bars: dict, service_id: int):
    return bars.get(service_id)


@register.filter
def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.2f}%".replace(".00%", "%")
