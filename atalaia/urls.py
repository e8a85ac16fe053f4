from django.urls import include, path
from django.views.generic import RedirectView

from atalaia.api import api
from atalaia.catalog import team_views as catalog_team_views
from atalaia.comms import public_views as comms_public_views
from atalaia.incidents.visibility import of_visible_incidents
from atalaia.intake import views as intake_views
from atalaia.notify import views as notify_views
from atalaia.oncall import paging_views as oncall_paging_views
from atalaia.review import metrics as review_metrics
from atalaia.review import views as review_views
from atalaia.web import views as web_views

READABLE = {"readable": of_visible_incidents}

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="incidents:list"), name="home"),
    path("healthz", web_views.healthz, name="healthz"),
    path("favicon.ico", web_views.favicon, name="favicon"),
    # Prometheus: loopback or the metrics token (atalaia/review/metrics.py).
    path("metrics", review_metrics.metrics, name="metrics"),
    path("api/v1/", api.urls),
    # PagerDuty clients post to /v2/enqueue on the host they are given.
    path("v2/enqueue", intake_views.pagerduty_enqueue, name="pagerduty_enqueue"),
    path("v2/change/enqueue", intake_views.pagerduty_change, name="pagerduty_change"),
    path("intake/", include("atalaia.intake.urls")),
    # Heartbeat pings (/ping/…), monitors and maintenance windows.
    path("", include("atalaia.monitoring.urls")),
    path("signals/", intake_views.inbox, name="signals"),
    path("signals/<int:signal_id>/<str:decision>/", intake_views.decide, name="signal_decide"),
    path("integrations/", intake_views.integrations, name="integrations"),
    # notify sits below incidents: these get the incidents' visibility rule from here.
    path("deliveries/", notify_views.deliveries, READABLE, name="deliveries"),
    path("deliveries/<int:delivery_id>/retry/", notify_views.retry, READABLE,
         name="delivery_retry"),
    path("contact/", notify_views.contact, name="contact"),
    path("contact/<int:method_id>/verify/", notify_views.contact_verify, name="contact_verify"),
    path("contact/<int:method_id>/resend/", notify_views.contact_resend, name="contact_resend"),
    path("contact/<int:method_id>/delete/", notify_views.contact_delete, name="contact_delete"),
    path("people/", notify_views.people, name="people"),
    path("teams/", catalog_team_views.teams, name="teams"),
    path("teams/<slug:slug>/members/", catalog_team_views.team_members, name="team_members"),
    path("mailcatcher/", notify_views.mailcatcher, READABLE, name="mailcatcher"),
    # The acknowledgement link in a page notification: the signed token is the credential.
    path("ack/<str:token>/", oncall_paging_views.page_ack, name="page_ack"),
    path("accounts/", include("atalaia.accounts.urls")),
    path("incidents/", include("atalaia.incidents.urls")),
    path("services/", include("atalaia.catalog.urls")),
    path("plan/", include("atalaia.plans.urls")),
    path("oncall/", include("atalaia.oncall.urls")),
    path("comms/", include("atalaia.comms.urls")),
    path("remote/", include("atalaia.remote.urls")),
    path("review/", include("atalaia.review.urls")),
    path("review/", include("atalaia.review.proposal_urls")),
    # The satisfaction link in the closing message: the signed token is the credential.
    path("feedback/<str:token>/", review_views.satisfaction, name="review_satisfaction"),
    path("review/", include("atalaia.review.postmortem_urls")),
    # The public status site (no login): page, tracking pages, Statuspage JSON, feeds.
    path("status/", include("atalaia.comms.public_urls")),
    path("i/<int:incident_id>", comms_public_views.short_link, name="status_short"),
]

# Errors Django answers itself: JSON on the API paths (atalaia/web/errors.py).
handler400 = "atalaia.web.errors.bad_request"
handler403 = "atalaia.web.errors.permission_denied"
handler404 = "atalaia.web.errors.page_not_found"
handler500 = "atalaia.web.errors.server_error"
