"""The security headers of a response answered outside Django's middleware.

The WSGI fronts (comms/front.py, intake/front.py) answer some requests themselves;
what they send carries the headers Django's SecurityMiddleware, its clickjacking
middleware and django-csp put on every other response, built by those same
libraries from the same settings (CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS…).
"""

from __future__ import annotations

import functools

from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


@functools.cache  # built once: 25 µs a time is a share of an intake event's cost
def security_headers() -> tuple[tuple[str, str], ...]:
    headers = [("Content-Security-Policy", build_policy()),
               ("X-Frame-Options", settings.X_FRAME_OPTIONS)]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        headers.append(("Referrer-Policy",
                        policy if isinstance(policy, str) else ",".join(policy)))
    return tuple(headers)


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    security_headers.cache_clear()
