"""The actor kernel: mailboxes, tell/ask, supervision, entity pools, clocks.

It knows nothing of workflows and imports nothing from `cadenza.runtime` or
`cadenza.persistence`. Implementation modules are private; these names are
the supported surface.
"""

from cadenza.actors._actor import Actor, ActorContext, ActorRef, Reply
from cadenza.actors._clock import Clock, RealClock, TimerHandle, VirtualClock, sleep_until
from cadenza.actors._delivery import Delivery, ImmediateDelivery, current_actor
from cadenza.actors._entities import EntityPool
from cadenza.actors._errors import (
    ActorCrashed,
    ActorNameTaken,
    ActorStopped,
    ActorSystemStopped,
    AskTimeout,
    MailboxFull,
)
from cadenza.actors._intensity import RestartWindow
from cadenza.actors._supervisor import Strategy, Supervisor
from cadenza.actors._system import ActorSystem

__all__ = [
    "Actor",
    "ActorContext",
    "ActorCrashed",
    "ActorNameTaken",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "ActorSystemStopped",
    "AskTimeout",
    "Clock",
    "Delivery",
    "EntityPool",
    "ImmediateDelivery",
    "MailboxFull",
    "RealClock",
    "Reply",
    "RestartWindow",
    "Strategy",
    "Supervisor",
    "TimerHandle",
    "VirtualClock",
    "current_actor",
    "sleep_until",
]
