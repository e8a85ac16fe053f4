from django.urls import path

from atalaia.oncall import paging_views, views

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
    path("now/", paging_views.now, name="now"),
    path("pages/", paging_views.my_pages, name="my_pages"),
    path("pages/<int:page_id>/acknowledge/", paging_views.page_acknowledge,
         name="page_acknowledge"),
    path("pages/<int:page_id>/reassign/", paging_views.page_reassign, name="page_reassign"),
    path("escalations/<int:escalation_id>/escalate/", paging_views.escalate,
         name="escalate"),
    path("incidents/<int:incident_id>/activate/", paging_views.activate, name="activate"),
    path("incidents/<int:incident_id>/responders/", paging_views.add_responders,
         name="add_responders"),
    path("rules/", paging_views.rule_add, name="rule_add"),
    path("rules/<int:rule_id>/delete/", paging_views.rule_delete, name="rule_delete"),
    path("policies/", paging_views.policy_list, name="policies"),
    path("policies/new/", paging_views.policy_edit, name="policy_new"),
    path("policies/<int:policy_id>/", paging_views.policy_edit, name="policy_edit"),
    path("policies/<int:policy_id>/delete/", paging_views.policy_delete,
         name="policy_delete"),
    path("my-feed/reset/", views.person_feed_reset, name="person_feed_reset"),
    # Private feeds: the token in the URL is the credential (no login).
    path("feeds/schedule/<int:schedule_id>/<str:token>.ics", views.schedule_feed,
         name="schedule_feed"),
    path("feeds/person/<int:user_id>/<str:token>.ics", views.person_feed, name="person_feed"),
]
