"""The `Runtime`'s options: each checked (`InvalidArgument` naming it), then the engine built."""

from __future__ import annotations

from collections.abc import Mapping

from cadenza._errors import InvalidArgument
from cadenza.actors import Clock, Delivery, RealClock
from cadenza.engine._host import Engine
from cadenza.engine._observer import Observer
from cadenza.persistence import Journal, PostgresJournal, open_journal, redact_url
from cadenza.persistence._postgres_connect import is_postgres_url
from cadenza.persistence._shared import SharedJournal
from cadenza.runtime import _arguments as check
from cadenza.runtime._partitions import Partitions, owner_name

DURABILITIES = ("full", "normal")


def build_engine(
    path: str,
    *,
    clock: Clock | None,
    durability: str,
    seed: int | None,
    journal: Journal | None,
    default_group: str,
    shutdown_grace_s: float,
    audit_timers: bool,
    timer_resolution_s: float,
    max_timers_per_run: int,
    max_timers_per_type: int,
    max_variables_kb: int,
    template_env: Mapping[str, str] | None,
    dispatch_warning_s: float | None,
    delivery: Delivery | None,
    max_runs_in_flight: int,
    observer: Observer | None,
    unserved_warning_s: float | None,
    lease_s: float = 10.0,
) -> Engine:
    """The engine for a `Runtime` with these options (see `Runtime` for each).

    Raises:
        InvalidArgument: an option of the wrong type or out of range, named.
    """
    check.text("path", path)
    if durability not in DURABILITIES:
        raise InvalidArgument("durability", f"expected 'full' or 'normal', got {durability!r}")
    if seed is not None:
        check.integer("seed", seed, -(2**63), 2**63 - 1)
    check.text("default_group", default_group)
    check.seconds("shutdown_grace_s", shutdown_grace_s, optional=False)
    check.seconds("timer_resolution_s", timer_resolution_s, optional=False)
    check.seconds("dispatch_warning_s", dispatch_warning_s)
    check.integer("max_timers_per_run", max_timers_per_run, 1, 2**31)
    check.integer("max_timers_per_type", max_timers_per_type, 1, 2**40)
    check.integer("max_variables_kb", max_variables_kb, 1, 2**31)
    names = _names(template_env)
    check.integer("max_runs_in_flight", max_runs_in_flight, 1, 2**31)
    check.seconds("unserved_warning_s", unserved_warning_s)
    check.seconds("lease_s", lease_s, optional=False)
    if lease_s <= 0:
        raise InvalidArgument("lease_s", f"expected seconds above 0, got {lease_s!r}")
    shared = journal is None and is_postgres_url(path)
    if shared:  # several processes share the database: fenced, by partition (`_partitions`)
        journal = PostgresJournal(
            path, durability=durability, owner=owner_name(), stalled_s=min(5.0, lease_s / 2)
        )
    engine = Engine(
        journal if journal is not None else open_journal(path, durability=durability),
        clock if clock is not None else RealClock(),
        path=redact_url(path),  # the engine logs it: never a password
        seed=seed,
        default_group=default_group,
        shutdown_grace_s=shutdown_grace_s,
        audit_timers=audit_timers,
        timer_resolution_s=timer_resolution_s,
        max_timers_per_run=max_timers_per_run,
        max_timers_per_type=max_timers_per_type,
        max_variables_kb=max_variables_kb,
        template_env=names,
        dispatch_warning_s=dispatch_warning_s,
        delivery=delivery,
        max_runs_in_flight=max_runs_in_flight,
        observer=observer,
        unserved_warning_s=unserved_warning_s,
    )
    if isinstance(journal, SharedJournal) and journal.leases is not None:
        engine.ownership = Partitions(engine, journal, lease_s)  # fenced, by partition
    return engine


def _names(template_env: Mapping[str, str] | None) -> dict[str, str]:
    """`template_env` copied: text to text (`InvalidArgument` naming the first other)."""
    if template_env is None:
        return {}
    if not isinstance(template_env, Mapping):
        raise InvalidArgument("template_env", f"expected a dict, got {type(template_env).__name__}")
    for name, value in template_env.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidArgument("template_env", f"{name!r}: names and values must be text")
    return dict(template_env)
