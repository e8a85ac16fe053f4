"""The public status site under /status/: no login."""

from django.urls import include, path

from atalaia.comms import feed_views, public_views

urlpatterns = [
    path("", public_views.status, name="status"),
    path("incidents/<int:incident_id>", public_views.incident, name="status_incident"),
    path("history/", public_views.history, name="status_history"),
    path("badge/<slug:slug>.svg", public_views.badge, name="status_badge"),
    path("banner.json", public_views.banner_json, name="status_banner_json"),
    path("banner.js", public_views.banner_script, name="status_banner_js"),
    path("banner/", public_views.banner_frame, name="status_banner"),
    path("style.css", public_views.stylesheet, name="status_style"),
    path("api/v2/", include("atalaia.comms.statuspage_urls")),
    path("feed.atom", feed_views.atom, name="status_feed"),
    path("maintenance.ics", feed_views.maintenance_calendar, name="status_calendar"),
]

# Subscriptions (subscription_views.py): sign-up, confirmation, manage, one-click unsubscribe.
from atalaia.comms import subscription_views  # noqa: E402

urlpatterns += [
    path("subscribe/", subscription_views.subscribe, name="status_subscribe"),
    path("subscribe/confirm/<str:token>/", subscription_views.confirm,
         name="status_subscribe_confirm"),
    path("subscription/<str:token>/", subscription_views.manage, name="status_subscription"),
    path("unsubscribe/<str:token>/", subscription_views.unsubscribe, name="status_unsubscribe"),
]
