import time

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from atalaia.accounts.permissions import can
from atalaia.web.health import Health, health

NAV_CAPABILITIES = ("view", "users.manage", "audit.view", "plan.edit", "incident.declare",
                    "integrations.manage", "deliveries.view", "people.view", "remote.manage")


# The console asks at most every few seconds, not on every page.
HEALTH_SECONDS = 5.0
_health: tuple[float, Health] | None = None


def console_health() -> Health:
    global _health
    if _health is None or _health[0] < time.monotonic():
        _health = (time.monotonic() + HEALTH_SECONDS, health())
    return _health[1]


def forget_health() -> None:
    global _health
    _health = None


def site(request):
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "site_name": settings.SITE_NAME,
        "mailcatcher": bool(settings.MAILCATCHER_PORT),
        "nav": {cap.replace(".", "_"): can(user, cap) for cap in NAV_CAPABILITIES},
        # Only people signed in see that a part is down (and only pages that show it ask).
        "health": SimpleLazyObject(console_health) if signed_in else None,
    }
