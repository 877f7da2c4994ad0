"""A schedule's actor and its stream: the only code that changes a schedule.

`ScheduleActor` (`_actor`) applies one call or tick at a time and journals
the schedule's whole state as its stream's snapshot (`_store`). The
scheduler that wires the actors to the timer service and to starts is the
engine's (`cadenza.engine._schedules`).
"""
