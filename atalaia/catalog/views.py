from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from atalaia.accounts.permissions import require
from atalaia.catalog.graphsvg import GraphUnavailable, render_svg
from atalaia.catalog.impact import compromised_slugs, compute, current_graph, with_paths
from atalaia.catalog.models import Segment, Service


def _svg(**kwargs) -> str | None:
    try:
        return render_svg(current_graph(), **kwargs)
    except GraphUnavailable:
        return None


@login_required
def services(request):
    require(request.user, "view")
    rows = Service.objects.select_related("owner_team").prefetch_related("depends_on",
                                                                         "dependents")
    return render(request, "catalog/services.html", {
        "services": rows, "segments": Segment.objects.all(), "graph": _svg()})


@login_required
def service(request, slug: str):
    require(request.user, "view")
    svc = get_object_or_404(Service.objects.select_related("owner_team"), slug=slug)
    impact = compute(current_graph(), [slug])
    return render(request, "catalog/service.html", {
        "service": svc, "depends_on": svc.depends_on.all(), "dependents": svc.dependents.all(),
        "segments": svc.segment_rows.select_related("segment"),
        "impact": impact, "impact_services": with_paths(impact)[1:],
        "graph": _svg(focus={slug}, affected={slug},
                      compromised=set(compromised_slugs(impact)))})


@login_required
def graph_svg(request):
    require(request.user, "view")
    svg = _svg()
    if svg is None:
        return HttpResponse("Graphviz is not installed", status=503, content_type="text/plain")
    return HttpResponse(svg, content_type="image/svg+xml")
