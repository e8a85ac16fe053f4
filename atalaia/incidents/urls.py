from django.urls import path

from atalaia.incidents import views

app_name = "incidents"
urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.declare, name="declare"),
    path("<int:incident_id>/", views.room, name="room"),
    path("<int:incident_id>/live/", views.live_stream, name="live"),
    path("<int:incident_id>/do/<str:action>/", views.act, name="act"),
]
