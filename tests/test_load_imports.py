"""The load and abuse harness (mminspect/lab/load) has no circle of imports between its files,
type-only imports included: the cases use the client, the runner uses both, and the client
names the runner it reads only through a protocol of its own (client.RunClock)."""
from __future__ import annotations

from test_layering import PKG, find_cycle, module_graph


def test_the_modules_of_lab_load_form_no_cycle():
    graph = module_graph(PKG / "lab" / "load")
    load = "mminspect.lab.load"
    assert f"{load}.client" in graph[f"{load}.cases"], "the lab/load graph was not read"
    assert f"{load}.cases" in graph[f"{load}.runner"]
    assert find_cycle(graph) is None, f"import cycle in lab/load: {find_cycle(graph)}"
