"""Supervisors: who restarts an actor that failed, and when to give up.

Design note
-----------
A supervisor owns an ordered list of children: actor cells and child
supervisors, in the order they were added. When a child fails, the supervisor
first checks its restart intensity on the system's clock (OTP's rule, see
`_intensity.py`): if this restart would be more than `max_restarts` within
the last `within_s` seconds, it gives up; otherwise it applies its strategy:

- ONE_FOR_ONE restarts the failed child only;
- ONE_FOR_ALL restarts every child;
- REST_FOR_ONE restarts the failed child and the children added after it.

Restarting an actor discards its instance (`stopped()` best-effort) and keeps
its mailbox; the next batch gets a fresh instance from the factory. A sibling
busy in a batch is restarted after that batch, never cancelled. Restarting a
child supervisor restarts its whole subtree and clears its restart history.

Giving up escalates: a supervisor with a parent fails as a child of that
parent (which may restart it, and so its subtree, or give up in turn). A
top-level supervisor that gives up stops its whole subtree (queued asks fail
with `ActorCrashed`, later tells raise `ActorStopped`, `spawn` on it raises
`ActorStopped`) and calls `system.on_escalation(exc)`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from cadenza._errors import NotFound
from cadenza._log import get_logger
from cadenza.actors._actor import Actor, ActorRef
from cadenza.actors._errors import ActorStopped
from cadenza.actors._intensity import RestartWindow
from cadenza.actors._mailbox import _Cell

if TYPE_CHECKING:
    from cadenza.actors._system import ActorSystem

log = get_logger("cadenza.actors")

M = TypeVar("M")


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one fails; see the module note."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Supervisor:
    """Owns children and restarts them on failure; made by `ActorSystem.supervisor`."""

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        *,
        strategy: Strategy,
        max_restarts: int,
        within_s: float,
        parent: Supervisor | None,
    ):
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, not {max_restarts}")
        if within_s <= 0:
            raise ValueError(f"within_s must be > 0, not {within_s}")
        self.name = name
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.within_s = within_s
        self.parent = parent
        self._system = system
        self._children: list[_Cell | Supervisor] = []
        self._restarts = RestartWindow(max_restarts, within_s)
        self._gave_up = False
        if parent is not None:
            parent._adopt(self)

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} {self.strategy.name}>"

    def spawn(
        self, factory: Callable[[], Actor[M]], *, name: str, mailbox_size: int = 1024
    ) -> ActorRef[M]:
        """Add a child actor at run time (it activates on its first message)."""
        return self._system._spawn_cell(factory, name=name, mailbox_size=mailbox_size, parent=self)

    def stop_child(self, ref: ActorRef[Any]) -> None:
        """Remove a child at run time, after its current batch.

        Its queued messages fail with `ActorStopped`; `stopped()` is awaited.
        Raises `NotFound` if `ref` is not a live child of this supervisor.
        """
        cell = ref._resolve()
        if cell not in self._children:
            raise NotFound("child actor", f"{self.name}/{ref.name}")
        cell._close(None)

    def children(self) -> list[ActorRef[Any]]:
        """The refs of the live child actors, in the order they were added."""
        return [c.ref for c in self._children if isinstance(c, _Cell) and not c._closing]

    # -- internal --------------------------------------------------------

    def _adopt(self, child: _Cell | Supervisor) -> None:
        if self._gave_up:
            raise ActorStopped(self.name, "(a supervisor) gave up and was stopped")
        self._children.append(child)

    def _child_closed(self, child: _Cell) -> None:
        if child in self._children:
            self._children.remove(child)

    def _child_failed(self, child: _Cell | Supervisor, exc: Exception) -> None:
        system = self._system
        if system._stopping or self._gave_up:
            return
        if self._restarts.record(system.clock.now()):
            self._give_up(exc)
            return
        log.warning(
            "actor.restarted",
            supervisor=self.name,
            actor=child.name,
            strategy=self.strategy.name,
            error=repr(exc),
        )
        if self.strategy is Strategy.ONE_FOR_ONE:
            targets: list[_Cell | Supervisor] = [child]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            targets = list(self._children)
        else:
            index = self._children.index(child) if child in self._children else 0
            targets = self._children[index:]
        for target in targets:
            if isinstance(target, Supervisor):
                target._restart_subtree()
            elif target is not child:  # the failed cell has already dropped its instance
                target._request_restart()

    def _restart_subtree(self) -> None:
        self._restarts.clear()
        for child in list(self._children):
            if isinstance(child, Supervisor):
                child._restart_subtree()
            else:
                child._request_restart()

    def _give_up(self, exc: Exception) -> None:
        parent = self.parent
        log.error(
            "supervisor.gave_up",
            supervisor=self.name,
            max_restarts=self.max_restarts,
            within_s=self.within_s,
            escalated_to=parent.name if parent is not None else "system",
            error=repr(exc),
        )
        if parent is not None:
            parent._child_failed(self, exc)
            return
        self._stop_subtree(exc)
        self._system._escalate(exc)

    def _stop_subtree(self, exc: Exception) -> None:
        self._gave_up = True
        for child in list(self._children):
            if isinstance(child, Supervisor):
                child._stop_subtree(exc)
            else:
                child._close(exc)
