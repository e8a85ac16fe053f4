from django.urls import path

from atalaia.review import views

app_name = "review"
urlpatterns = [
    path("actions/", views.action_items, name="action_items"),
    path("action-items/<int:item_id>/done/", views.action_item_done, name="action_item_done"),
    path("<int:incident_id>/", views.review_page, name="page"),
    path("<int:incident_id>/open/", views.review_open, name="open"),
    path("<int:incident_id>/feedback/", views.feedback, name="feedback"),
    path("<int:incident_id>/action-items/", views.action_item_add, name="action_item_add"),
    path("<int:incident_id>/complete/", views.review_complete, name="complete"),
]
