"""The review dashboard: timings aggregated over incidents (per level, service, plan
version or month), drawn as SVG on the server (no JavaScript, no chart library)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.html import escape

from atalaia.accounts.permissions import require
from atalaia.incidents.models import Incident
from atalaia.incidents.visibility import visible_incidents
from atalaia.review import timings

WIDTH, BAR, GAP, LABEL = 560, 18, 6, 190


@dataclass
class Chart:
    name: str
    label: str
    svg: str


def chart(label: str, rows: list[tuple[str, dict]]) -> str:
    """Horizontal bars of the median (the p90 as a thin line), minutes, one per key."""
    known = [(key, stats) for key, stats in rows if stats.get("median") is not None]
    if not known:
        return ""
    top = max(stats.get("p90") or stats["median"] for _key, stats in known) or 1
    scale = (WIDTH - LABEL - 70) / top
    height = len(known) * (BAR + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'role="img" aria-label="{escape(label)}" class="chart">']
    for n, (key, stats) in enumerate(known):
        y = GAP + n * (BAR + GAP)
        median, p90 = stats["median"], stats.get("p90") or stats["median"]
        parts.append(f'<text x="0" y="{y + BAR - 5}" font-size="12">{escape(key)} '
                     f'({stats["count"]})</text>')
        parts.append(f'<rect x="{LABEL}" y="{y}" width="{max(1, median * scale):.1f}" '
                     f'height="{BAR}" fill="#175cd3"><title>{escape(key)}: median '
                     f'{median / 60:.1f} min</title></rect>')
        parts.append(f'<line x1="{LABEL + p90 * scale:.1f}" x2="{LABEL + p90 * scale:.1f}" '
                     f'y1="{y}" y2="{y + BAR}" stroke="#b42318" stroke-width="2"/>')
        parts.append(f'<text x="{LABEL + max(median, p90) * scale + 6:.1f}" y="{y + BAR - 5}" '
                     f'font-size="12">{median / 60:.1f} min</text>')
    parts.append("</svg>")
    return "".join(parts)


@login_required
def dashboard(request):
    require(request.user, "view")
    by = request.GET.get("by", "level")
    if by not in timings.GROUPINGS:
        by = "level"
    incidents = visible_incidents(request.user).filter(pk__in=Incident.objects.values("pk"))
    figures = timings.aggregate(incidents, by=by)
    labels = {name: str(label) for name, (label, _phase) in timings.MILESTONES.items()}
    labels |= {f"phase_{p}": str(label) for p, label in timings.PHASE_LABELS.items()}
    charts = [Chart(name, labels[name], chart(labels[name], [(key, per[name]) for key, per
                                                              in figures.items()]))
              for name in timings.NAMES]
    return render(request, "review/dashboard.html", {
        "charts": [c for c in charts if c.svg], "by": by, "groupings": timings.GROUPINGS,
        "figures": figures, "labels": labels})
