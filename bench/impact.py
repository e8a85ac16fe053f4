"""Benchmark of impact analysis on a big catalog.

Builds a catalog of 10,000 services and 50,000 dependency edges in a real
database, then prints:

- the time to load it into memory (``load_graph``), median of a few loads;
- the time of one impact computation (``compute``) with the graph already
  loaded, for the hub service (the one with the most transitive dependents)
  and, for context, for a mid-size service whose impact covers about 1% of
  the catalog: median and 95th percentile. The target is under 10 ms for the
  hub.

Run it from the project root::

    .venv/bin/python bench/impact.py      # or: make bench

By default it uses a fresh SQLite database in a temporary directory, removed
afterwards; nothing under ./data is touched. To measure PostgreSQL instead,
point ATALAIA_DATABASE_URL at an EMPTY, throwaway database and set
ATALAIA_SECRET_KEY (any value of 32 characters or more; Atalaia requires it
with PostgreSQL)::

    ATALAIA_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/atalaia_bench \\
    ATALAIA_SECRET_KEY=bench-secret-key-that-is-long-enough-123456 \\
    .venv/bin/python bench/impact.py

The benchmark refuses to run on a database whose catalog is not empty, and
deletes the rows it inserted when it ends.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

SERVICES = 10_000
EDGES = 50_000
SEGMENTS = 5
LOAD_RUNS = 5
COMPUTE_RUNS = 50
TARGET_MS = 10.0
SEED = 20240601
BATCH = 2_000
# Targets are drawn as int(source * u ** SKEW) with u uniform in [0, 1): the
# larger SKEW, the more edges land on low-index services, which become hubs
# (think DNS, auth, the main database), as in real catalogs.
SKEW = 3.0
CRITICALITY_WEIGHTS = {"low": 40, "medium": 35, "high": 20, "critical": 5}

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup_django(data_dir: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "atalaia.settings"
    # Always a temporary data directory: the SQLite file (unless
    # ATALAIA_DATABASE_URL says otherwise), the secret key and static files.
    os.environ["ATALAIA_DATA_DIR"] = data_dir
    os.environ.setdefault("ATALAIA_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def make_edges(rng: random.Random) -> list[tuple[int, int]]:
    """EDGES distinct (service, target) pairs with target < service: a DAG."""
    edges: set[tuple[int, int]] = set()
    while len(edges) < EDGES:
        source = rng.randrange(1, SERVICES)
        target = int(source * rng.random() ** SKEW)
        edges.add((source, target))
    return sorted(edges)


def build_catalog(rng: random.Random) -> dict[str, int]:
    from django.db import transaction

    from atalaia.catalog.models import (
        CatalogVersion,
        Dependency,
        Segment,
        Service,
        ServiceSegment,
    )

    crit_names = list(CRITICALITY_WEIGHTS)
    crit_weights = list(CRITICALITY_WEIGHTS.values())
    with transaction.atomic():
        Segment.objects.bulk_create(
            [Segment(slug=f"segment-{k}", name=f"Segment {k}",
                     users=rng.randrange(10_000, 2_000_000)) for k in range(SEGMENTS)])
        Service.objects.bulk_create(
            [Service(slug=f"svc-{i:05d}", name=f"Service {i}",
                     criticality=rng.choices(crit_names, crit_weights)[0])
             for i in range(SERVICES)], batch_size=BATCH)
        # Positions to primary keys, read back so it works on every database.
        pk_of = dict(Service.objects.filter(slug__startswith="svc-")
                     .values_list("slug", "pk"))
        pks = [pk_of[f"svc-{i:05d}"] for i in range(SERVICES)]
        seg_pks = list(Segment.objects.filter(slug__startswith="segment-")
                       .order_by("slug").values_list("pk", flat=True))
        edges = make_edges(rng)
        for start in range(0, len(edges), BATCH):
            Dependency.objects.bulk_create(
                [Dependency(service_id=pks[s], target_id=pks[t])
                 for s, t in edges[start:start + BATCH]])
        rows = []
        for i in range(SERVICES):
            for seg in rng.sample(seg_pks, rng.choice((1, 2))):
                rows.append(ServiceSegment(service_id=pks[i], segment_id=seg,
                                           share=round(rng.uniform(0.01, 1.0), 3)))
        ServiceSegment.objects.bulk_create(rows, batch_size=BATCH)
        CatalogVersion.bump()
    return {"services": Service.objects.count(), "edges": Dependency.objects.count(),
            "segments": Segment.objects.count(), "links": ServiceSegment.objects.count()}


def impact_sizes(graph) -> list[int]:
    """For every service, how many services its failure compromises (itself included).

    Exact, for any graph: one bitset per service, merged in reverse topological
    order (Kahn's algorithm on the dependents relation).
    """
    n = len(graph.slugs)
    pending = [0] * n  # how many services this one depends on still unmerged
    for dependents in graph.dependents:
        for d in dependents:
            pending[d] += 1
    order = [i for i in range(n) if pending[i] == 0]
    for i in order:  # grows while iterating
        for d in graph.dependents[i]:
            pending[d] -= 1
            if pending[d] == 0:
                order.append(d)
    if len(order) != n:
        raise SystemExit("the benchmark catalog has a dependency cycle")
    reach = [0] * n
    for i in reversed(order):
        bits = 1 << i
        for d in graph.dependents[i]:
            bits |= reach[d]
        reach[i] = bits
    return [bits.bit_count() for bits in reach]


def timed(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def cleanup() -> None:
    from atalaia.catalog.models import CatalogVersion, Dependency, Segment, Service, ServiceSegment

    Dependency.objects.all().delete()
    ServiceSegment.objects.all().delete()
    Service.objects.all().delete()
    Segment.objects.all().delete()
    CatalogVersion.bump()


def main() -> int:
    data_dir = tempfile.mkdtemp(prefix="atalaia-bench-")
    try:
        setup_django(data_dir)
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        from atalaia.catalog.impact import compute, load_graph
        from atalaia.catalog.models import CatalogVersion, Segment, Service

        print("Atalaia impact benchmark")
        print(f"  Python {platform.python_version()} ({platform.python_implementation()}), "
              f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}")
        db = settings.DATABASES["default"]
        # A database inside the temporary directory goes away with it; any other
        # (ATALAIA_DATABASE_URL) gets the benchmark's rows deleted at the end.
        temporary = str(db["NAME"]).startswith(data_dir)
        where = "temporary file" if temporary else f"{db.get('HOST') or 'local'}/{db['NAME']}"
        print(f"  database: {connection.vendor} {connection.Database.sqlite_version}"
              if connection.vendor == "sqlite" else f"  database: {connection.vendor}", end="")
        print(f" ({where})")

        call_command("migrate", verbosity=0, interactive=False)
        if Service.objects.exists() or Segment.objects.exists():
            print("refusing to run: the catalog of this database is not empty; "
                  "point ATALAIA_DATABASE_URL at an empty, throwaway database", file=sys.stderr)
            return 2

        rng = random.Random(SEED)
        start = time.perf_counter()
        counts = build_catalog(rng)
        build_s = time.perf_counter() - start
        try:
            print(f"  catalog: {counts['services']} services, {counts['edges']} dependencies, "
                  f"{counts['segments']} segments, {counts['links']} service-segment links")
            print(f"           built with bulk_create in {build_s:.1f} s (seed {SEED})")

            version = CatalogVersion.current()
            load_times = timed(lambda: load_graph(version), LOAD_RUNS)
            graph = load_graph(version)

            sizes = impact_sizes(graph)
            hub = max(range(len(sizes)), key=lambda i: (sizes[i], -i))
            one_percent = len(sizes) / 100
            mid = min(range(len(sizes)), key=lambda i: (abs(sizes[i] - one_percent), i))

            print()
            print(f"load_graph (from the database), {LOAD_RUNS} runs:")
            print(f"  median {statistics.median(load_times) * 1000:9.1f} ms   "
                  f"min {min(load_times) * 1000:.1f} ms   max {max(load_times) * 1000:.1f} ms")

            print()
            print(f"compute(graph, [slug]) with the graph loaded, {COMPUTE_RUNS} runs each "
                  "(after one untimed call):")
            print(f"  {'case':<5} {'service':<10} {'compromised':>13} {'median ms':>10} "
                  f"{'p95 ms':>8} {'min ms':>8} {'max ms':>8}")
            results = {}
            for label, index in (("hub", hub), ("~1%", mid)):
                slug = graph.slugs[index]
                snapshot = compute(graph, [slug])
                if snapshot["services_affected"] != sizes[index]:
                    raise SystemExit(f"{slug}: compute() says {snapshot['services_affected']} "
                                     f"services, the benchmark counted {sizes[index]}")
                times = [t * 1000 for t in timed(lambda s=slug: compute(graph, [s]),
                                                 COMPUTE_RUNS)]
                results[label] = (statistics.median(times), p95(times))
                compromised = f"{sizes[index]} ({100 * sizes[index] / len(sizes):.1f}%)"
                print(f"  {label:<5} {slug:<10} {compromised:>13} "
                      f"{statistics.median(times):>10.2f} {p95(times):>8.2f} "
                      f"{min(times):>8.2f} {max(times):>8.2f}")
            print(f"  compromised: services a failure of it compromises, itself included; "
                  f"the hub has {len(graph.dependents[hub])} direct dependents")

            print()
            median_ms, p95_ms = results["hub"]
            verdict = "MET" if median_ms < TARGET_MS else "NOT MET"
            print(f"target: hub compute under {TARGET_MS:.0f} ms -> {verdict} "
                  f"(median {median_ms:.2f} ms, p95 {p95_ms:.2f} ms)")
        finally:
            if not temporary:
                cleanup()
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
