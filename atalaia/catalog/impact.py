"""Impact analysis: what a failure of some services means for systems and users.

Rules (docs/impact.md):
- compromised services: the directly affected ones plus every service that
  depends on one of them, transitively; each keeps a parent pointer to the
  service through which it was reached first (breadth-first, so the path shown
  is a shortest one);
- users affected: for each segment served by any compromised service, the
  segment's size times the largest share among those services; segments are
  disjoint, so the figures add up without counting anyone twice;
- operational risk: high when a critical service is compromised or three or
  more high ones are; medium when a high one is or three or more medium ones
  are; low otherwise;
- security risk: a flag with a reason, set by a person or a signal.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

CRITICALITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_RANK_NAMES = ("low", "medium", "high", "critical")


class UnknownService(ValueError):
    pass


@dataclass
class ServiceGraph:
    """The catalog in arrays indexed by position, ready for fast traversal."""

    slugs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    criticality: list[int] = field(default_factory=list)
    dependents: list[list[int]] = field(default_factory=list)
    serves: list[list[tuple[int, float]]] = field(default_factory=list)
    segment_slugs: list[str] = field(default_factory=list)
    segment_names: list[str] = field(default_factory=list)
    segment_users: list[int] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    version: int = -1

    @property
    def total_users(self) -> int:
        return sum(self.segment_users)

    def add_service(self, slug: str, name: str, criticality: str) -> int:
        self.index[slug] = len(self.slugs)
        self.slugs.append(slug)
        self.names.append(name)
        self.criticality.append(CRITICALITY_RANK[criticality])
        self.dependents.append([])
        self.serves.append([])
        return self.index[slug]

    def add_segment(self, slug: str, name: str, users: int) -> int:
        self.segment_slugs.append(slug)
        self.segment_names.append(name)
        self.segment_users.append(users)
        return len(self.segment_slugs) - 1

    def add_dependency(self, service: int, target: int) -> None:
        self.dependents[target].append(service)


def compute(graph: ServiceGraph, affected: Iterable[str], security_risk: bool = False,
            security_reason: str = "") -> dict:
    """The impact snapshot for a set of directly affected services (slugs)."""
    index = graph.index
    roots = []
    for slug in affected:
        if slug not in index:
            raise UnknownService(f"unknown service {slug!r}")
        roots.append(index[slug])
    order, parents = _reach(graph, roots)
    best_share = _segment_shares(graph, order)
    segments = []
    users_affected = 0
    for seg, share in sorted(best_share.items()):
        count = round(graph.segment_users[seg] * share)
        users_affected += count
        segments.append({"slug": graph.segment_slugs[seg], "name": graph.segment_names[seg],
                         "users": graph.segment_users[seg], "share": share,
                         "users_affected": count})
    total = graph.total_users
    # Bound once: this runs for every compromised service (10,000 for a hub of a big
    # catalog, see bench/impact.py), so attribute and function lookups add up.
    slugs, names, criticality = graph.slugs, graph.names, graph.criticality
    ranks = [criticality[i] for i in order]
    return {
        "affected": [slugs[i] for i in roots],
        # Parent pointers only: a path is rebuilt by following them (see path_of).
        "services": [{"slug": slugs[i], "name": names[i],
                      "criticality": _RANK_NAMES[criticality[i]],
                      "parent": slugs[p] if p >= 0 else None}
                     for i, p in zip(order, parents, strict=True)],
        "segments": segments,
        "users_affected": users_affected,
        "users_total": total,
        "users_share": round(users_affected / total, 6) if total else 0.0,
        "services_affected": len(order),
        "critical_services": ranks.count(3),
        "operational_risk": operational_risk(ranks),
        "security_risk": bool(security_risk),
        "security_reason": security_reason if security_risk else "",
    }


def _reach(graph: ServiceGraph, roots: list[int]) -> tuple[list[int], list[int]]:
    """The compromised services in breadth-first order, and the parent of each
    (the service through which it was first reached; -1 for a directly affected one)."""
    seen = bytearray(len(graph.slugs))
    order: list[int] = []
    for root in roots:
        if not seen[root]:
            seen[root] = 1
            order.append(root)
    parents = [-1] * len(order)
    dependents = graph.dependents
    add_service = order.append
    add_parent = parents.append
    for current in order:  # a queue: the loop also visits what it appends
        for dependent in dependents[current]:
            if not seen[dependent]:
                seen[dependent] = 1
                add_service(dependent)
                add_parent(current)
    return order, parents


def _segment_shares(graph: ServiceGraph, services: list[int]) -> dict[int, float]:
    """For each segment served by some of the services, the largest share among them."""
    best = [-1.0] * len(graph.segment_slugs)  # -1.0: not served (shares are >= 0)
    serves = graph.serves
    for service in services:
        for seg, share in serves[service]:
            if share > best[seg]:
                best[seg] = share
    return {seg: share for seg, share in enumerate(best) if share > -1.0}


def operational_risk(ranks: list[int]) -> str:
    critical, high, medium = ranks.count(3), ranks.count(2), ranks.count(1)
    if critical or high >= 3:
        return "high"
    if high or medium >= 3:
        return "medium"
    return "low"


def _rank_name(rank: int) -> str:
    return _RANK_NAMES[rank]


def path_of(snapshot: dict, slug: str) -> list[str]:
    """From a compromised service down to the directly affected one that explains it."""
    parents = {s["slug"]: s["parent"] for s in snapshot.get("services", [])}
    path = [slug]
    while parents.get(path[-1]) is not None and len(path) <= len(parents):
        path.append(parents[path[-1]])
    return path


def with_paths(snapshot: dict) -> list[dict]:
    """The compromised services, each with its explaining path (computed once per call)."""
    parents = {s["slug"]: s["parent"] for s in snapshot.get("services", [])}
    memo: dict[str, list[str]] = {}

    def path(slug: str) -> list[str]:
        chain = []
        node: str | None = slug
        while node is not None and node not in memo:
            chain.append(node)
            node = parents.get(node)
        tail = memo[node] if node is not None else []
        for i in range(len(chain) - 1, -1, -1):
            tail = [chain[i], *tail]
            memo[chain[i]] = tail
        return memo[slug]

    return [{**s, "path": path(s["slug"])} for s in snapshot.get("services", [])]


# -- the graph of the stored catalog, kept per process -------------------------------

_lock = threading.Lock()
_cached: ServiceGraph | None = None


def current_graph() -> ServiceGraph:
    """The stored catalog as a graph, reloaded only when the catalog changed."""
    global _cached
    from atalaia.catalog.models import CatalogVersion

    version = CatalogVersion.current()
    graph = _cached
    if graph is not None and graph.version == version:
        return graph
    with _lock:
        if _cached is None or _cached.version != version:
            _cached = load_graph(version)
        return _cached


def load_graph(version: int) -> ServiceGraph:
    from atalaia.catalog.models import Dependency, Segment, Service, ServiceSegment

    graph = ServiceGraph(version=version)
    by_id: dict[int, int] = {}
    for pk, slug, name, crit in Service.objects.values_list("pk", "slug", "name",
                                                            "criticality").order_by("pk"):
        by_id[pk] = graph.add_service(slug, name, crit)
    seg_by_id = {pk: graph.add_segment(slug, name, users)
                 for pk, slug, name, users in Segment.objects.values_list(
                     "pk", "slug", "name", "users").order_by("pk")}
    for service_id, target_id in Dependency.objects.values_list("service_id", "target_id"):
        graph.add_dependency(by_id[service_id], by_id[target_id])
    for service_id, segment_id, share in ServiceSegment.objects.values_list(
            "service_id", "segment_id", "share"):
        graph.serves[by_id[service_id]].append((seg_by_id[segment_id], share))
    return graph


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a list of slugs (first repeated at the end), or None."""
    state: dict[str, int] = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges.get(start, ())))]
        trail = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                trail.pop()
            elif state.get(child) == 1:
                return trail[trail.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                trail.append(child)
                stack.append((child, iter(edges.get(child, ()))))
    return None
