"""/status/api/v2/…: the Statuspage JSON (statuspage.py), readable by anyone, from
any origin. `?lang=pt-BR` gives the Portuguese texts; English otherwise."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from atalaia.comms import statuspage


def _view(build: Callable[[str], dict]) -> Callable[[HttpRequest], HttpResponse]:
    @require_safe
    def view(request: HttpRequest) -> HttpResponse:
        response = JsonResponse(build(statuspage.language(request.GET.get("lang"))))
        response["Access-Control-Allow-Origin"] = "*"
        return response

    view.__name__ = view.__qualname__ = build.__name__
    return view


summary = _view(statuspage.summary)
status = _view(statuspage.status)
components = _view(statuspage.components)
incidents = _view(statuspage.incidents)
unresolved_incidents = _view(statuspage.unresolved_incidents)
scheduled_maintenances = _view(statuspage.scheduled_maintenances)
upcoming_maintenances = _view(statuspage.upcoming_maintenances)
active_maintenances = _view(statuspage.active_maintenances)
