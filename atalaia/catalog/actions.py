"""Changes to the service catalog: file import/export and single-service edits.

Every change runs in one transaction, bumps the catalog version (so every
process reloads its graph) and writes an audit event.
"""

from __future__ import annotations

import yaml
from django.db import transaction

from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.catalog.impact import find_cycle
from atalaia.catalog.models import (
    SLUG_PATTERN,
    CatalogVersion,
    Criticality,
    Dependency,
    Segment,
    Service,
    ServiceSegment,
    Team,
)
from atalaia.lib import yamldoc as y
from atalaia.lib.yamldoc import DocumentError

slug = y.string(63, SLUG_PATTERN)

SEGMENT = y.mapping({"slug": (slug, True), "name": (y.string(200), True),
                     "users": (y.integer(0), True),
                     "description": (y.string(allow_empty=True), False)})
TEAM = y.mapping({"slug": (slug, True), "name": (y.string(200), True),
                  "members": (y.list_of(y.string(150)), False)})
SERVICE_SEGMENT = y.mapping({"segment": (slug, True), "share": (y.number(0, 1), False)})
SERVICE = y.mapping({
    "slug": (slug, True),
    "name": (y.string(200), True),
    "description": (y.string(allow_empty=True), False),
    "criticality": (y.one_of(*Criticality.values), False),
    "owner": (slug, False),
    "hosts": (y.list_of(y.string(255)), False),
    "depends_on": (y.list_of(slug), False),
    "segments": (y.list_of(SERVICE_SEGMENT), False),
    "component": (y.mapping({"group": (y.string(100, allow_empty=True), False)}), False),
})
CATALOG = y.mapping({
    "segments": (y.list_of(SEGMENT), False),
    "teams": (y.list_of(TEAM), False),
    "services": (y.list_of(SERVICE), False),
})


def parse_catalog(text: str) -> dict:
    """Check a catalog file: schema, then references and cycles. Raises DocumentError."""
    data, lines = y.load(text)
    checker = y.Checker(lines)
    doc = CATALOG(data if data is not None else {}, (), checker)
    checker.raise_if_any()
    _check_references(doc, checker)
    checker.raise_if_any()
    return doc


def _check_references(doc: dict, checker: y.Checker) -> None:
    segments = _unique(doc.get("segments", []), "segments", checker)
    segments |= set(Segment.objects.values_list("slug", flat=True))
    teams = _unique(doc.get("teams", []), "teams", checker)
    teams |= set(Team.objects.values_list("slug", flat=True))
    services = _unique(doc.get("services", []), "services", checker)
    known_services = services | set(Service.objects.values_list("slug", flat=True))
    usernames = set(User.objects.values_list("username", flat=True))
    for i, team in enumerate(doc.get("teams", [])):
        for j, member in enumerate(team.get("members", [])):
            if member not in usernames:
                checker.error(("teams", i, "members", j),
                              f"team {team['slug']!r}: unknown user {member!r}")
    for i, svc in enumerate(doc.get("services", [])):
        name = svc["slug"]
        if svc.get("owner") and svc["owner"] not in teams:
            checker.error(("services", i, "owner"),
                          f"service {name!r}: unknown team {svc['owner']!r}")
        for j, dep in enumerate(svc.get("depends_on", [])):
            if dep not in known_services:
                checker.error(("services", i, "depends_on", j),
                              f"service {name!r}: depends on unknown service {dep!r}")
            elif dep == name:
                checker.error(("services", i, "depends_on", j),
                              f"service {name!r}: depends on itself")
        for j, row in enumerate(svc.get("segments", [])):
            if row["segment"] not in segments:
                checker.error(("services", i, "segments", j),
                              f"service {name!r}: unknown segment {row['segment']!r}")
    if not checker.problems:
        cycle = find_cycle(_merged_edges(doc))
        if cycle:
            first = cycle[0]
            index = next((i for i, s in enumerate(doc.get("services", []))
                          if s["slug"] == first), None)
            path = ("services", index, "depends_on") if index is not None else ()
            checker.error(path, f"service {first!r}: dependency cycle "
                                f"{' -> '.join(cycle)}")


def _unique(items: list[dict], section: str, checker: y.Checker) -> set[str]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item["slug"] in seen:
            checker.error((section, i, "slug"), f"{item['slug']!r} appears twice")
        seen.add(item["slug"])
    return seen


def _merged_edges(doc: dict) -> dict[str, list[str]]:
    """The stored dependency graph with the document's services replacing theirs."""
    edges: dict[str, list[str]] = {}
    for service, target in Dependency.objects.values_list("service__slug", "target__slug"):
        edges.setdefault(service, []).append(target)
    for svc in doc.get("services", []):
        edges[svc["slug"]] = list(svc.get("depends_on", []))
    return edges


@transaction.atomic
def import_catalog(text: str, actor: User | None = None) -> dict:
    """Create or update everything the file lists; all of it or nothing."""
    doc = parse_catalog(text)
    counts = {"segments": 0, "teams": 0, "services": 0}
    for seg in doc.get("segments", []):
        Segment.objects.update_or_create(slug=seg["slug"], defaults={
            "name": seg["name"], "users": seg["users"],
            "description": seg.get("description", "")})
        counts["segments"] += 1
    for team_doc in doc.get("teams", []):
        team, _ = Team.objects.update_or_create(slug=team_doc["slug"],
                                                defaults={"name": team_doc["name"]})
        if "members" in team_doc:
            team.members.set(User.objects.filter(username__in=team_doc["members"]))
        counts["teams"] += 1
    services = {}
    for svc in doc.get("services", []):
        services[svc["slug"]] = _upsert_service(svc)
        counts["services"] += 1
    for svc in doc.get("services", []):
        _set_links(services[svc["slug"]], svc.get("depends_on", []), svc.get("segments", []))
    CatalogVersion.bump()
    audit(actor, "catalog.import", "catalog", "catalog file", counts)
    return counts


def _upsert_service(svc: dict) -> Service:
    component = svc.get("component")
    owner = Team.objects.get(slug=svc["owner"]) if svc.get("owner") else None
    service, _ = Service.objects.update_or_create(slug=svc["slug"], defaults={
        "name": svc["name"], "description": svc.get("description", ""),
        "criticality": svc.get("criticality", Criticality.MEDIUM), "owner_team": owner,
        "hosts": svc.get("hosts", []), "is_component": component is not None,
        "component_group": (component or {}).get("group", "")})
    return service


def _set_links(service: Service, depends_on: list[str], segments: list[dict]) -> None:
    Dependency.objects.filter(service=service).delete()
    targets = Service.objects.filter(slug__in=depends_on)
    Dependency.objects.bulk_create([Dependency(service=service, target=t) for t in targets])
    ServiceSegment.objects.filter(service=service).delete()
    by_slug = {s.slug: s for s in Segment.objects.filter(
        slug__in=[row["segment"] for row in segments])}
    ServiceSegment.objects.bulk_create([
        ServiceSegment(service=service, segment=by_slug[row["segment"]],
                       share=float(row.get("share", 1.0))) for row in segments])


def export_catalog() -> str:
    """The whole catalog as a file that import_catalog reads back unchanged."""
    doc: dict[str, list] = {"segments": [], "teams": [], "services": []}
    for seg in Segment.objects.all():
        item = {"slug": seg.slug, "name": seg.name, "users": seg.users}
        if seg.description:
            item["description"] = seg.description
        doc["segments"].append(item)
    for team in Team.objects.prefetch_related("members"):
        doc["teams"].append({"slug": team.slug, "name": team.name,
                             "members": sorted(u.username for u in team.members.all())})
    deps: dict[int, list[str]] = {}
    for service_id, target in Dependency.objects.values_list("service_id", "target__slug"):
        deps.setdefault(service_id, []).append(target)
    segs: dict[int, list[dict]] = {}
    for row in ServiceSegment.objects.select_related("segment").order_by("segment__slug"):
        segs.setdefault(row.service_id, []).append({"segment": row.segment.slug,
                                                    "share": row.share})
    for svc in Service.objects.select_related("owner_team"):
        doc["services"].append(service_document(svc, sorted(deps.get(svc.pk, [])),
                                                segs.get(svc.pk, [])))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def service_document(svc: Service, depends_on: list[str], segments: list[dict]) -> dict:
    item: dict = {"slug": svc.slug, "name": svc.name}
    if svc.description:
        item["description"] = svc.description
    item["criticality"] = svc.criticality
    if svc.owner_team:
        item["owner"] = svc.owner_team.slug
    if svc.hosts:
        item["hosts"] = list(svc.hosts)
    item["depends_on"] = depends_on
    item["segments"] = segments
    if svc.is_component:
        item["component"] = {"group": svc.component_group}
    return item


@transaction.atomic
def save_service(fields: dict, actor: User, existing: Service | None = None) -> Service:
    """Create or update one service from API fields (the file's keys); same checks as import."""
    current = {}
    if existing is not None:
        current = service_document(
            existing, list(existing.depends_on.values_list("slug", flat=True)),
            [{"segment": r.segment.slug, "share": r.share}
             for r in existing.segment_rows.select_related("segment")])
    drop_component = fields.pop("_drop_component", False)
    merged = {**current, **{k: v for k, v in fields.items() if v is not None}}
    if drop_component:
        merged.pop("component", None)
    if existing is not None and merged["slug"] != existing.slug:
        raise DocumentError([f"slug: a service's slug cannot change ({existing.slug!r})"])
    text = yaml.safe_dump({"services": [merged]}, allow_unicode=True)
    doc = parse_catalog(text)
    svc_doc = doc["services"][0]
    service = _upsert_service(svc_doc)
    _set_links(service, svc_doc.get("depends_on", []), svc_doc.get("segments", []))
    CatalogVersion.bump()
    audit(actor, "service.update" if existing else "service.create", "service", service.slug,
          {"fields": sorted(k for k, v in fields.items() if v is not None)})
    return service


@transaction.atomic
def add_team_member(team: Team, user: User, actor: User | None) -> bool:
    """Add someone to a team (the plan pages teams); False when they already were."""
    if team.members.filter(pk=user.pk).exists():
        return False
    team.members.add(user)
    audit(actor, "team.member_add", "team", team.slug, {"member": user.username})
    return True


@transaction.atomic
def remove_team_member(team: Team, user: User, actor: User | None) -> bool:
    if not team.members.filter(pk=user.pk).exists():
        return False
    team.members.remove(user)
    audit(actor, "team.member_remove", "team", team.slug, {"member": user.username})
    return True
