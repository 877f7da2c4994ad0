"""Dispatch: worker groups, fair queues, leases, limits, breakers, local workers, timers.

Actors on the kernel (`cadenza.actors`), knowing the language's TaskDefs but
nothing of runs beyond the messages they exchange with them (defined here,
in `_messages`, so that the engine above imports them and not the other way
round). One `WorkerGroup` actor per group owns its priority queue and its
local worker slots; the `Ledger` holds hand-outs, leases and limits shared
by the groups; the `TimerService` keeps one wake-up for the earliest
deadline of all.
"""

from cadenza.dispatch._groups import GroupState, WorkerGroup
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._timers import TimerService

__all__ = ["GroupState", "Ledger", "TimerService", "WorkerGroup"]
