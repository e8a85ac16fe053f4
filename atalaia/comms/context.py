"""The public status site's branding and links, for every public template."""

from django.conf import settings


def public(request) -> dict:
    return {
        "brand": {"name": settings.STATUS_NAME, "logo": settings.STATUS_LOGO_URL,
                  "color": settings.STATUS_COLOR},
        "links": {"home": "/status/", "history": "/status/history/",
                  "subscribe": "/status/subscribe/", "feed": "/status/feed.atom",
                  "calendar": "/status/maintenance.ics", "api": "/status/api/v2/summary.json",
                  "style": "/status/style.css"},
    }
