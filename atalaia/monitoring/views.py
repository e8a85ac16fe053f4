from django.http import HttpResponse, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from atalaia.monitoring.heartbeats import ping


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def heartbeat(request, key, action: str = "success", exit_code: int | None = None):
    """GET|POST /ping/<uuid>, /ping/<uuid>/start, /ping/<uuid>/fail, /ping/<uuid>/<exit-code>."""
    if exit_code is not None and exit_code > 255:
        return HttpResponse("exit code must be 0-255\n", status=400, content_type="text/plain")
    monitor = ping(key, action, exit_code)
    if monitor is None:
        return HttpResponseNotFound("no heartbeat monitor with this key\n",
                                    content_type="text/plain")
    return HttpResponse("OK\n", content_type="text/plain")
