from django.urls import path

from atalaia.oncall import views

app_name = "oncall"
urlpatterns = [
    path("", views.schedule_list, name="list"),
    path("new/", views.schedule_new, name="new"),
    path("<int:schedule_id>/", views.schedule_detail, name="detail"),
    path("<int:schedule_id>/edit/", views.schedule_edit, name="edit"),
    path("<int:schedule_id>/delete/", views.schedule_delete, name="delete"),
    path("<int:schedule_id>/feed/reset/", views.schedule_feed_reset, name="feed_reset"),
    path("<int:schedule_id>/layers/new/", views.layer_new, name="layer_new"),
    path("<int:schedule_id>/layers/<int:layer_id>/", views.layer_edit, name="layer_edit"),
    path("<int:schedule_id>/layers/<int:layer_id>/delete/", views.layer_delete,
         name="layer_delete"),
    path("<int:schedule_id>/overrides/new/", views.override_new, name="override_new"),
    path("<int:schedule_id>/overrides/<int:override_id>/delete/", views.override_delete,
         name="override_delete"),
    path("my-feed/reset/", views.person_feed_reset, name="person_feed_reset"),
    # Private feeds: the token in the URL is the credential (no login).
    path("feeds/schedule/<int:schedule_id>/<str:token>.ics", views.schedule_feed,
         name="schedule_feed"),
    path("feeds/person/<int:user_id>/<str:token>.ics", views.person_feed, name="person_feed"),
]
