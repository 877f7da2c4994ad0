"""Registered workflow and task definitions, journaled and cached in memory.

Workflow bodies are stored by content digest, so a run keeps the exact
definition it started with even if its (name, version) is registered again.
Task definitions share the journal's definition table under version -1
(workflow versions are never negative), inline sub-workflow definitions
under version -2 and their `inline_key` (see `_dynamic.py`): they are found
by that key only, so they never shadow a registered workflow. A definition
given to `start` itself (Conductor's StartWorkflowRequest.workflowDef) is
kept the same way (`unregistered`), parsed without validation as Conductor
starts it; every journaled body is read back the same lenient way (it was
accepted once), so a run always loads the definition it started with.

Registering checks SUB_WORKFLOW cycles through what is already registered
(`check_cycles`) before anything is journaled. A task type Conductor does
not know is accepted only if a system task of that type is registered on
this runtime (`system_types`, `rt.system_task`); a journaled body is read
back accepting any such type (`parse_workflow_def(system_types=None)`), so
a restarted process that lacks one still loads every definition and run.

On a journal several processes share (`shared`), another process may
register at any time: `found` reads a name it does not know through to the
journal once before `NotFound`, and `refresh` (the partitions' heartbeat)
takes in new versions and changed task definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cadenza._errors import NotFound
from cadenza.language._definition import WorkflowDef, to_conductor_json
from cadenza.language._inline import INLINE_VERSION, inline_definitions, inline_key
from cadenza.language._parse import parse_workflow_def
from cadenza.language._taskdef import TaskDef, parse_task_def
from cadenza.language._validate import check_cycles
from cadenza.persistence import DefinitionRecord, Journal

TASK_DEF_VERSION = -1


class Registry:
    """Definitions by (name, version), by digest, and task definitions by name."""

    def __init__(self, journal: Journal, env_names: frozenset[str] = frozenset()):
        self.journal = journal
        self.env_names = env_names  # `${NAME}`s the runtime's template_env resolves
        self.workflows: dict[tuple[str, int], tuple[WorkflowDef, str]] = {}
        self.digests: dict[str, WorkflowDef] = {}
        self.task_defs: dict[str, TaskDef] = {}
        self.inline: dict[str, tuple[WorkflowDef, str]] = {}  # inline_key -> (definition, digest)
        self.shared = False  # other processes register on the same journal
        self._known: dict[tuple[str, int], str] = {}  # (name, version) -> digest taken in
        self.system_types: set[str] = set()  # task types of the system tasks registered

    async def refresh(self) -> int:
        """Take in what other processes registered since; how many were new or changed."""
        changed = 0
        for record in await self.journal.definitions():
            if self._known.get((record.name, record.version)) != record.digest:
                self._remember(record)
                changed += 1
        return changed

    async def found(self, name: str, version: int | None = None) -> tuple[WorkflowDef, str]:
        """`get`; on a shared journal, once more after a `refresh` before `NotFound`."""
        try:
            return self.get(name, version)
        except NotFound:
            if not self.shared:
                raise
        await self.refresh()
        return self.get(name, version)

    async def load(self) -> None:
        await self.refresh()

    def _remember(self, record: DefinitionRecord) -> None:
        self._known[(record.name, record.version)] = record.digest
        if record.version == TASK_DEF_VERSION:
            self.task_defs[record.name] = parse_task_def(record.body)
        elif record.version == INLINE_VERSION:
            definition = parse_workflow_def(record.body, validated=False, system_types=None)
            self.inline[record.name] = (definition, record.digest)
            self.digests[record.digest] = definition
        else:  # validated when registered: read back as accepted (the template_env may differ)
            definition = parse_workflow_def(record.body, validated=False, system_types=None)
            self.workflows[(record.name, record.version)] = (definition, record.digest)
            self.digests[record.digest] = definition

    async def register(self, raw: Mapping[str, Any]) -> WorkflowDef:
        definition = parse_workflow_def(
            raw, env_names=self.env_names, system_types=frozenset(self.system_types)
        )
        check_cycles(definition, self._lookup)
        for inline in inline_definitions(definition):
            self._remember(
                await self.journal.put_definition(
                    inline_key(inline), INLINE_VERSION, to_conductor_json(inline)
                )
            )
        record = await self.journal.put_definition(
            definition.name, definition.version, to_conductor_json(definition)
        )
        self._remember(record)
        return definition

    async def unregistered(self, raw: Mapping[str, Any]) -> tuple[WorkflowDef, str]:
        """A definition to start as it is (not registered, not validated), journaled first
        under its `inline_key` with its inline sub-workflows; (definition, digest)."""
        definition = parse_workflow_def(
            raw, validated=False, system_types=frozenset(self.system_types)
        )
        for inline in [*inline_definitions(definition), definition]:
            record = await self.journal.put_definition(
                inline_key(inline), INLINE_VERSION, to_conductor_json(inline)
            )
            self._remember(record)
        return self.inline[inline_key(definition)]

    async def register_task(self, raw: Mapping[str, Any]) -> TaskDef:
        task_def = parse_task_def(raw)
        record = await self.journal.put_definition(task_def.name, TASK_DEF_VERSION, dict(raw))
        self._remember(record)
        return task_def

    def _lookup(self, name: str, version: int | None) -> WorkflowDef | None:
        try:
            return self.get(name, version)[0]
        except NotFound:
            return None

    def get(self, name: str, version: int | None = None) -> tuple[WorkflowDef, str]:
        if name in self.inline:
            return self.inline[name]
        if version is None:
            versions = [v for (n, v) in self.workflows if n == name]
            if not versions:
                raise NotFound("workflow definition", name)
            version = max(versions)
        found = self.workflows.get((name, version))
        if found is None:
            raise NotFound("workflow definition", f"{name} v{version}")
        return found

    async def by_digest(self, digest: str) -> WorkflowDef:
        definition = self.digests.get(digest)
        if definition is None:
            record = await self.journal.definition_by_digest(digest)
            if record is None:
                raise NotFound("definition digest", digest)
            definition = parse_workflow_def(record.body, validated=False, system_types=None)
            self.digests[digest] = definition
        return definition
