from django.urls import path

from atalaia.review import dashboard, proposal_views

urlpatterns = [
    path("dashboard/", dashboard.dashboard, name="review_dashboard"),
    path("<int:incident_id>/plan/", proposal_views.propose, name="review_propose"),
    path("proposals/<int:proposal_id>/", proposal_views.proposal, name="review_proposal"),
    path("proposals/<int:proposal_id>/decide/", proposal_views.decide,
         name="review_proposal_decide"),
]
