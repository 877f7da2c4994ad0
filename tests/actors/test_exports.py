"""The supported names of cadenza.actors are pinned here."""

from __future__ import annotations

import cadenza.actors
from cadenza._errors import CadenzaError


def test_public_names_are_exactly_the_supported_ones() -> None:
    """Adding or removing a public name is a deliberate act."""
    assert sorted(cadenza.actors.__all__) == [
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
    for name in cadenza.actors.__all__:
        assert getattr(cadenza.actors, name) is not None


def test_every_kernel_error_is_a_cadenza_error() -> None:
    """Callers can catch the kernel's errors through the one root."""
    for error in (
        cadenza.actors.ActorCrashed,
        cadenza.actors.ActorNameTaken,
        cadenza.actors.ActorStopped,
        cadenza.actors.ActorSystemStopped,
        cadenza.actors.AskTimeout,
        cadenza.actors.MailboxFull,
    ):
        assert issubclass(error, CadenzaError)
    assert issubclass(cadenza.actors.AskTimeout, TimeoutError)


def test_the_kernel_imports_nothing_of_the_runtime_or_the_journal() -> None:
    """actors stands alone: no module of it imports runtime or persistence."""
    import ast
    from pathlib import Path

    package = Path(cadenza.actors.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(("cadenza.runtime", "cadenza.persistence")), module
