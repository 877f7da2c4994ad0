"""A workflow definition as a graph of nodes and edges, coloured by a run's task statuses.

The shape follows Conductor's UI (`ui/src/components/diagram/WorkflowDAG.js`
in conductor-oss/conductor): a `__start` and a `__final` node around the
task list; a SWITCH/DECISION fans out to its cases (and, with no default
case, is itself one of the ends); FORK_JOIN fans out to its branches, which
meet at the JOIN after it; a DO_WHILE is a top node, its `loopOver` tasks
and a bottom `<ref>-END` node, with a loop edge from top to bottom; a
FORK_JOIN_DYNAMIC fans out to the tasks it forked (`forkedTaskDefs` of the
run's fork task; a placeholder before it forked); a TERMINATE ends its
branch (no edge to `__final`). `__final` is dropped when
every branch terminates.

The result is plain data (`{"nodes": [...], "edges": [...]}` in the shape
cytoscape.js takes as `elements`), so it is served as JSON and drawn in the
browser; every label is text, never HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

START, FINAL = "__start", "__final"
_SWITCHES = frozenset({"SWITCH", "DECISION"})
_LOOPS = frozenset({"DO_WHILE", "WHILE"})
_TERMINAL_RUN = frozenset({"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"})


@dataclass
class _Builder:
    statuses: Mapping[str, str]
    children: Mapping[str, str]
    spawned: Mapping[str, Sequence[Mapping[str, Any]]]
    iterations: Mapping[str, int]
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def vertex(
        self, task: Mapping[str, Any], before: Sequence[str], *, kind: str = "", label: str = ""
    ) -> str:
        ref = str(task.get("taskReferenceName") or task.get("name") or "?")
        task_type = kind or str(task.get("type") or "SIMPLE")
        if ref not in self.nodes:
            status = self.statuses.get(str(task.get("aliasForRef") or ref))
            node: dict[str, Any] = {
                "id": ref,
                "label": ref if ref in (START, FINAL) else f"{ref}\n{task_type}",
                "type": task_type,
                "status": status or "NOT_STARTED",
            }
            child = self.children.get(ref)
            if child:
                node["child"] = child
            runs = self.iterations.get(ref, 0)
            if runs > 1:
                node["label"] += f"\n{runs} iterations"  # it ran in that many DO_WHILE iterations
            self.nodes[ref] = node
        for source in before:
            self.edge(source, ref, label=label)
        return ref

    def edge(self, source: str, target: str, *, kind: str = "", label: str = "") -> None:
        edge_id = f"{source}->{target}"
        if any(e["id"] == edge_id for e in self.edges):
            return
        executed = self.nodes.get(target, {}).get("status", "NOT_STARTED") != "NOT_STARTED"
        edge = {
            "id": edge_id,
            "source": source,
            "target": target,
            "executed": executed,
            "kind": kind,
        }
        if label:
            edge["label"] = label
        self.edges.append(edge)

    def tasks(
        self, tasks: Sequence[Mapping[str, Any]], before: list[str], *, label: str = ""
    ) -> list[str]:
        """The tasks in sequence after `before`; `label` names the first edge (a case)."""
        ends = before
        for index, task in enumerate(tasks):
            ends = self.task(task, ends, label=label if index == 0 else "")
        return ends

    def task(self, task: Mapping[str, Any], before: list[str], *, label: str = "") -> list[str]:
        task_type = str(task.get("type") or "SIMPLE")
        if task_type in _SWITCHES:
            ref = self.vertex(task, before, label=label)
            default = list(task.get("defaultCase") or [])
            ends = self.tasks(default, [ref], label="default") if default else [ref]
            for case, branch in (task.get("decisionCases") or {}).items():
                ends = ends + self.tasks(list(branch or []), [ref], label=str(case))
            return ends
        if task_type == "FORK_JOIN":
            ref = self.vertex(task, before, label=label)
            ends = []
            for branch in task.get("forkTasks") or []:
                ends += self.tasks(list(branch or []), [ref])
            return ends or [ref]
        if task_type == "FORK_JOIN_DYNAMIC":
            ref = self.vertex(task, before, label=label)
            forked = self.spawned.get(ref)
            if not forked:  # nothing forked yet: a placeholder, as Conductor's UI draws
                empty = {"taskReferenceName": f"{ref}_DF_EMPTY_PLACEHOLDER", "aliasForRef": ref}
                return [self.vertex(empty, [ref], kind="DF_EMPTY_PLACEHOLDER")]
            return [self.vertex(spawn, [ref]) for spawn in forked]
        if task_type in _LOOPS:
            ref = self.vertex(task, before, label=label)
            inner = self.tasks(list(task.get("loopOver") or []), [ref])
            end = {"taskReferenceName": f"{ref}-END", "aliasForRef": ref, "name": ref}
            end_ref = self.vertex(end, inner, kind=f"{task_type}_END")
            self.edge(ref, end_ref, kind="loop")
            return [end_ref]
        if task_type == "TERMINATE":
            self.vertex(task, before, label=label)
            return []
        return [self.vertex(task, before, label=label)]


def last_statuses(tasks: Sequence[Any], run_status: str | None) -> dict[str, str]:
    """The status of each task reference's latest attempt (a DO_WHILE iteration's
    `ref__n` counts as `ref`), plus `__start` / `__final` as Conductor's UI marks them."""
    statuses: dict[str, str] = {}
    for task in tasks:
        ref = str(task.ref)
        base, sep, tail = ref.rpartition("__")
        statuses[ref] = str(task.status)
        if sep and tail.isdigit():
            statuses[base] = str(task.status)
    if run_status is not None:
        statuses[START] = "COMPLETED"
        terminated = any(str(task.type) == "TERMINATE" for task in tasks)
        if run_status == "COMPLETED" and not terminated:
            statuses[FINAL] = "COMPLETED"
    return statuses


def loop_iterations(tasks: Sequence[Any]) -> dict[str, int]:
    """A DO_WHILE body task's reference -> how many iterations it ran in (`ref__n`)."""
    found: dict[str, int] = {}
    for task in tasks:
        base, sep, tail = str(task.ref).rpartition("__")
        if sep and tail.isdigit():
            found[base] = max(found.get(base, 0), int(tail))
    return found


def dynamic_forks(tasks: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """FORK_JOIN_DYNAMIC reference -> the tasks its latest attempt forked (`forkedTaskDefs`)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        defs = task.output.get("forkedTaskDefs") if isinstance(task.output, dict) else None
        if isinstance(defs, list):
            found[str(task.ref)] = [d for d in defs if isinstance(d, dict)]
    return found


def sub_workflow_children(tasks: Sequence[Any]) -> dict[str, str]:
    """SUB_WORKFLOW task reference -> the child run id of its latest attempt."""
    found: dict[str, str] = {}
    for task in tasks:
        child = getattr(task, "sub_workflow_id", None)
        if child:
            found[str(task.ref)] = str(child)
    return found


def build(
    definition: Mapping[str, Any],
    *,
    statuses: Mapping[str, str] | None = None,
    children: Mapping[str, str] | None = None,
    spawned: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    iterations: Mapping[str, int] | None = None,
    run_status: str | None = None,
) -> dict[str, Any]:
    """The graph of `definition` (Conductor's JSON), each node carrying its run status.

    Returns `{"nodes": [{"id", "label", "type", "status", "child"?}], "edges":
    [{"id", "source", "target", "executed", "kind", "label"?}], "terminal": bool}`
    (`label`: a SWITCH case's value on the edge into its branch);
    `terminal` says the run is over (the browser stops refreshing).
    """
    builder = _Builder(
        statuses=statuses or {},
        children=children or {},
        spawned=spawned or {},
        iterations=iterations or {},
    )
    start = builder.vertex({"taskReferenceName": START}, [], kind="TERMINAL")
    ends = builder.tasks(list(definition.get("tasks") or []), [start])
    if ends:
        builder.vertex({"taskReferenceName": FINAL}, ends, kind="TERMINAL")
    return {
        "nodes": list(builder.nodes.values()),
        "edges": builder.edges,
        "terminal": run_status in _TERMINAL_RUN,
    }
