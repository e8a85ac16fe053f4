from django.conf import settings

from atalaia.accounts.permissions import can

NAV_CAPABILITIES = ("view", "users.manage", "audit.view", "plan.edit", "incident.declare",
                    "integrations.manage")


def site(request):
    user = getattr(request, "user", None)
    return {
        "site_name": settings.SITE_NAME,
        "nav": {cap.replace(".", "_"): can(user, cap) for cap in NAV_CAPABILITIES},
    }
