"""/status/api/v2/…: the Atlassian Statuspage public API shape (statuspage.py),
under Statuspage's own names."""

from django.urls import path

from atalaia.comms import statuspage_views as views

app_name = "statuspage"
urlpatterns = [
    path("summary.json", views.summary, name="summary"),
    path("status.json", views.status, name="status"),
    path("components.json", views.components, name="components"),
    path("incidents.json", views.incidents, name="incidents"),
    path("incidents/unresolved.json", views.unresolved_incidents, name="unresolved_incidents"),
    path("scheduled-maintenances.json", views.scheduled_maintenances,
         name="scheduled_maintenances"),
    path("scheduled-maintenances/upcoming.json", views.upcoming_maintenances,
         name="upcoming_maintenances"),
    path("scheduled-maintenances/active.json", views.active_maintenances,
         name="active_maintenances"),
]
