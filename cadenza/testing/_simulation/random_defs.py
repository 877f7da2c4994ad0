"""Random Conductor definitions, drawn from a seeded `random.Random`, valid by construction.

Design note
-----------
`random_definitions(rng)` draws a small family of definitions: `CHILDREN`
leaf workflows (SIMPLE, WAIT and SET_VARIABLE tasks) and `PARENTS` top-level
ones that nest SWITCH (value-param), FORK_JOIN + JOIN, DO_WHILE (over
`items`, never inside another), SUB_WORKFLOW (of a child), TERMINATE, WAIT,
SET_VARIABLE and SIMPLE tasks, each SIMPLE or SUB_WORKFLOW `optional` or
`permissive` at random. Every choice respects what registration checks
(`cadenza.language._validate`): references unique across the whole
definition, a JOIN right after its fork joining on each branch's last
reference, a literal `terminationStatus`, a DO_WHILE with `items`. A
TERMINATE is only drawn outside forks and loops, and ends its task list.

Every SIMPLE task takes the same inputs: the run's number `n`, its own
reference `ref` (with `n`, the key a flaky worker counts its failures by),
and `fails`, how many times the run's flaky tasks fail before they pass. A
run's input picks the SWITCH case (`c`), the loop's `items`, the WAITs'
`w` seconds and `fails` (`run_input`).

The draws only use the `rng` handed in, so a seed gives the same family; a
hypothesis strategy can wrap the same generator (`tests/simulation`).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

EXTERNAL = "r_ext"  # served by external pollers
LOCAL = "r_local"  # served by a local worker
FLAKY = "r_flaky"  # a local worker failing `fails` times per task, then passing
TASK_TYPES = (EXTERNAL, LOCAL, FLAKY)
CHILDREN = 2
PARENTS = 4
CASES = ("a", "b", "z")  # "z" takes the default case


def child_name(index: int) -> str:
    return f"rand_child_{index}"


def parent_name(index: int) -> str:
    return f"rand_{index}"


class _Drawer:
    def __init__(self, rng: random.Random, children: int, flaky_weight: int) -> None:
        self.rng = rng
        self.weights = (4, 4, flaky_weight)
        self.children = children
        self.refs = itertools.count()

    def ref(self, prefix: str) -> str:
        return f"{prefix}{next(self.refs)}"

    def flags(self, task: dict[str, Any]) -> dict[str, Any]:
        draw = self.rng.random()
        if draw < 0.15:
            task["optional"] = True
        elif draw < 0.25:
            task["permissive"] = True
        elif draw < 0.3:
            task["optional"] = task["permissive"] = True
        return task

    def simple(self) -> dict[str, Any]:
        ref = self.ref("s")
        task_type = self.rng.choices(TASK_TYPES, self.weights)[0]
        return self.flags(
            {
                "name": task_type,
                "taskReferenceName": ref,
                "type": "SIMPLE",
                "inputParameters": {
                    "n": "${workflow.input.n}",
                    "ref": ref,
                    "fails": "${workflow.input.fails}",
                    "payload": {"list": [1, 2, {"deep": ref}]},
                },
            }
        )

    def wait(self) -> dict[str, Any]:
        ref = self.ref("w")
        duration = self.rng.choice(("${workflow.input.w}", "1s", "${workflow.input.w}"))
        return {
            "name": ref,
            "taskReferenceName": ref,
            "type": "WAIT",
            "inputParameters": {"duration": duration},
        }

    def set_variable(self) -> dict[str, Any]:
        ref = self.ref("v")
        return {
            "name": ref,
            "taskReferenceName": ref,
            "type": "SET_VARIABLE",
            "inputParameters": {ref: "${workflow.input.n}", "shared": ref},
        }

    def sub_workflow(self) -> dict[str, Any]:
        ref = self.ref("c")
        child = child_name(self.rng.randrange(self.children))
        return self.flags(
            {
                "name": ref,
                "taskReferenceName": ref,
                "type": "SUB_WORKFLOW",
                "subWorkflowParam": {"name": child, "version": 1},
                "inputParameters": {
                    "n": "${workflow.input.n}",
                    "fails": "${workflow.input.fails}",
                    "w": "${workflow.input.w}",
                },
            }
        )

    def terminate(self) -> dict[str, Any]:
        ref = self.ref("t")
        status = self.rng.choice(("COMPLETED", "FAILED", "TERMINATED"))
        return {
            "name": ref,
            "taskReferenceName": ref,
            "type": "TERMINATE",
            "inputParameters": {
                "terminationStatus": status,
                "workflowOutput": {"by": ref},
            },
        }

    def tasks(self, depth: int, *, in_fork: bool, in_loop: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(self.rng.randint(1, 3)):
            kinds = ["SIMPLE", "SIMPLE", "WAIT", "SET_VARIABLE"]
            if depth > 0:
                kinds += ["SWITCH", "FORK", "SUB_WORKFLOW"] + ([] if in_loop else ["LOOP"])
            kind = self.rng.choice(kinds)
            if kind == "SIMPLE":
                out.append(self.simple())
            elif kind == "WAIT":
                out.append(self.wait())
            elif kind == "SET_VARIABLE":
                out.append(self.set_variable())
            elif kind == "SUB_WORKFLOW":
                out.append(self.sub_workflow())
            elif kind == "SWITCH":
                out.append(self.switch(depth, in_fork=in_fork, in_loop=in_loop))
            elif kind == "FORK":
                out.extend(self.fork(depth, in_loop=in_loop))
            else:
                out.append(self.loop(depth, in_fork=in_fork))
        if not in_fork and not in_loop and self.rng.random() < 0.15:
            out.append(self.terminate())  # nothing may follow it
        return out

    def switch(self, depth: int, *, in_fork: bool, in_loop: bool) -> dict[str, Any]:
        ref = self.ref("sw")
        cases = {
            case: self.tasks(depth - 1, in_fork=in_fork, in_loop=in_loop)
            for case in self.rng.sample(CASES[:2], self.rng.randint(1, 2))
        }
        default = (
            self.tasks(depth - 1, in_fork=in_fork, in_loop=in_loop)
            if self.rng.random() < 0.5
            else []
        )
        return {
            "name": ref,
            "taskReferenceName": ref,
            "type": "SWITCH",
            "evaluatorType": "value-param",
            "expression": "c",
            "inputParameters": {"c": "${workflow.input.c}"},
            "decisionCases": cases,
            "defaultCase": default,
        }

    def fork(self, depth: int, *, in_loop: bool) -> list[dict[str, Any]]:
        ref = self.ref("f")
        branches = [
            self.tasks(depth - 1, in_fork=True, in_loop=in_loop)
            for _ in range(self.rng.randint(2, 3))
        ]
        join = f"{ref}j"
        return [
            {"name": ref, "taskReferenceName": ref, "type": "FORK_JOIN", "forkTasks": branches},
            {
                "name": join,
                "taskReferenceName": join,
                "type": "JOIN",
                "joinOn": [branch[-1]["taskReferenceName"] for branch in branches],
            },
        ]

    def loop(self, depth: int, *, in_fork: bool) -> dict[str, Any]:
        ref = self.ref("l")
        return {
            "name": ref,
            "taskReferenceName": ref,
            "type": "DO_WHILE",
            "items": "${workflow.input.items}",
            "inputParameters": {"items": "${workflow.input.items}"},
            "loopOver": self.tasks(depth - 1, in_fork=in_fork, in_loop=True),
        }


def random_definitions(rng: random.Random, *, flaky_weight: int = 1) -> list[dict[str, Any]]:
    """`CHILDREN` leaf workflows, then `PARENTS` nested ones (see the module note); SIMPLE
    tasks are `r_ext`, `r_local` and `r_flaky` in the proportions 4 : 4 : `flaky_weight`."""
    drawer = _Drawer(rng, CHILDREN, flaky_weight)
    found: list[dict[str, Any]] = []
    for index in range(CHILDREN):
        found.append(
            {
                "name": child_name(index),
                "version": 1,
                "tasks": drawer.tasks(0, in_fork=False, in_loop=False),
                "outputParameters": {"n": "${workflow.input.n}"},
            }
        )
    for index in range(PARENTS):
        found.append(
            {
                "name": parent_name(index),
                "version": 1,
                "restartable": True,
                "tasks": drawer.tasks(rng.randint(1, 3), in_fork=False, in_loop=False),
                "outputParameters": {"n": "${workflow.input.n}"},
            }
        )
    return found


def run_input(rng: random.Random, n: int, *, deep_fail_p: float = 0.0) -> dict[str, Any]:
    """A run's input: its number, SWITCH case, loop items, WAIT seconds and flaky failures.

    With probability `deep_fail_p` the flaky tasks fail past the 1,024th retry, where
    `2**retries` overflows a float (EXPONENTIAL_BACKOFF must cap before computing).
    """
    if rng.random() < deep_fail_p:
        fails = rng.randint(1030, 1060)
    else:
        fails = rng.choice((0, 0, 0, 1, 3))
    return {
        "n": n,
        "c": rng.choice(CASES),
        "items": list(range(rng.randint(1, 2))),
        "w": rng.choice((0.5, 1, 2)),
        "fails": fails,
    }


def refs_of(tasks: list[dict[str, Any]]) -> list[str]:
    """Every task reference in `tasks`, nested ones included, in definition order."""
    found: list[str] = []
    for task in tasks:
        found.append(task["taskReferenceName"])
        for branch in task.get("forkTasks", []):
            found.extend(refs_of(branch))
        for case in task.get("decisionCases", {}).values():
            found.extend(refs_of(case))
        found.extend(refs_of(task.get("defaultCase", [])))
        found.extend(refs_of(task.get("loopOver", [])))
    return found
