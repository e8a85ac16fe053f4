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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

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
    # Derived once per graph and reused by every computation (see _derived).
    _arrays: Arrays | None = field(default=None, repr=False)

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
        self._changed()
        return self.index[slug]

    def add_segment(self, slug: str, name: str, users: int) -> int:
        self.segment_slugs.append(slug)
        self.segment_names.append(name)
        self.segment_users.append(users)
        self._changed()
        return len(self.segment_slugs) - 1

    def add_dependency(self, service: int, target: int) -> None:
        self.dependents[target].append(service)
        self._changed()

    def add_share(self, service: int, segment: int, share: float) -> None:
        self.serves[service].append((segment, share))
        self._changed()

    def _changed(self) -> None:
        self._arrays = None

    def arrays(self) -> Arrays:
        """The graph as flat arrays, built once per graph and reused by every computation."""
        if self._arrays is None:
            self._arrays = Arrays.build(self)
        return self._arrays


@dataclass
class Arrays:
    """Compressed adjacency (CSR) of "is depended on by", and per segment the services
    serving it, largest share first. Traversals then run inside numpy, not per edge in
    Python: a hub of a 10,000-service catalog has ~50,000 edges behind it."""

    indptr: np.ndarray
    indices: np.ndarray
    criticality: np.ndarray
    segment_services: list[np.ndarray]
    segment_shares: list[np.ndarray]
    # Object arrays, so that picking 10,000 of them is one indexing operation.
    # The last slug is None: the "parent" of a directly affected service.
    slugs: np.ndarray
    names: np.ndarray
    criticality_names: np.ndarray

    @classmethod
    def build(cls, graph: ServiceGraph) -> Arrays:
        counts = np.fromiter(map(len, graph.dependents), dtype=np.int64,
                             count=len(graph.dependents))
        indptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        # Sorted neighbours: ties between equally short paths break the same way
        # on every run and every machine.
        indices = np.fromiter(chain.from_iterable(sorted(d) for d in graph.dependents),
                              dtype=np.int64, count=int(indptr[-1]))
        by_segment: list[list[tuple[float, int]]] = [[] for _ in graph.segment_slugs]
        for service, rows in enumerate(graph.serves):
            for segment, share in rows:
                by_segment[segment].append((-share, service))
        services, shares = [], []
        for entries in by_segment:
            entries.sort()
            services.append(np.array([svc for _, svc in entries], dtype=np.int64))
            shares.append(np.array([-neg for neg, _ in entries], dtype=np.float64))
        criticality = np.array(graph.criticality, dtype=np.int64)
        return cls(indptr, indices, criticality, services, shares,
                   slugs=_objects([*graph.slugs, None]), names=_objects(graph.names),
                   criticality_names=_objects(_RANK_NAMES)[criticality])


def _objects(values: Sequence) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def compute(graph: ServiceGraph, affected: Iterable[str], security_risk: bool = False,
            security_reason: str = "") -> dict:
    """The impact snapshot for a set of directly affected services (slugs).

    The compromised services are stored by column (slug, name, criticality,
    parent), which keeps the snapshot small and cheap to build; rows() turns
    them back into one dict per service.
    """
    index = graph.index
    roots = []
    for slug in affected:
        if slug not in index:
            raise UnknownService(f"unknown service {slug!r}")
        roots.append(index[slug])
    arrays = graph.arrays()
    order, parent = _reach(arrays, list(dict.fromkeys(roots)))
    segments, users_affected = _segments(graph, arrays, parent >= -1)
    total = graph.total_users
    ranks = np.bincount(arrays.criticality[order], minlength=4)
    # Index len(slugs) stands for "no parent" (a directly affected service).
    parents = parent[order]
    parents[parents < 0] = len(graph.slugs)
    return {
        "affected": [graph.slugs[i] for i in dict.fromkeys(roots)],
        # Parent pointers only: a path is rebuilt by following them (see with_paths).
        "services": {"slug": arrays.slugs[order].tolist(),
                     "name": arrays.names[order].tolist(),
                     "criticality": arrays.criticality_names[order].tolist(),
                     "parent": arrays.slugs[parents].tolist()},
        "segments": segments,
        "users_affected": users_affected,
        "users_total": total,
        "users_share": round(users_affected / total, 6) if total else 0.0,
        "services_affected": int(order.size),
        "critical_services": int(ranks[3]),
        "operational_risk": operational_risk(int(ranks[3]), int(ranks[2]), int(ranks[1])),
        "security_risk": bool(security_risk),
        "security_reason": security_reason if security_risk else "",
    }


def _reach(arrays: Arrays, roots: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The compromised services in breadth-first order, and the parent of every
    service: the one through which it was first reached, -1 for a directly
    affected one, -2 for one not compromised.

    Level by level: each level's neighbours are gathered, the unseen ones kept
    at their first occurrence, exactly the order a queue would visit them in.
    """
    indptr, indices = arrays.indptr, arrays.indices
    parent = np.full(len(indptr) - 1, -2, dtype=np.int64)
    frontier = np.array(roots, dtype=np.int64)
    parent[frontier] = -1
    levels = [frontier]
    while frontier.size:
        starts = indptr[frontier]
        counts = indptr[frontier + 1] - starts
        total = int(counts.sum())
        if not total:
            break
        ends = np.cumsum(counts)
        offsets = np.arange(total) + np.repeat(starts - (ends - counts), counts)
        neighbours = indices[offsets]
        sources = np.repeat(frontier, counts)
        fresh = parent[neighbours] == -2
        neighbours, sources = neighbours[fresh], sources[fresh]
        _unique, first = np.unique(neighbours, return_index=True)
        first.sort()
        frontier = neighbours[first]
        parent[frontier] = sources[first]
        levels.append(frontier)
    return np.concatenate(levels), parent


def _segments(graph: ServiceGraph, arrays: Arrays,
              compromised: np.ndarray) -> tuple[list[dict], int]:
    """Each segment served by a compromised service, at the largest share among them."""
    segments = []
    users_affected = 0
    for seg, services in enumerate(arrays.segment_services):
        hit = compromised[services]
        if not hit.any():
            continue
        # Services are sorted by share, largest first: the first hit gives the share.
        best = float(arrays.segment_shares[seg][int(hit.argmax())])
        users = graph.segment_users[seg]
        count = round(users * best)
        users_affected += count
        segments.append({"slug": graph.segment_slugs[seg], "name": graph.segment_names[seg],
                         "users": users, "share": best, "users_affected": count})
    return segments, users_affected


def operational_risk(critical: int, high: int, medium: int) -> str:
    """From how many critical, high and medium services are compromised."""
    if critical or high >= 3:
        return "high"
    if high or medium >= 3:
        return "medium"
    return "low"


def rows(snapshot: dict) -> list[dict]:
    """The compromised services of a snapshot, one dict each (slug, name, criticality, parent)."""
    columns = snapshot.get("services") or {}
    keys = ("slug", "name", "criticality", "parent")
    return [dict(zip(keys, values, strict=True))
            for values in zip(*(columns.get(k, []) for k in keys), strict=True)]


def compromised_slugs(snapshot: dict) -> list[str]:
    return list((snapshot.get("services") or {}).get("slug", []))


def path_of(snapshot: dict, slug: str) -> list[str]:
    """From a compromised service down to the directly affected one that explains it."""
    columns = snapshot.get("services") or {}
    parents = dict(zip(columns.get("slug", []), columns.get("parent", []), strict=True))
    path = [slug]
    while parents.get(path[-1]) is not None and len(path) <= len(parents):
        path.append(parents[path[-1]])
    return path


def with_paths(snapshot: dict) -> list[dict]:
    """The compromised services, each with its explaining path (computed once per call)."""
    services = rows(snapshot)
    paths: dict[str, list[str]] = {}
    # Breadth-first order puts every parent before its children, so each path
    # is its parent's path with one service in front.
    for service in services:
        parent = service["parent"]
        paths[service["slug"]] = [service["slug"], *paths.get(parent, [])] if parent else \
            [service["slug"]]
    return [{**service, "path": paths[service["slug"]]} for service in services]


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
        graph.add_share(by_id[service_id], seg_by_id[segment_id], share)
    # Build the arrays now, as part of loading, not in the first computation.
    graph.arrays()
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
