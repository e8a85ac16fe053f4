from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static

from atalaia.web.health import health


def healthz(request):
    """Liveness of the parts: database, and whether any worker and prober reported lately."""
    state = health()
    # Names only: /healthz is open to anyone, a job's error is shown in the console.
    body = {"ok": state.ok, "database": state.database,
            "worker": "worker" in state.alive, "prober": "prober" in state.alive,
            "failing_jobs": [job.name for job in state.failing]}
    return JsonResponse(body, status=200 if state.database else 503)


def favicon(request):
    """Browsers ask for /favicon.ico on their own, signed in or not: point them at the file."""
    return redirect(static("atalaia/favicon.ico"), permanent=True)
