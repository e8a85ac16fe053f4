"""/status/feed.atom and /status/maintenance.ics (feeds.py): public, from any
origin. `?lang=pt-BR` gives the Portuguese texts; English otherwise."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from atalaia.comms import feeds, statuspage


def _response(body: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def atom(request: HttpRequest) -> HttpResponse:
    lang = statuspage.language(request.GET.get("lang"))
    return _response(feeds.atom(lang), "application/atom+xml; charset=utf-8")


@require_safe
def maintenance_calendar(request: HttpRequest) -> HttpResponse:
    lang = statuspage.language(request.GET.get("lang"))
    return _response(feeds.calendar(lang), "text/calendar; charset=utf-8")
