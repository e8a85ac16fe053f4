from django.urls import path

from atalaia.monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("<uuid:key>", views.heartbeat, name="ping"),
    path("<uuid:key>/start", views.heartbeat, {"action": "start"}, name="ping_start"),
    path("<uuid:key>/fail", views.heartbeat, {"action": "fail"}, name="ping_fail"),
    path("<uuid:key>/<int:exit_code>", views.heartbeat, name="ping_exit"),
]
