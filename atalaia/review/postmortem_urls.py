"""The post-mortem's console pages; included under review/ by the root URLconf."""

from django.urls import path

from atalaia.review import postmortem_views as views

urlpatterns = [
    path("<int:incident_id>/postmortem/", views.page, name="postmortem"),
    path("<int:incident_id>/postmortem/publish/", views.publish, name="postmortem_publish"),
    path("<int:incident_id>/postmortem.md", views.download, {"fmt": "md"}, name="postmortem_md"),
    path("<int:incident_id>/postmortem.html", views.download, {"fmt": "html"},
         name="postmortem_html"),
    path("<int:incident_id>/postmortem.pdf", views.download, {"fmt": "pdf"},
         name="postmortem_pdf"),
]
