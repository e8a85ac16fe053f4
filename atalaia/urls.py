from django.urls import include, path
from django.views.generic import RedirectView

from atalaia.api import api
from atalaia.web import views as web_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="incidents:list"), name="home"),
    path("healthz", web_views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("accounts/", include("atalaia.accounts.urls")),
    path("incidents/", include("atalaia.incidents.urls")),
    path("services/", include("atalaia.catalog.urls")),
    path("plan/", include("atalaia.plans.urls")),
]
