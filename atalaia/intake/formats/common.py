from dataclasses import dataclass, field
from datetime import datetime


class InvalidEvent(ValueError):
    """An event that cannot be accepted; `errors` names each problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class Event:
    """One observation in our terms, whatever format it arrived in."""

    action: str                      # trigger | acknowledge | resolve
    dedup_key: str
    severity: str = "error"
    summary: str = ""
    service_hint: str = ""           # a service slug, if the sender named one
    details: dict = field(default_factory=dict)
    links: list = field(default_factory=list)
    happened_at: datetime | None = None


SEVERITIES = ("critical", "error", "warning", "info")


def text(value, name: str, errors: list[str], required: bool = False,
         max_length: int = 1024) -> str:
    if value is None or value == "":
        if required:
            errors.append(f"'{name}' is missing")
        return ""
    if not isinstance(value, str):
        errors.append(f"'{name}' must be a string")
        return ""
    if len(value) > max_length:
        errors.append(f"'{name}' is longer than {max_length} characters")
    return value[:max_length]


def safe_links(items) -> list[dict]:
    """Links as {href, text}, only http(s): a link is shown to people in the console,
    and a javascript: or data: address there would run in their session."""
    links = []
    for item in items[:20]:
        href = str(item.get("href", "")).strip()[:2048]
        if href.lower().startswith(("http://", "https://")):
            links.append({"href": href, "text": str(item.get("text", ""))[:255]})
    return links
