"""The public status site under /status/: no login."""

from django.urls import include, path

urlpatterns = [
    path("api/v2/", include("atalaia.comms.statuspage_urls")),
]
