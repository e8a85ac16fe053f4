from django.urls import path

from atalaia.monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("ping/<uuid:key>", views.heartbeat, name="ping"),
    path("ping/<uuid:key>/start", views.heartbeat, {"action": "start"}, name="ping_start"),
    path("ping/<uuid:key>/fail", views.heartbeat, {"action": "fail"}, name="ping_fail"),
    path("ping/<uuid:key>/<int:exit_code>", views.heartbeat, name="ping_exit"),
    path("monitors/", views.monitor_list, name="list"),
    path("monitors/new/", views.monitor_new, name="new"),
    path("monitors/<int:monitor_id>/", views.monitor_detail, name="detail"),
    path("monitors/<int:monitor_id>/edit/", views.monitor_edit, name="edit"),
    path("monitors/<int:monitor_id>/delete/", views.monitor_delete, name="delete"),
    path("monitors/<int:monitor_id>/pause/", views.monitor_pause, {"paused": True},
         name="pause"),
    path("monitors/<int:monitor_id>/resume/", views.monitor_pause, {"paused": False},
         name="resume"),
    path("maintenance/", views.maintenance_list, name="maintenance"),
    path("maintenance/new/", views.maintenance_new, name="maintenance_new"),
    path("maintenance/<int:window_id>/edit/", views.maintenance_edit, name="maintenance_edit"),
    path("maintenance/<int:window_id>/delete/", views.maintenance_delete,
         name="maintenance_delete"),
]
