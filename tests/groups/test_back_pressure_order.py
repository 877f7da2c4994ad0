"""A group's full mailbox keeps a run's messages in order: a cancelled task never starts.

Issue 12, section 4, item 5. The engine tells groups from inside actors, where
it may not wait, so a full mailbox used to hand the message to a background
task: that task sent it as nobody (sender None), and a later message from the
same run could overtake it. Here a delivery seam, allowed to reorder across
senders (docs/design.md), holds what nobody sends to the group: the run's
Enqueue, had it lost its sender, would arrive after the run's Cancel and the
cancelled task would be handed out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import pytest

import cadenza
import cadenza.engine._host as host
from cadenza.dispatch._messages import Tick
from cadenza.persistence import MemoryJournal
from cadenza.testing import VirtualClock
from tests.groups._helpers import START, one_task


class HoldAnonymous:
    """Holds messages sent to `target` by no actor (in order) while closed; the rest pass."""

    def __init__(self, target: str):
        self.target = target
        self.closed = False
        self.held: deque[Callable[[], None]] = deque()

    def deliver(
        self, sender: str | None, target: str, message: object, enqueue: Callable[[], None]
    ) -> None:
        if sender is None and target == self.target and (self.closed or self.held):
            self.held.append(enqueue)
        else:
            enqueue()

    def release_one(self) -> None:
        self.held.popleft()()

    def open(self) -> None:
        self.closed = False
        while self.held:
            self.held.popleft()()


async def test_a_cancel_never_overtakes_its_enqueue_at_a_full_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(host, "GROUP_MAILBOX", 2)
    seam = HoldAnonymous("group:default")
    clock = VirtualClock(start=START)
    journal = MemoryJournal()
    async with cadenza.Runtime(clock=clock, journal=journal, seed=1, delivery=seam) as rt:
        await rt.register(one_task())
        group = rt._engine.group_ref("default")
        cell = group._resolve()
        assert cell.name == seam.target
        seam.closed = True
        group.tell_nowait(Tick())  # two held messages fill the group's mailbox
        group.tell_nowait(Tick())
        run_id = await rt.start("one")
        await rt.settle()
        assert len(cell._senders) == 1, "the run's Enqueue waits for space"
        seam.release_one()  # space: the Enqueue is admitted
        await rt.settle()
        seam.release_one()  # and the group's mailbox has room again
        await rt.settle()
        await rt.terminate(run_id)  # the run withdraws its task: Cancel
        await rt.settle()
        seam.open()
        await rt.settle()
        started = await rt.poll("work")
        assert started is None, "the cancelled task was handed out"
        assert (await rt.get(run_id)).status == "TERMINATED"
