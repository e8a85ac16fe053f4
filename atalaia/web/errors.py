"""Django's own error answers — no URL matched, an exception no view handled, a request
refused before any view ran — in JSON on the API (its documented `{"detail": ...}`
shape), and Django's plain pages everywhere else."""

from django.http import JsonResponse
from django.views import defaults


def _api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if _api(request):
        return JsonResponse({"detail": "bad request"}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if _api(request):
        return JsonResponse({"detail": str(exception) or "not allowed"}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if _api(request):
        return JsonResponse({"detail": "no such API path: see /api/v1/docs"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _api(request):
        return JsonResponse({"detail": "internal error"}, status=500)
    return defaults.server_error(request)
