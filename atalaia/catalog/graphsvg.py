"""The dependency graph as an SVG picture, laid out in layers by Graphviz's dot.

Edges point from a service to what it depends on, so dependencies sit below
their dependents. Above GRAPH_FULL_LIMIT services only the neighbourhood of
the services in question is drawn.
"""

from __future__ import annotations

import hashlib
import subprocess

from django.conf import settings
from django.core.cache import cache

from atalaia.catalog.impact import ServiceGraph

COLOURS = {"affected": ("#b42318", "#fee4e2"), "compromised": ("#b54708", "#fef0c7"),
           "normal": ("#475467", "#ffffff")}


class GraphUnavailable(RuntimeError):
    pass


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def neighbourhood(graph: ServiceGraph, focus: set[int], depth: int = 2) -> set[int]:
    depends: dict[int, list[int]] = {}
    for target, deps in enumerate(graph.dependents):
        for dep in deps:
            depends.setdefault(dep, []).append(target)
    keep = set(focus)
    frontier = set(focus)
    for _ in range(depth):
        nxt = set()
        for node in frontier:
            nxt.update(graph.dependents[node])
            nxt.update(depends.get(node, ()))
        frontier = nxt - keep
        keep |= nxt
    return keep


def dot_source(graph: ServiceGraph, affected: set[str], compromised: set[str],
               focus: set[str] | None = None, link_prefix: str = "") -> str:
    nodes = set(range(len(graph.slugs)))
    if len(nodes) > settings.GRAPH_FULL_LIMIT:
        seeds = {graph.index[s] for s in (focus or set()) | affected if s in graph.index}
        nodes = neighbourhood(graph, seeds) if seeds else set()
    # Wide catalogs are laid out left to right: a tall picture scrolls and stays
    # readable, where a wide one would be shrunk until its labels are not.
    direction = "TB" if len(nodes) <= 40 else "LR"
    lines = ["digraph services {",
             f"rankdir={direction}; splines=true; nodesep=0.2; ranksep=0.6; concentrate=true;",
             'node [shape=box, style="rounded,filled", fontname="DejaVu Sans", fontsize=11];',
             'edge [color="#98a2b3", arrowsize=0.6];']
    for i in sorted(nodes):
        slug = graph.slugs[i]
        state = "affected" if slug in affected else \
            "compromised" if slug in compromised else "normal"
        line, fill = COLOURS[state]
        lines.append(f"{_quote(slug)} [label={_quote(graph.names[i])}, color={_quote(line)}, "
                     f"fillcolor={_quote(fill)}, tooltip={_quote(slug)}, "
                     f"URL={_quote(link_prefix + slug + '/')}, class={_quote(state)}];")
    for target in sorted(nodes):
        for dep in graph.dependents[target]:
            if dep in nodes:
                lines.append(f"{_quote(graph.slugs[dep])} -> {_quote(graph.slugs[target])};")
    lines.append("}")
    return "\n".join(lines)


def render_svg(graph: ServiceGraph, affected: set[str] = frozenset(),  # type: ignore[assignment]
               compromised: set[str] = frozenset(),  # type: ignore[assignment]
               focus: set[str] | None = None, link_prefix: str = "/services/") -> str:
    source = dot_source(graph, set(affected), set(compromised), focus, link_prefix)
    key = "graph-svg:" + hashlib.sha256(source.encode()).hexdigest()
    svg = cache.get(key)
    if svg is None:
        try:
            done = subprocess.run([settings.GRAPHVIZ_DOT, "-Tsvg"], input=source.encode(),
                                  capture_output=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise GraphUnavailable(f"Graphviz could not draw the graph: {exc}") from None
        svg = done.stdout.decode()
        # Keep the <svg> element only: the XML prologue is not valid inside HTML.
        svg = svg[svg.find("<svg"):]
        cache.set(key, svg, 3600)
    return svg
