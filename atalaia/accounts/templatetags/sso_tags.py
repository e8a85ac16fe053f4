from django import template
from django.conf import settings

from atalaia.accounts.sso import may_use_password

register = template.Library()


@register.simple_tag(takes_context=True)
def sso_login(context, form) -> dict:
    """What the login page offers: the provider's button, and the password form unless
    passwords are off (then only behind ?local=1, for the break-glass admin)."""
    request = context["request"]
    enabled = bool(settings.OIDC_ISSUER)
    return {
        "enabled": enabled,
        "provider": settings.OIDC_PROVIDER_NAME,
        # A password refused because passwords are off, not because it is wrong.
        "refused": bool(getattr(form, "errors", None))
                   and not may_use_password(form.data.get("username", "")),
        "password_form": not settings.SSO_ONLY or "local" in request.GET
                         or request.method == "POST",
    }
