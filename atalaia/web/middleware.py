from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

from atalaia.lib.jsondoc import JSON_NUL
from atalaia.lib.jsondoc import NUL_MESSAGE as MESSAGE


class RejectNulMiddleware:
    """PostgreSQL cannot store NUL in text, and no field of ours needs one:
    refuse such input up front with a clear 400 instead of failing deep inside.

    This is also the first code to read the body, so a body that cannot be read at all
    (over DATA_UPLOAD_MAX_MEMORY_SIZE, a form without its multipart boundary, too many
    fields) is refused here, in JSON on the API, rather than as Django's HTML error
    page with a traceback in the log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api = request.path.startswith("/api/")
        try:
            problem = MESSAGE if self._has_nul(request, api) else ""
        except RequestDataTooBig:
            return self._refuse(api, 413, "the body is larger than "
                                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
        except (MultiPartParserError, SuspiciousOperation) as exc:
            return self._refuse(api, 400, f"the request cannot be read: {exc}")
        if problem:
            return self._refuse(api, 400, problem)
        return self.get_response(request)

    @staticmethod
    def _refuse(api: bool, status: int, message: str):
        if api:
            return JsonResponse({"detail": message}, status=status)
        return HttpResponse(message, content_type="text/plain", status=status)

    @staticmethod
    def _has_nul(request, api: bool) -> bool:
        if "\x00" in request.path or any("\x00" in key or any("\x00" in v for v in values)
                                         for key, values in request.GET.lists()):
            return True
        content_type = request.content_type or ""
        # The API reads every body as JSON, whatever its Content-Type: read it first, so
        # that parsing it as a form below leaves it readable for the API's parser.
        if content_type == "application/json" or api:
            body = request.body
            if b"\x00" in body or JSON_NUL.search(body):
                return True
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return any("\x00" in key or any("\x00" in v for v in values)
                       for key, values in request.POST.lists())
        return False
