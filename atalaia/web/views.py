from django.http import JsonResponse

from atalaia.web.health import health


def healthz(request):
    """Liveness of the parts: database, and whether any worker and prober reported lately."""
    state = health()
    body = {"ok": state.ok, "database": state.database,
            "worker": "worker" in state.alive, "prober": "prober" in state.alive}
    return JsonResponse(body, status=200 if state.database else 503)
