"""Messages to a run, as the JSON an inbox row carries between processes.

`encode(message)` gives (kind, body) for a message the run's owner must
apply — an external worker's result, heartbeat or progress, a shared
queue's hand-out (`started`) or lapsed lease (`lapsed`), an operation, a
signal, a child's news, a start, a schedule's change (kinds `schedule_*`,
for the scheduler's actor: the row's stream is the schedule's) — or None
for one that cannot travel (a local worker's result, a wake-up, a
recovery, a schedule read: the owner redoes those from the journal, or
anyone reads it). `decode(kind, body, reply, definition_of)` rebuilds it,
with a fresh `reply` for the owner to wait on; a definition travels as its
digest and is looked up again by `definition_of`. What the owner answered
travels back as the message's outcome (`_inbox_outcome`).

`readable(posted, reply, definition_of)` is `decode` for a row as taken,
telling a message no owner can ever apply (`Unreadable`: its body is not
JSON or lacks a field, its kind is unknown, its definition is missing or
damaged) from a failure to read it now (the journal away), which it raises
as it came: the first is set aside as a dead letter, the second retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from cadenza._errors import DefinitionError, InternalError, JournalCorrupted, NotFound
from cadenza.actors import Reply
from cadenza.core._operations import Operation
from cadenza.core._schedules import ScheduleSpec
from cadenza.dispatch._messages import LeaseLapsed, TaskResult, TaskStartedMsg
from cadenza.engine._messages import (
    ChildEnded,
    Heartbeat,
    Operate,
    Signal,
    StartRun,
    TaskProgress,
)
from cadenza.engine.schedules._actor import Backfill, Control, Put
from cadenza.language._definition import WorkflowDef
from cadenza.persistence._shared import Posted

DefinitionOf = Callable[[str], Awaitable[WorkflowDef]]


def encode(message: Any) -> tuple[str, dict[str, Any]] | None:
    """(kind, JSON body) of a message the owner must apply, or None (see the module note)."""
    match message:
        case TaskResult(reply=None):
            return None  # a local worker's: its task is queued again by the new owner
        case TaskResult():
            return "result", {
                "task_id": message.task_id, "output": message.output, "failed": message.failed,
                "reason": message.reason, "terminal": message.terminal, "error": message.error,
            }  # fmt: skip
        case Heartbeat():
            return "heartbeat", {"task_id": message.task_id}
        case TaskStartedMsg(reply=reply, leased=None) if reply is not None:
            return "started", {
                "task_id": message.task_id, "worker_id": message.worker_id, "at": message.at,
            }  # fmt: skip
        case LeaseLapsed():
            return "lapsed", {"task_id": message.task_id}
        case TaskProgress():
            return "progress", {
                "task_id": message.task_id, "output": message.output,
                "callback_after_s": message.callback_after_s,
            }  # fmt: skip
        case Operate(operation=op):
            return "operate", {
                "op": op.op, "reason": op.reason, "ref": op.ref, "input": op.input,
                "digest": op.digest,
            }  # fmt: skip
        case Signal():
            return "signal", {"ref": message.ref, "output": message.output}
        case ChildEnded():
            return "child_ended", {
                "child_id": message.child_id, "status": message.status,
                "output": message.output, "reason": message.reason,
            }  # fmt: skip
        case StartRun():
            return "start", {
                "digest": message.digest, "input": message.input, "priority": message.priority,
                "key": message.key, "correlation_id": message.correlation_id,
                "task_to_group": message.task_to_group, "parent_id": message.parent_id,
                "started_by": list(message.started_by) if message.started_by else None,
            }  # fmt: skip
        case Put():
            return "schedule_put", {"spec": asdict(message.spec), "paused": message.paused}
        case Control(what=what) if what != "get":
            return "schedule_control", {"what": what, "overlap": message.overlap}
        case Backfill():
            return "schedule_backfill", {
                "start": message.start, "end": message.end, "overlap": message.overlap,
            }  # fmt: skip
    return None


async def decode(
    kind: str, body: dict[str, Any], reply: Reply[Any], definition_of: DefinitionOf
) -> Any:
    """The message an inbox row holds, answering to `reply`.

    Raises:
        InternalError: an unknown kind (a row written by a newer cadenza).
    """
    match kind:
        case "result":
            return TaskResult(
                body["task_id"], body["output"], body["failed"], body["reason"],
                body["terminal"], reply=reply, error=body.get("error"),  # (older rows: none)
            )  # fmt: skip
        case "heartbeat":
            return Heartbeat(body["task_id"], reply)
        case "started":  # a shared queue's hand-out (`_shared_tasks`): no ledger lease
            return TaskStartedMsg(body["task_id"], body["worker_id"], reply, at=body["at"])
        case "lapsed":  # posted by `_postgres_queue.reap` with its lapsed row
            return LeaseLapsed(body["task_id"])
        case "progress":
            return TaskProgress(body["task_id"], body["output"], body["callback_after_s"], reply)
        case "operate":
            digest = body["digest"]
            definition = await definition_of(digest) if digest else None
            operation = Operation(
                body["op"], body["reason"], body["ref"], body["input"], definition, digest
            )
            return Operate(operation, reply)
        case "signal":
            return Signal(body["ref"], body["output"], reply)
        case "child_ended":
            return ChildEnded(body["child_id"], body["status"], body["output"], body["reason"])
        case "start":
            started_by = body["started_by"]
            return StartRun(
                await definition_of(body["digest"]), body["digest"], body["input"],
                body["priority"], body["key"], body["correlation_id"], body["task_to_group"],
                body["parent_id"], reply,
                started_by=(started_by[0], started_by[1]) if started_by else None, trace=None,
            )  # fmt: skip
        case "schedule_put":
            return Put(ScheduleSpec(**body["spec"]), body["paused"], reply)
        case "schedule_control":
            return Control(body["what"], reply, body["overlap"])
        case "schedule_backfill":
            return Backfill(body["start"], body["end"], reply, body["overlap"])
    raise InternalError(f"an inbox message of unknown kind {kind!r}")


class Unreadable(Exception):
    """An inbox message no owner can apply; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def error(self, posted: Posted) -> InternalError:
        """What the message's poster hears."""
        return InternalError(
            f"the owner of run {posted.run_id!r} could not read the forwarded {posted.kind!r} "
            f"message {posted.id} and set it aside as a dead letter: {self.reason}"
        )


NEVER_READABLE = (KeyError, TypeError, ValueError, InternalError, NotFound, JournalCorrupted)


async def readable(posted: Posted, reply: Reply[Any], definition_of: DefinitionOf) -> Any:
    """`decode` of `posted`.

    Raises:
        Unreadable: no owner can ever apply it (see the module note).
    """
    if posted.unreadable is not None:
        raise Unreadable(posted.unreadable)
    try:
        return await decode(posted.kind, posted.body, reply, definition_of)
    except NEVER_READABLE as exc:  # DefinitionError is a ValueError
        if isinstance(exc, DefinitionError | NotFound | JournalCorrupted):
            raise Unreadable(f"its workflow definition cannot be had: {exc}") from exc
        if isinstance(exc, InternalError):
            raise Unreadable(str(exc)) from exc
        raise Unreadable(f"its body does not fit its kind: {type(exc).__name__}: {exc}") from exc
