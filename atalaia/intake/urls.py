from django.urls import path

from atalaia.intake import views

app_name = "intake"
urlpatterns = [
    path("pagerduty/v2/enqueue", views.pagerduty_enqueue, name="pagerduty"),
    path("pagerduty/v2/change/enqueue", views.pagerduty_change, name="pagerduty_change"),
    path("alertmanager", views.alertmanager_webhook, name="alertmanager"),
    path("alertmanager/<str:key>", views.alertmanager_webhook, name="alertmanager_key"),
    path("generic", views.generic_webhook, name="generic"),
    path("generic/<str:key>", views.generic_webhook, name="generic_key"),
]
