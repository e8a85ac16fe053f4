from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from atalaia.web.models import ProcessBeat


def healthz(request):
    """Liveness of the parts: database, and whether any worker and prober reported lately."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = True
    except Exception:  # noqa: BLE001 - any failure means the database is not usable
        return JsonResponse({"ok": False, "database": False, "worker": False,
                             "prober": False}, status=503)
    fresh = timezone.now() - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    alive = set(ProcessBeat.objects.filter(seen_at__gte=fresh, stopped_at__isnull=True)
                .values_list("kind", flat=True))
    body = {"ok": database and {"worker", "prober"} <= alive, "database": database,
            "worker": "worker" in alive, "prober": "prober" in alive}
    return JsonResponse(body)
