from django.http import HttpResponseBadRequest, JsonResponse

from atalaia.lib.jsondoc import JSON_NUL
from atalaia.lib.jsondoc import NUL_MESSAGE as MESSAGE


class RejectNulMiddleware:
    """PostgreSQL cannot store NUL in text, and no field of ours needs one:
    refuse such input up front with a clear 400 instead of failing deep inside."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE}, status=400)
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain")
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path or any("\x00" in key or any("\x00" in v for v in values)
                                         for key, values in request.GET.lists()):
            return True
        content_type = request.content_type or ""
        if content_type == "application/json":
            body = request.body
            return b"\x00" in body or bool(JSON_NUL.search(body))
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return any("\x00" in key or any("\x00" in v for v in values)
                       for key, values in request.POST.lists())
        return False
