from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from atalaia.accounts.permissions import can, require
from atalaia.catalog.actions import export_catalog, import_catalog
from atalaia.catalog.graphsvg import GraphUnavailable, render_svg
from atalaia.catalog.impact import compromised_slugs, compute, current_graph, with_paths
from atalaia.catalog.models import Segment, Service
from atalaia.lib.uploads import uploaded_text
from atalaia.lib.yamldoc import DocumentError, LimitError


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
        "services": rows, "segments": Segment.objects.all(), "graph": _svg(),
        "can_edit": can(request.user, "catalog.edit")})


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


@login_required
def catalog_import(request):
    require(request.user, "catalog.edit")
    problems: list[str] = []
    source, status = "", 200
    if request.method == "POST":
        try:
            source = uploaded_text(request)
            counts = import_catalog(source, request.user)
        except DocumentError as exc:
            problems, status = exc.problems, 413 if isinstance(exc, LimitError) else 200
        else:
            messages.success(request, _("Imported %(segments)s segments, %(teams)s teams and "
                                        "%(services)s services.") % counts)
            return redirect("catalog:services")
    return render(request, "catalog/import.html", {"problems": problems, "source": source},
                  status=status)


@login_required
def catalog_export(request):
    require(request.user, "view")
    response = HttpResponse(export_catalog(), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="catalog.yaml"'
    return response
