import pytest

from atalaia.catalog.impact import (
    ServiceGraph,
    UnknownService,
    compromised_slugs,
    compute,
    path_of,
    with_paths,
)


def build(services, deps, segments=(), serves=()):
    """services: {slug: criticality}; deps: [(service, target)]; serves: [(svc, seg, share)]."""
    graph = ServiceGraph()
    for slug, crit in services.items():
        graph.add_service(slug, slug.title(), crit)
    seg_index = {slug: graph.add_segment(slug, slug, users) for slug, users in segments}
    for service, target in deps:
        graph.add_dependency(graph.index[service], graph.index[target])
    for svc, seg, share in serves:
        graph.add_share(graph.index[svc], seg_index[seg], share)
    return graph


def test_transitive_dependents_are_compromised_with_their_path():
    graph = build({"db": "critical", "api": "high", "web": "medium", "other": "low"},
                  [("api", "db"), ("web", "api")])
    impact = compute(graph, ["db"])
    assert set(compromised_slugs(impact)) == {"db", "api", "web"}
    assert path_of(impact, "web") == ["web", "api", "db"]
    assert path_of(impact, "db") == ["db"]
    assert {s["slug"]: s["path"] for s in with_paths(impact)}["web"] == ["web", "api", "db"]


def test_diamond_dependency_counts_each_service_and_segment_once():
    #      app
    #     /   \
    #   svc1  svc2
    #     \   /
    #      db
    graph = build({"db": "high", "svc1": "medium", "svc2": "medium", "app": "low"},
                  [("svc1", "db"), ("svc2", "db"), ("app", "svc1"), ("app", "svc2")],
                  segments=[("br", 1000), ("pt", 500)],
                  serves=[("svc1", "br", 0.4), ("svc2", "br", 0.7), ("app", "br", 0.2),
                          ("svc2", "pt", 0.5)])
    impact = compute(graph, ["db"])
    assert impact["services_affected"] == 4
    assert compromised_slugs(impact).count("app") == 1
    # br: the largest share among compromised services (0.7), not a sum.
    by_segment = {s["slug"]: s["users_affected"] for s in impact["segments"]}
    assert by_segment == {"br": 700, "pt": 250}
    assert impact["users_affected"] == 950
    assert impact["users_share"] == pytest.approx(950 / 1500, abs=1e-6)


def test_unaffected_branch_is_not_counted():
    graph = build({"db": "low", "cache": "low", "api": "low"}, [("api", "cache")],
                  segments=[("all", 100)], serves=[("api", "all", 1.0)])
    impact = compute(graph, ["db"])
    assert impact["users_affected"] == 0
    assert impact["services_affected"] == 1


@pytest.mark.parametrize(("crits", "risk"), [
    (["low", "low"], "low"),
    (["medium", "medium", "medium"], "medium"),
    (["high"], "medium"),
    (["high", "high", "high"], "high"),
    (["critical"], "high"),
])
def test_operational_risk_follows_the_documented_rule(crits, risk):
    services = {f"s{i}": c for i, c in enumerate(crits)}
    deps = [(f"s{i}", "s0") for i in range(1, len(crits))]
    impact = compute(build(services, deps), ["s0"])
    assert impact["operational_risk"] == risk


def test_security_risk_is_carried_with_its_reason():
    impact = compute(build({"a": "low"}, []), ["a"], security_risk=True,
                     security_reason="credentials leaked")
    assert impact["security_risk"] is True
    assert impact["security_reason"] == "credentials leaked"


def test_unknown_service_is_refused():
    with pytest.raises(UnknownService, match="nope"):
        compute(build({"a": "low"}, []), ["nope"])


def test_the_path_shown_is_a_shortest_one():
    graph = build({"db": "low", "a": "low", "b": "low", "web": "low"},
                  [("a", "db"), ("b", "a"), ("web", "b"), ("web", "db")])
    assert path_of(compute(graph, ["db"]), "web") == ["web", "db"]


def test_several_affected_services_each_explain_their_dependents():
    graph = build({"db": "low", "dns": "low", "api": "low", "mail": "low"},
                  [("api", "db"), ("mail", "dns")])
    impact = compute(graph, ["db", "dns", "db"])
    assert impact["affected"] == ["db", "dns"]
    assert path_of(impact, "api") == ["api", "db"]
    assert path_of(impact, "mail") == ["mail", "dns"]


def test_big_catalogs_are_drawn_left_to_right_and_only_around_the_focus(settings):
    from atalaia.catalog.graphsvg import dot_source

    services = {f"s{i}": "low" for i in range(60)}
    graph = build(services, [(f"s{i}", f"s{i - 1}") for i in range(1, 60)])
    assert "rankdir=LR" in dot_source(graph, set(), set())
    settings.GRAPH_FULL_LIMIT = 50
    source = dot_source(graph, {"s30"}, set())
    drawn = {f"s{i}" for i in range(60) if f'"s{i}" [' in source}
    assert drawn == {"s28", "s29", "s30", "s31", "s32"}
