"""Small actors and messages shared by the actor-kernel tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from cadenza.actors import Actor, Reply


class Boom(Exception):
    """The failure test actors raise on purpose."""


@dataclass
class Req:
    """An asked message: `value` is echoed back unless it is "crash"."""

    value: Any
    reply: Reply[Any]


@dataclass
class Gate:
    """Makes the handling actor signal `entered` and wait for `release`."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class Tracked(Actor[Any]):
    """Records its lifecycle and messages in a shared journal.

    "crash" (or a `Req` whose value is "crash") raises `Boom`; a `Gate` blocks
    the batch until released; a `Req` is answered with its value.
    """

    def __init__(self, name: str, journal: list[tuple[Any, ...]]):
        self.name = name
        self.journal = journal

    async def started(self) -> None:
        self.journal.append(("started", self.name))

    async def stopped(self) -> None:
        self.journal.append(("stopped", self.name))

    async def receive(self, message: Any) -> None:
        if isinstance(message, Gate):
            message.entered.set()
            await message.release.wait()
            self.journal.append(("gate", self.name))
            return
        value = message.value if isinstance(message, Req) else message
        if value == "crash":
            raise Boom(self.name)
        self.journal.append(("got", self.name, value))
        if isinstance(message, Req):
            message.reply.set(value)


def tracked(name: str, journal: list[tuple[Any, ...]]) -> Tracked:
    return Tracked(name, journal)


def events(journal: list[tuple[Any, ...]], kind: str) -> list[str]:
    """The actor names of the journal entries of one kind, in order."""
    return [entry[1] for entry in journal if entry[0] == kind]
