#!/usr/bin/env python3
"""Prints the dependency pictures of docs/architecture.md (Mermaid) from the code itself:
projects from the csproj ProjectReferences, feature folders from the namespaces their files name
(`using DiT.Api.Generate;` or a qualified `DiT.Serving.Engine.X`). Cycles between folders are listed after the picture.
Usage: tools/dependency-graph.py > /tmp/graph.md   (then paste between the markers in docs/architecture.md)"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ["DiT.Model", "DiT.Diffusion", "DiT.Training", "DiT.Serving", "DiT.Api", "DiT.Cli"]
FOLDERED = ["DiT.Serving", "DiT.Api"]  # projects whose top-level folders are features with namespaces of their own


def project_edges():
    for project in PROJECTS:
        text = (ROOT / "src" / project / f"{project}.csproj").read_text()
        for target in re.findall(r'ProjectReference Include="[^"]*?([\w.]+)\.csproj"', text):
            yield project, target


def folder_edges():
    """(from, to) for every feature folder that names another folder's namespace."""
    features = {f"{p}.{d.name}" for p in FOLDERED for d in (ROOT / "src" / p).iterdir() if d.is_dir() and d.name not in ("bin", "obj", "wwwroot", "Data")}
    mention = re.compile(r"\b(DiT\.(?:Api|Serving)\.\w+)")
    edges = set()
    for source in sorted(features):
        project, folder = source.rsplit(".", 1)
        for file in (ROOT / "src" / project / folder).rglob("*.cs"):
            for target in mention.findall(file.read_text()):
                if target in features and target != source:
                    edges.add((source, target))
    return sorted(features), sorted(edges)


def cycles(nodes, edges):
    """Strongly connected components with more than one folder (Tarjan)."""
    graph = {n: [b for a, b in edges if a == n] for n in nodes}
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(n):
        index[n] = low[n] = counter[0]; counter[0] += 1; stack.append(n); on_stack.add(n)
        for m in graph[n]:
            if m not in index: visit(m); low[n] = min(low[n], low[m])
            elif m in on_stack: low[n] = min(low[n], index[m])
        if low[n] == index[n]:
            component = []
            while True:
                m = stack.pop(); on_stack.discard(m); component.append(m)
                if m == n: break
            if len(component) > 1: found.append(sorted(component))

    for n in nodes:
        if n not in index: visit(n)
    return found


def node(name):
    return name.replace(".", "_")


print("```mermaid\nflowchart TD")
for a, b in project_edges():
    print(f"  {node(a)}[{a}] --> {node(b)}[{b}]")
print("```\n")
features, edges = folder_edges()
print("```mermaid\nflowchart LR")
for project in FOLDERED:
    print(f"  subgraph {node(project)}[{project}]")
    for f in features:
        if f.startswith(project + "."): print(f"    {node(f)}[{f.rsplit('.', 1)[1]}]")
    print("  end")
for a, b in edges:
    print(f"  {node(a)} --> {node(b)}")
print("```\n")
found = cycles(features, edges)
print("Cycles between feature folders: " + ("; ".join(" <-> ".join(c) for c in found) if found else "none") + ".")
