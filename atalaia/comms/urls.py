from django.urls import path

from atalaia.comms import views

app_name = "comms"
urlpatterns = [
    path("incidents/<int:incident_id>/update/", views.compose, name="compose"),
    path("incidents/<int:incident_id>/tickets/", views.link_ticket, name="link_ticket"),
    path("updates/<int:update_id>/correct/", views.correct, name="correct"),
    path("broadcasts/<int:broadcast_id>/retry/", views.broadcast_retry, name="broadcast_retry"),
    path("maintenance/", views.maintenance_list, name="maintenance"),
    path("maintenance/<int:maintenance_id>/move/", views.maintenance_move,
         name="maintenance_move"),
    path("channels/", views.channels, name="channels"),
    path("channels/<int:channel_id>/", views.channel_toggle, name="channel_toggle"),
]
