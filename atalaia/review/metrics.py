"""`/metrics` in the Prometheus text format, computed from the database so that every
process (any web process behind a load balancer) reports the same figures.

Open to the addresses in ATALAIA_METRICS_ALLOW (loopback by default) or to a request
carrying `Authorization: Bearer <ATALAIA_METRICS_TOKEN>`. The address is the client's
behind the proxies in ATALAIA_TRUSTED_PROXIES: a proxy on the same machine, listed
there, does not make every visitor look like loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from atalaia.incidents.models import Incident, Stage
from atalaia.lib import jobs
from atalaia.lib.clientaddress import client_address
from atalaia.monitoring.models import Monitor
from atalaia.notify.models import Delivery
from atalaia.oncall.models import Page

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header, f"Bearer {token}"):
        return True
    try:
        client = ipaddress.ip_address(client_address(request.META))
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(net, strict=False)
               for net in settings.METRICS_ALLOW)


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str,
            samples: Iterable[tuple[dict, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{inner}}} {value:g}" if inner else f"{name} {value:g}")
    return lines


def _grouped(queryset, *fields: str) -> list[tuple[dict, float]]:
    return [({f: row[f] for f in fields}, row["n"])
            for row in queryset.values(*fields).annotate(n=Count("pk")).order_by(*fields)]


def exposition() -> str:
    lines: list[str] = []
    lines += _family("atalaia_incidents", "gauge", "Incidents by level and stage.",
                     _grouped(Incident.objects.all(), "level", "stage"))
    lines += _family("atalaia_incidents_open", "gauge", "Incidents not closed, by level.",
                     _grouped(Incident.objects.exclude(stage=Stage.CLOSED), "level"))
    lines += _family("atalaia_monitors", "gauge", "Monitors by state.",
                     _grouped(Monitor.objects.all(), "state"))
    lines += _family("atalaia_deliveries", "gauge", "Deliveries by channel and status.",
                     _grouped(Delivery.objects.all(), "channel", "status"))
    lines += _family("atalaia_pages", "gauge", "Pages by status.",
                     _grouped(Page.objects.all(), "status"))
    lines += _jobs()
    lines += _timings()
    return "\n".join(lines) + "\n"


def _jobs() -> list[str]:
    """The worker's jobs (atalaia/lib/jobs.py): failures ever, and in a row now."""
    states = jobs.states()
    return [*_family("atalaia_job_failures_total", "counter",
                     "Runs of a worker job that raised an error.",
                     [({"job": s.name, "lane": s.lane}, s.failures) for s in states]),
            *_family("atalaia_job_failing", "gauge",
                     "Failed runs of a worker job in a row (0: its last run succeeded).",
                     [({"job": s.name, "lane": s.lane}, s.failing) for s in states])]


def _timings() -> list[str]:
    """The review's timings per level (docs/review.md), as Prometheus summaries."""
    from atalaia.review import timings

    per_level = timings.aggregate(Incident.objects.all(), by="level")
    lines = ["# HELP atalaia_incident_timing_seconds Review timings per level "
             "(docs/review.md).", "# TYPE atalaia_incident_timing_seconds summary"]
    for level, figures in sorted(per_level.items()):
        for name, stats in sorted(figures.items()):
            labels = f'level="{_label(level)}",timing="{_label(name)}"'
            if stats.get("median") is not None:
                lines.append(f'atalaia_incident_timing_seconds{{{labels},quantile="0.5"}} '
                             f'{stats["median"]:g}')
            if stats.get("p90") is not None:
                lines.append(f'atalaia_incident_timing_seconds{{{labels},quantile="0.9"}} '
                             f'{stats["p90"]:g}')
            count = stats.get("count") or 0
            mean = stats.get("mean") or 0
            lines.append(f"atalaia_incident_timing_seconds_sum{{{labels}}} {mean * count:g}")
            lines.append(f"atalaia_incident_timing_seconds_count{{{labels}}} {count:g}")
    return lines


@require_GET
def metrics(request):
    if not allowed(request):
        return HttpResponse("metrics are open to the allowed addresses or with the metrics "
                            "token\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE)
