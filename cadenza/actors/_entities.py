"""Entity pools: actors addressed by key, made on first message, passivatable.

Design note
-----------
`pool.ref(key)` is a ref that resolves through the pool on every send: the
first message to a key creates a cell (named `"{kind}/{key}"`) and the
runner then creates the instance with `factory(key)`. An entity that calls
`context.passivate()` has `stopped()` awaited once its mailbox is empty, and the
pool forgets the cell entirely unless a message arrived meanwhile: a million
passivated entities cost no task, no instance and no cell. Refs stay valid;
the next message starts a fresh instance (and `started()` runs again).
`adopt(key, instance)` gives a key an instance made outside the pool (a run
started in a batch, its state in hand), used for its first incarnation only.

Each entity restarts one-for-one with its own intensity (at most
`max_restarts` within `within_s` on the system clock, OTP's rule: see
`_intensity.py`). Past it the pool gives up on that
incarnation: its queued messages and waiting senders fail with `ActorCrashed`,
its restart history is cleared and `on_give_up(key, exc)` is called (by
default: `system.on_escalation(exc)`). The key still resolves: a message sent
later starts a fresh entity. A crashed entity's cell (without an instance) is
kept until its restart history expires, so the intensity is not forgotten.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from cadenza._log import get_logger
from cadenza.actors._actor import Actor, ActorRef, crashed_error
from cadenza.actors._intensity import RestartWindow
from cadenza.actors._mailbox import _Cell

if TYPE_CHECKING:
    from cadenza.actors._system import ActorSystem

log = get_logger("cadenza.actors")

M = TypeVar("M")


class _EntityRef(ActorRef[M]):
    """A ref that looks its cell up in the pool at each send."""

    __slots__ = ("_key", "_pool")

    def __init__(self, pool: EntityPool[M], key: str):
        self._pool = pool
        self._key = key
        self.name = f"{pool.kind}/{key}"

    def _resolve(self) -> _Cell:
        cell = self._pool._cells.get(self._key)
        if cell is None:
            cell = self._pool._create(self._key)
        return cell

    def _identity(self) -> object:
        return (id(self._pool), self._key)


class EntityPool(Generic[M]):
    """Actors addressed by key; see the module note. Made by `ActorSystem.entities`."""

    def __init__(
        self,
        system: ActorSystem,
        factory: Callable[[str], Actor[M]],
        *,
        kind: str,
        mailbox_size: int,
        max_restarts: int,
        within_s: float,
        on_give_up: Callable[[str, BaseException], None] | None,
    ):
        if mailbox_size < 1:
            raise ValueError(f"mailbox_size must be at least 1, not {mailbox_size}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, not {max_restarts}")
        if within_s <= 0:
            raise ValueError(f"within_s must be > 0, not {within_s}")
        self.kind = kind
        self.name = kind
        self._system = system
        self._factory = factory
        self._mailbox_size = mailbox_size
        self._max_restarts = max_restarts
        self._within_s = within_s
        self._on_give_up = on_give_up
        self._cells: dict[str, _Cell] = {}
        self._active = 0

    def __repr__(self) -> str:
        return f"<EntityPool {self.kind!r} active={self._active} cells={len(self._cells)}>"

    def ref(self, key: str) -> ActorRef[M]:
        """A ref to the entity `key`; valid across passivations."""
        return _EntityRef(self, key)

    def active(self) -> int:
        """How many entity instances are in memory."""
        return self._active

    def keys(self) -> list[str]:
        """The keys the pool holds a cell for (active, busy, or recently crashed)."""
        return list(self._cells)

    def adopt(self, key: str, instance: Actor[M]) -> None:
        """Make `instance` (made and fed outside the pool) entity `key`'s incarnation: its
        `started()` runs before its first message; a restart makes the next with the factory.

        Raises `ValueError` if `key` has a cell already (its messages would meet two instances).
        """
        if key in self._cells:
            raise ValueError(f"entity {self.kind}/{key} exists already: it cannot be adopted")
        cell = self._create(key)
        made = cell._factory

        def first() -> Actor[M]:
            cell._factory = made
            return instance

        cell._factory = first

    def key_of(self, ref: ActorRef[M]) -> str | None:
        """The key `ref` addresses, if it is a ref of this pool."""
        if isinstance(ref, _EntityRef) and ref._pool is self:
            return ref._key
        return None

    def has(self, key: str) -> bool:
        """Whether entity `key` has a cell: an instance, messages, or a recent crash."""
        return key in self._cells

    def forget_adopted(self, key: str) -> None:
        """Drop entity `key`'s cell if it was adopted and never started: no message came."""
        cell = self._cells.get(key)
        if cell is not None and cell._instance is None and not cell._running:
            self._maybe_forget(cell)

    def stop(self, key: str) -> bool:
        """Drop entity `key`'s instance after its current batch; its queued messages fail
        with `ActorStopped`, and a later message starts a fresh instance. False if none."""
        cell = self._cells.get(key)
        if cell is None:
            return False
        cell._request_stop()
        return True

    # -- internal --------------------------------------------------------

    def _create(self, key: str) -> _Cell:
        system = self._system
        if not system._accepting:
            raise system._not_running()
        cell = _Cell(
            system,
            f"{self.kind}/{key}",
            functools.partial(self._factory, key),
            self,
            self._mailbox_size,
            pool=self,
            key=key,
            ref=_EntityRef(self, key),
        )
        self._cells[key] = cell
        return cell

    def _maybe_forget(self, cell: _Cell) -> None:
        """Drop an idle cell without instance, unless its restart history is live."""
        if cell._instance is not None or cell._mailbox or cell._in_flight or cell._senders:
            return
        restarts = cell._restarts
        if restarts is not None and restarts.count(self._system.clock.now()):
            return
        if self._cells.get(cell.key) is cell:
            del self._cells[cell.key]

    def _child_closed(self, child: _Cell) -> None:
        if self._cells.get(child.key) is child:
            del self._cells[child.key]

    def _child_failed(self, child: _Cell, exc: Exception) -> None:
        system = self._system
        if system._stopping:
            return
        if child._restarts is None:
            child._restarts = RestartWindow(self._max_restarts, self._within_s)
        if not child._restarts.record(system.clock.now()):
            log.warning("actor.restarted", actor=child.name, pool=self.kind, error=repr(exc))
            return
        log.error(
            "entity.gave_up",
            actor=child.name,
            pool=self.kind,
            max_restarts=self._max_restarts,
            within_s=self._within_s,
            error=repr(exc),
        )
        child._restarts = None
        child._drop_all(crashed_error(child.name, exc, "gave up after repeated crashes"))
        on_give_up = self._on_give_up
        if on_give_up is None:
            system._escalate(exc)
            return
        try:
            on_give_up(child.key, exc)
        except Exception as hook_error:
            log.error("entity.give_up_hook_failed", actor=child.name, error=repr(hook_error))
