from django.urls import path

from atalaia.remote import views

app_name = "remote"
urlpatterns = [
    path("hosts/", views.hosts, name="hosts"),
    path("hosts/<int:host_id>/trust/", views.trust, name="trust"),
    path("credentials/", views.credential_add, name="credential_add"),
    path("runbooks/", views.runbook_list, name="runbooks"),
    path("incidents/<int:incident_id>/runs/", views.run_request, name="run_request"),
    path("incidents/<int:incident_id>/sessions/", views.session_attach, name="session_attach"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/live.json", views.run_live, name="run_live"),
    path("runs/<int:run_id>/decide/", views.run_decide, name="run_decide"),
    path("runs/<int:run_id>/fix/", views.run_fix, name="run_fix"),
    path("runs/<int:run_id>/hosts/<int:row_id>/recording/", views.recording,
         name="recording"),
]
