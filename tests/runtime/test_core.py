"""apply and decide: runs driven by hand, then whole runs driven by hypothesis."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza._errors import (
    CadenzaError,
    DefinitionError,
    InternalError,
    InvalidOperation,
    JournalCorrupted,
    NotFound,
    StaleTask,
    TerminalError,
    invariant,
)
from cadenza.core._decide import decide
from cadenza.core._events import (
    EVENT_TYPES,
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskMarked,
    TaskRequeued,
    TaskScheduled,
    TaskStarted,
    TaskUpdated,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowPaused,
    WorkflowReopened,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowTerminated,
    event_from_json,
)
from cadenza.core._schedule import Environment, workflow_output
from cadenza.core._state import TaskState, WorkflowState, apply, fold
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.language._definition import WorkflowDef
from cadenza.language._parse import parse_workflow_def
from cadenza.language._taskdef import RetryLogic, TaskDef

RUN = "run"
INPUT = {"url": "http://example", "n": 2}
TERMINAL_EVENTS = (WorkflowCompleted, WorkflowFailed, WorkflowTerminated)


def pipeline(
    *,
    outputs: dict[str, Any] | None = None,
    t1: dict[str, Any] | None = None,
    t2: dict[str, Any] | None = None,
) -> WorkflowDef:
    """fetch -> parse -> store, each SIMPLE, inputs wired from earlier outputs."""
    return parse_workflow_def(
        {
            "name": "pipeline",
            "tasks": [
                {
                    "name": "fetch",
                    "taskReferenceName": "t1",
                    "inputParameters": {
                        "url": "${workflow.input.url}",
                        "run": "${workflow.workflowId}",
                    },
                    **(t1 or {}),
                },
                {
                    "name": "parse",
                    "taskReferenceName": "t2",
                    "inputParameters": {"body": "${t1.output.body}", "n": "${workflow.input.n}"},
                    **(t2 or {}),
                },
                {
                    "name": "store",
                    "taskReferenceName": "t3",
                    "inputParameters": {
                        "rows": "${t2.output.rows}",
                        "note": "from ${t1.output.body}",
                    },
                },
            ],
            "outputParameters": (
                {"stored": "${t3.output.count}", "url": "${workflow.input.url}"}
                if outputs is None
                else outputs
            ),
        }
    )


def policies(retry_count: int = 0, **fields: Any) -> Environment:
    return Environment(
        task_defs={
            name: TaskDef(name=name, retry_count=retry_count, **fields)
            for name in ("fetch", "parse", "store")
        }
    )


@dataclass
class Run:
    """A run driven by hand: each input is applied, then decide() runs to a fixpoint."""

    definition: WorkflowDef
    env: Environment = field(default_factory=policies)
    run_id: str = RUN
    state: WorkflowState = field(init=False)
    events: list[Event] = field(default_factory=list)
    batches: list[tuple[int, list[Event]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = WorkflowState(id=self.run_id)

    def apply(self, event: Event) -> None:
        apply(self.state, event)
        self.events.append(event)

    def feed(self, *inputs: Event) -> list[Event]:
        for event in inputs:
            self.apply(event)
        return self.settle()

    def settle(self) -> list[Event]:
        made: list[Event] = []
        for _ in range(10):
            decisions = decide(self.definition, self.state, self.env)
            if not decisions:
                return made
            self.batches.append((len(self.events), decisions))
            for decision in decisions:
                self.apply(decision)
            made.extend(decisions)
        raise AssertionError(f"decide did not reach a fixpoint: {made}")

    def start(self, at: float = 0.0, **fields: Any) -> list[Event]:
        fields.setdefault("input", dict(INPUT))
        return self.feed(
            WorkflowStarted(
                at=at, run_id=self.run_id, name="pipeline", version=1, digest="d", **fields
            )
        )

    def in_flight(self) -> list[TaskState]:
        return [t for t in self.state.tasks if not t.retried and not t.status.terminal]

    def current(self) -> TaskState:
        (task,) = self.in_flight()
        return task

    def complete(self, at: float, output: dict[str, Any]) -> list[Event]:
        task = self.current()
        return self.feed(
            TaskStarted(at=at, task_id=task.id, worker_id="w1"),
            TaskCompleted(at=at, task_id=task.id, output=output),
        )


def snapshot(state: WorkflowState) -> WorkflowState:
    return WorkflowState.from_json(json.loads(json.dumps(state.to_json())))


# -- decide, by hand ----------------------------------------------------------


def test_an_unstarted_run_decides_nothing() -> None:
    assert decide(pipeline(), WorkflowState(id=RUN), policies()) == []


def test_starting_schedules_the_first_task_with_resolved_input() -> None:
    run = Run(pipeline())
    made = run.start(at=5.0)
    assert made == [
        TaskScheduled(
            at=5.0,
            task_id="run-0",
            ref="t1",
            name="fetch",
            type="fetch",
            input={"url": "http://example", "run": RUN},
            attempt=0,
            group="default",
            ready_at=5.0,
        )
    ]
    assert run.state.task("run-0") is not None
    assert run.state.task("run-0").status is TaskStatus.SCHEDULED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("task_to_group", "worker_groups", "expected"),
    [
        ({"fetch": "own", "*": "star"}, {"fetch": "local"}, "own"),
        ({"other": "x", "*": "star"}, {"fetch": "local"}, "star"),
        ({"other": "x"}, {"fetch": "local"}, "local"),
        (None, {"fetch": "local"}, "local"),
        (None, {"parse": "local"}, "default"),
        ({"fetch": "first, second"}, {}, "second"),  # none live: Conductor takes the last
        ({"fetch": ""}, {}, "default"),
    ],
)
def test_the_group_comes_from_task_to_group_then_star_then_the_worker_then_default(
    task_to_group: dict[str, str] | None, worker_groups: dict[str, str], expected: str
) -> None:
    run = Run(pipeline(), Environment(groups=worker_groups))
    (scheduled,) = run.start(task_to_group=task_to_group)
    assert isinstance(scheduled, TaskScheduled)
    assert scheduled.group == expected


def test_the_environment_may_rename_the_default_group() -> None:
    run = Run(pipeline(), Environment(default_group="fallback"))
    (scheduled,) = run.start()
    assert isinstance(scheduled, TaskScheduled)
    assert scheduled.group == "fallback"


def test_completing_a_task_schedules_the_next_with_inputs_from_earlier_outputs() -> None:
    run = Run(pipeline())
    run.start(at=1.0)
    made = run.complete(at=2.0, output={"body": "hello"})
    assert made == [
        TaskScheduled(
            at=2.0,
            task_id="run-1",
            ref="t2",
            name="parse",
            type="parse",
            input={"body": "hello", "n": 2},
            ready_at=2.0,
        )
    ]
    made = run.complete(at=3.0, output={"rows": [1, 2]})
    assert made == [
        TaskScheduled(
            at=3.0,
            task_id="run-2",
            ref="t3",
            name="store",
            type="store",
            input={"rows": [1, 2], "note": "from hello"},
            ready_at=3.0,
        )
    ]


def test_completing_the_last_task_completes_the_run_with_its_output_parameters() -> None:
    run = Run(pipeline())
    run.start(at=1.0)
    run.complete(at=2.0, output={"body": "b"})
    run.complete(at=3.0, output={"rows": []})
    made = run.complete(at=4.0, output={"count": 7})
    assert made == [WorkflowCompleted(at=4.0, output={"stored": 7, "url": "http://example"})]
    assert run.state.status is WorkflowStatus.COMPLETED
    assert run.state.output == {"stored": 7, "url": "http://example"}
    assert run.state.ended_at == 4.0
    assert decide(run.definition, run.state, run.env) == []


def test_a_run_without_output_parameters_outputs_its_last_tasks_output() -> None:
    run = Run(pipeline(outputs={}))
    run.start()
    run.complete(at=1.0, output={"body": "b"})
    run.complete(at=2.0, output={"rows": []})
    made = run.complete(at=3.0, output={"count": 3, "extra": [1]})
    assert made == [WorkflowCompleted(at=3.0, output={"count": 3, "extra": [1]})]


def test_the_output_of_a_run_without_tasks_is_empty() -> None:
    assert workflow_output(pipeline(outputs={}), WorkflowState(id=RUN)) == {}


def test_inputs_may_read_workflow_and_task_metadata() -> None:
    definition = parse_workflow_def(
        {
            "name": "meta",
            "tasks": [
                {"name": "a", "taskReferenceName": "a"},
                {
                    "name": "b",
                    "taskReferenceName": "b",
                    "inputParameters": {
                        "id": "${workflow.workflowId}",
                        "type": "${workflow.workflowType}",
                        "correlation": "${workflow.correlationId}",
                        "created_ms": "${workflow.createTime}",
                        "groups": "${workflow.taskToDomain}",
                        "a_status": "${a.status}",
                        "a_task": "${a.taskId}",
                        "a_retries": "${a.retryCount}",
                        "a_worker": "${a.workerId}",
                        "a_end_ms": "${a.endTime}",
                    },
                },
            ],
        }
    )
    run = Run(definition, Environment(task_defs={"a": TaskDef(name="a", retry_delay_s=0)}))
    run.feed(
        WorkflowStarted(
            at=1.5,
            run_id=RUN,
            name="meta",
            version=1,
            digest="d",
            input={},
            correlation_id="c-1",
            task_to_group={"*": "blue"},
        )
    )
    run.feed(TaskFailed(at=2.0, task_id="run-0", reason="flaky"))
    (scheduled,) = run.complete(at=3.25, output={})
    assert isinstance(scheduled, TaskScheduled)
    assert scheduled.input == {
        "id": RUN,
        "type": "meta",
        "correlation": "c-1",
        "created_ms": 1500,
        "groups": {"*": "blue"},
        "a_status": "COMPLETED",
        "a_task": "run-1",
        "a_retries": 1,
        "a_worker": "w1",
        "a_end_ms": 3250,
    }


# -- retries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logic", "delays"),
    [
        (RetryLogic.FIXED, [10, 10, 10]),
        (RetryLogic.LINEAR_BACKOFF, [20, 40, 60]),  # 10 * 2 * (n + 1)
        (RetryLogic.EXPONENTIAL_BACKOFF, [10, 20, 40]),  # 10 * 2**n
    ],
)
def test_a_failed_attempt_with_retries_left_is_rescheduled_after_its_retry_delay(
    logic: RetryLogic, delays: list[float]
) -> None:
    env = policies(retry_count=3, retry_logic=logic, retry_delay_s=10, backoff_scale_factor=2)
    run = Run(pipeline(), env)
    run.start()
    at = 100.0
    for attempt, delay in enumerate(delays):
        failed = run.current()
        made = run.feed(TaskFailed(at=at, task_id=failed.id, reason="boom"))
        assert made == [
            TaskScheduled(
                at=at,
                task_id=f"run-{attempt + 1}",
                ref="t1",
                name="fetch",
                type="fetch",
                input=failed.input,
                attempt=attempt + 1,
                ready_at=at + delay,
                retried_from=failed.id,
            )
        ]
        assert failed.retried
        at += 1000
    made = run.feed(TaskFailed(at=at, task_id="run-3", reason="boom again"))
    reason = "Task run-3 failed with status: FAILED and reason: 'boom again'"
    assert made == [
        WorkflowFailed(
            at=at,
            reason=reason,
            status="FAILED",
            task_id="run-3",
            output={"stored": None, "url": "http://example"},
        )
    ]
    assert run.state.status is WorkflowStatus.FAILED
    assert run.state.failed_task_id == "run-3"


def test_the_retry_delay_is_capped_by_max_retry_delay() -> None:
    env = policies(
        retry_count=5,
        retry_logic=RetryLogic.EXPONENTIAL_BACKOFF,
        retry_delay_s=10,
        max_retry_delay_s=25,
    )
    run = Run(pipeline(), env)
    run.start()
    waits = []
    for _ in range(4):
        (retry,) = run.feed(TaskFailed(at=0.0, task_id=run.current().id, reason="x"))
        assert isinstance(retry, TaskScheduled)
        waits.append(retry.ready_at)
    assert waits == [10, 20, 25, 25]


@settings(max_examples=40)
@given(
    run_id=st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    jitter_ms=st.integers(1, 5000),
    base_s=st.integers(0, 100),
)
def test_retry_jitter_is_bounded_and_the_same_for_the_same_attempt_id(
    run_id: str, jitter_ms: int, base_s: int
) -> None:
    """The jittered retry lands in [base, base + jitter] and is identical on every replay."""
    env = policies(retry_count=1, retry_delay_s=base_s, backoff_jitter_ms=jitter_ms)

    def retry_ready_at() -> float:
        run = Run(pipeline(), env, run_id=run_id)
        run.start()
        (retry,) = run.feed(TaskFailed(at=50.0, task_id=f"{run_id}-0", reason="x"))
        assert isinstance(retry, TaskScheduled)
        return retry.ready_at

    first = retry_ready_at()
    assert 50.0 + base_s <= first <= 50.0 + (base_s + jitter_ms / 1000)
    assert retry_ready_at() == first


def test_retry_jitter_varies_between_attempt_ids() -> None:
    env = policies(retry_count=1, retry_delay_s=0, backoff_jitter_ms=1000)
    landed = set()
    for n in range(20):
        run = Run(pipeline(), env, run_id=f"r{n}")
        run.start()
        (retry,) = run.feed(TaskFailed(at=0.0, task_id=f"r{n}-0", reason="x"))
        assert isinstance(retry, TaskScheduled)
        landed.add(retry.ready_at)
    assert len(landed) > 10


def test_a_timed_out_attempt_with_retries_left_is_retried() -> None:
    run = Run(pipeline(), policies(retry_count=1, retry_delay_s=3))
    run.start()
    (retry,) = run.feed(TaskFailed(at=5.0, task_id="run-0", reason="late", status="TIMED_OUT"))
    assert isinstance(retry, TaskScheduled)
    assert (retry.attempt, retry.retried_from, retry.ready_at) == (1, "run-0", 8.0)


def test_an_exhausted_timed_out_task_times_the_run_out() -> None:
    run = Run(pipeline())
    run.start()
    made = run.feed(TaskFailed(at=5.0, task_id="run-0", reason="late", status="TIMED_OUT"))
    reason = "Task run-0 failed with status: TIMED_OUT and reason: 'late'"
    assert made == [
        WorkflowFailed(
            at=5.0,
            reason=reason,
            status="TIMED_OUT",
            task_id="run-0",
            output={"stored": None, "url": "http://example"},
        )
    ]
    assert run.state.status is WorkflowStatus.TIMED_OUT
    assert run.state.reason == reason


def test_failing_the_run_first_cancels_tasks_still_in_flight() -> None:
    run = Run(pipeline())
    run.start()
    # Something else is in flight beside t1 (the sequential runner never does
    # this today; the rule must hold for forks too).
    run.apply(TaskScheduled(at=1.0, task_id="side", ref="t2", name="parse", type="parse", input={}))
    run.apply(TaskStarted(at=1.0, task_id="side"))
    made = run.feed(TaskFailed(at=2.0, task_id="run-0", reason="boom"))
    assert made == [
        TaskCanceled(at=2.0, task_id="side", reason="run failed at task 't1'"),
        WorkflowFailed(
            at=2.0,
            reason="Task run-0 failed with status: FAILED and reason: 'boom'",
            status="FAILED",
            task_id="run-0",
            output={"stored": None, "url": "http://example"},
        ),
    ]
    assert run.state.task("side").status is TaskStatus.CANCELED  # type: ignore[union-attr]


def test_a_failure_without_a_reason_names_the_task_in_the_runs_reason() -> None:
    """Conductor's DeciderService.retry prints a missing reason as Java prints null."""
    run = Run(pipeline())
    run.start()
    (failed,) = run.feed(TaskFailed(at=1.0, task_id="run-0", reason=""))
    assert isinstance(failed, WorkflowFailed)
    assert failed.reason == "Task run-0 failed with status: FAILED and reason: 'null'"


def test_a_terminal_error_is_never_retried() -> None:
    run = Run(pipeline(), policies(retry_count=5))
    run.start()
    made = run.feed(
        TaskFailed(
            at=1.0,
            task_id="run-0",
            reason="bad input",
            status="FAILED_WITH_TERMINAL_ERROR",
            output={"why": "bad"},
        )
    )
    reason = "Task run-0 failed with status: FAILED and reason: 'bad input'"
    assert made == [
        WorkflowFailed(
            at=1.0,
            reason=reason,
            status="FAILED",
            task_id="run-0",
            output={"stored": None, "url": "http://example"},
        )
    ]
    assert run.state.task("run-0").output == {"why": "bad"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("override", "registered", "attempts"),
    [(0, 5, 1), (2, 0, 3), (1, 1, 2)],
)
def test_a_per_task_retry_count_overrides_the_task_def(
    override: int, registered: int, attempts: int
) -> None:
    run = Run(pipeline(t1={"retryCount": override}), policies(retry_count=registered))
    run.start()
    made: list[Event] = []
    tries = 0
    while not run.state.status.terminal:
        tries += 1
        made = run.feed(TaskFailed(at=float(tries), task_id=run.current().id, reason="x"))
    assert tries == attempts
    assert isinstance(made[-1], WorkflowFailed)


def test_an_inline_task_definition_takes_precedence_over_the_registered_one() -> None:
    definition = pipeline(t1={"taskDefinition": {"retryCount": 1, "retryDelaySeconds": 7}})
    run = Run(definition, policies(retry_count=0))
    run.start()
    (retry,) = run.feed(TaskFailed(at=1.0, task_id="run-0", reason="x"))
    assert isinstance(retry, TaskScheduled)
    assert retry.ready_at == 8.0


def test_an_unregistered_task_gets_conductors_default_policy() -> None:
    run = Run(pipeline(), Environment())
    run.start()
    for attempt in range(3):
        (retry,) = run.feed(TaskFailed(at=0.0, task_id=run.current().id, reason="x"))
        assert isinstance(retry, TaskScheduled)
        assert (retry.attempt, retry.ready_at) == (attempt + 1, 60.0)
    (failed,) = run.feed(TaskFailed(at=0.0, task_id=run.current().id, reason="x"))
    assert isinstance(failed, WorkflowFailed)


# -- pause, terminal states -----------------------------------------------------


def test_a_paused_run_decides_nothing_until_resumed() -> None:
    run = Run(pipeline())
    run.start()
    assert run.feed(WorkflowPaused(at=1.0)) == []
    assert run.feed(TaskCompleted(at=2.0, task_id="run-0", output={"body": "b"})) == []
    assert run.state.status is WorkflowStatus.PAUSED
    assert decide(run.definition, run.state, run.env) == []
    made = run.feed(WorkflowResumed(at=3.0))
    assert [(type(e), e.at) for e in made] == [(TaskScheduled, 3.0)]
    assert run.state.status is WorkflowStatus.RUNNING


def test_a_terminated_run_decides_nothing() -> None:
    run = Run(pipeline())
    run.start()
    assert run.feed(WorkflowTerminated(at=1.0, reason="operator")) == []
    assert run.state.status is WorkflowStatus.TERMINATED
    assert (run.state.reason, run.state.ended_at) == ("operator", 1.0)


SAMPLES: list[Event] = [
    WorkflowStarted(
        at=1.5,
        run_id="r",
        name="wf",
        version=2,
        digest="abc",
        input={"a": [1, {"b": None}], "f": 0.25},
        priority=3,
        correlation_id="c",
        key="k",
        parent_id="p",
        task_to_group={"*": "g"},
    ),
    TaskScheduled(
        at=2.0,
        task_id="run-0",
        ref="t1",
        name="fetch",
        type="fetch",
        input={"x": 1},
        attempt=1,
        group="g",
        ready_at=3.5,
        retried_from="run-9",
        iteration=2,
    ),
    TaskStarted(at=2.5, task_id="run-0", worker_id="w"),
    TaskCompleted(at=3.0, task_id="run-0", output={"ok": True}),
    TaskFailed(at=3.0, task_id="run-0", reason="boom", status="TIMED_OUT", output={"p": 1}),
    TaskUpdated(at=3.0, task_id="run-0", output={"progress": 0.5}),
    TaskRequeued(at=3.0, task_id="run-0", ready_at=9.0, output={"n": 1}),
    TaskCanceled(at=3.0, task_id="run-0", reason="bye"),
    WorkflowCompleted(at=4.0, output={"done": True}),
    WorkflowFailed(at=4.0, reason="boom", status="TIMED_OUT", task_id="run-0", output={"o": 1}),
    WorkflowTerminated(at=4.0, reason="operator"),
    WorkflowPaused(at=4.0),
    WorkflowResumed(at=4.0),
    TaskMarked(at=4.0, task_id="run-0", status="COMPLETED_WITH_ERRORS", reason="optional"),
    WorkflowReopened(at=5.0, op="retry", superseded=["run-0"], input={"a": 1}),
]
REOPENING = (WorkflowReopened,)


def _ended(how: str) -> Run:
    run = Run(pipeline())
    run.start()
    if how == "completed":
        for output in ({"body": "b"}, {"rows": []}, {"count": 1}):
            run.complete(at=1.0, output=output)
    elif how == "failed":
        run.feed(TaskFailed(at=1.0, task_id="run-0", reason="x"))
    else:
        run.feed(WorkflowTerminated(at=1.0))
    return run


@pytest.mark.parametrize("how", ["completed", "failed", "terminated"])
@pytest.mark.parametrize(
    "event",
    [e for e in SAMPLES if not isinstance(e, REOPENING)],
    ids=lambda e: type(e).__name__,
)
def test_a_terminal_run_rejects_any_further_event_but_a_reopening(how: str, event: Event) -> None:
    run = _ended(how)
    assert run.state.status.terminal
    before = run.state.to_json()
    with pytest.raises(InternalError, match="cannot follow a terminal state"):
        apply(run.state, event)
    assert run.state.to_json() == before


# -- apply ----------------------------------------------------------------------


def test_starting_a_run_records_the_event() -> None:
    state = apply(WorkflowState(id="r"), SAMPLES[0])
    assert state.started
    assert (state.name, state.version, state.digest, state.priority) == ("wf", 2, "abc", 3)
    assert (state.correlation_id, state.key, state.parent_id) == ("c", "k", "p")
    assert (state.input, state.task_to_group) == ({"a": [1, {"b": None}], "f": 0.25}, {"*": "g"})
    assert (state.created_at, state.updated_at, state.events) == (1.5, 1.5, 1)


def test_starting_a_run_twice_is_an_internal_error() -> None:
    run = Run(pipeline())
    run.start()
    with pytest.raises(InternalError, match="started twice"):
        run.start()


@pytest.mark.parametrize(
    "event",
    [
        TaskStarted(at=1.0, task_id="nope"),
        TaskCompleted(at=1.0, task_id="nope", output={}),
        TaskFailed(at=1.0, task_id="nope", reason=""),
        TaskUpdated(at=1.0, task_id="nope", output={}),
        TaskRequeued(at=1.0, task_id="nope", ready_at=2.0),
        TaskCanceled(at=1.0, task_id="nope"),
        TaskScheduled(
            at=1.0,
            task_id="new",
            ref="t1",
            name="fetch",
            type="fetch",
            input={},
            retried_from="nope",
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_event_for_an_unknown_task_is_an_internal_error(event: Event) -> None:
    run = Run(pipeline())
    run.start()
    with pytest.raises(InternalError, match="unknown task nope"):
        apply(run.state, event)


def test_scheduling_a_task_id_twice_is_an_internal_error() -> None:
    run = Run(pipeline())
    run.start()
    with pytest.raises(InternalError, match="scheduled twice"):
        run.apply(TaskScheduled(at=1.0, task_id="run-0", ref="t1", name="f", type="f", input={}))


def test_an_event_without_a_rule_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="no rule"):
        apply(WorkflowState(id="r"), Event(at=0.0))


def test_every_event_counts_and_moves_updated_at() -> None:
    run = Run(pipeline())
    run.start(at=1.0)
    run.feed(TaskStarted(at=4.0, task_id="run-0"))
    assert (run.state.events, run.state.updated_at) == (3, 4.0)


def test_task_started_records_the_worker_and_counts_polls() -> None:
    """A second start (a requeue after a crash) keeps the first start time: timeoutSeconds runs from it."""
    run = Run(pipeline())
    run.start()
    run.feed(TaskStarted(at=1.0, task_id="run-0", worker_id="w1"))
    run.feed(TaskStarted(at=2.0, task_id="run-0", worker_id="w2"))
    task = run.current()
    assert (task.status, task.worker_id, task.started_at, task.poll_count) == (
        TaskStatus.IN_PROGRESS,
        "w2",
        1.0,
        2,
    )


def test_task_updated_merges_output_without_ending_the_task() -> None:
    run = Run(pipeline())
    run.start()
    run.feed(TaskStarted(at=1.0, task_id="run-0"))
    run.feed(TaskUpdated(at=2.0, task_id="run-0", output={"a": 1, "b": 1}))
    run.feed(TaskUpdated(at=3.0, task_id="run-0", output={"b": 2}))
    task = run.current()
    assert (task.output, task.status, task.updated_at) == (
        {"a": 1, "b": 2},
        TaskStatus.IN_PROGRESS,
        3.0,
    )


def test_task_requeued_makes_the_task_ready_again_later() -> None:
    run = Run(pipeline())
    run.start()
    run.feed(TaskStarted(at=1.0, task_id="run-0", worker_id="w1"))
    run.feed(TaskRequeued(at=2.0, task_id="run-0", ready_at=30.0, output={"seen": 1}))
    run.feed(TaskRequeued(at=3.0, task_id="run-0", ready_at=40.0))
    task = run.current()
    assert (task.status, task.ready_at, task.worker_id, task.output) == (
        TaskStatus.SCHEDULED,
        40.0,
        None,
        {"seen": 1},
    )


def test_a_completion_without_a_start_counts_as_started_at_completion() -> None:
    run = Run(pipeline())
    run.start()
    run.feed(TaskCompleted(at=5.0, task_id="run-0", output={}))
    task = run.state.task("run-0")
    assert task is not None
    assert (task.started_at, task.ended_at, task.status) == (5.0, 5.0, TaskStatus.COMPLETED)


def test_a_failure_without_output_keeps_the_output_so_far() -> None:
    run = Run(pipeline())
    run.start()
    run.feed(TaskUpdated(at=1.0, task_id="run-0", output={"partial": True}))
    run.feed(TaskFailed(at=2.0, task_id="run-0", reason="x", status="FAILED_WITH_TERMINAL_ERROR"))
    task = run.state.task("run-0")
    assert task is not None
    assert (task.output, task.reason, task.ended_at) == ({"partial": True}, "x", 2.0)


def test_a_cancel_without_a_reason_keeps_the_earlier_reason() -> None:
    run = Run(pipeline())
    run.start()
    run.apply(TaskRequeued(at=1.0, task_id="run-0", ready_at=2.0))
    state = run.state
    state.tasks[0].reason = "earlier"
    apply(state, TaskCanceled(at=3.0, task_id="run-0"))
    assert (state.tasks[0].status, state.tasks[0].reason) == (TaskStatus.CANCELED, "earlier")


def test_a_failed_run_records_status_reason_task_and_output() -> None:
    run = Run(pipeline())
    run.start()
    run.apply(
        WorkflowFailed(at=9.0, reason="why", status="TIMED_OUT", task_id="run-0", output={"o": 1})
    )
    state = run.state
    assert (state.status, state.reason, state.failed_task_id, state.output, state.ended_at) == (
        WorkflowStatus.TIMED_OUT,
        "why",
        "run-0",
        {"o": 1},
        9.0,
    )


def test_latest_gives_the_newest_attempt_of_a_reference() -> None:
    run = Run(pipeline(), policies(retry_count=2))
    run.start()
    run.feed(TaskFailed(at=1.0, task_id="run-0", reason="x"))
    latest = run.state.latest("t1")
    assert latest is not None
    assert (latest.id, latest.attempt) == ("run-1", 1)
    assert run.state.latest("t3") is None
    assert run.state.task("nope") is None


# -- snapshots and the event encoding -------------------------------------------


def _mid_run() -> Run:
    run = Run(pipeline(), policies(retry_count=2, backoff_jitter_ms=100))
    run.start(at=0.5, task_to_group={"parse": "red"}, correlation_id="c")
    run.feed(TaskFailed(at=1.0, task_id="run-0", reason="flaky", output={"tried": 1}))
    run.complete(at=2.0, output={"body": "b"})
    run.feed(TaskStarted(at=3.0, task_id=run.current().id, worker_id="w"))
    run.feed(TaskUpdated(at=4.0, task_id=run.current().id, output={"pct": 0.5}))
    return run


def test_a_snapshot_round_trips_through_json() -> None:
    state = _mid_run().state
    restored = snapshot(state)
    assert restored.to_json() == state.to_json()
    assert isinstance(restored.status, WorkflowStatus)
    assert all(isinstance(task.status, TaskStatus) for task in restored.tasks)
    assert restored.task("run-2") is restored.tasks[2]
    assert restored.latest("t1") is restored.tasks[1]


def test_a_restored_snapshot_carries_on_exactly_like_the_original() -> None:
    run = _mid_run()
    restored = snapshot(run.state)
    ending = TaskCompleted(at=5.0, task_id=run.current().id, output={"rows": [1]})
    apply(restored, ending)
    made = run.feed(ending)
    assert decide(run.definition, restored, run.env) == made
    for decision in made:
        apply(restored, decision)
    assert restored.to_json() == run.state.to_json()


def test_the_samples_cover_every_event_type() -> None:
    assert {type(event).kind for event in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_type_round_trips_through_json(event: Event) -> None:
    encoded = json.loads(json.dumps(event.to_json()))
    assert encoded["e"] == type(event).kind
    assert event_from_json(encoded) == event


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "garbage",
        42,
        [1, 2],
        {},
        {"e": "no-such-event", "at": 1.0},
        {"e": ["unhashable"]},
        {"e": "paused"},
        {"e": "paused", "at": 1.0, "bogus": True},
        {"e": "task_completed", "at": 1.0},
    ],
)
def test_decoding_garbage_raises_journal_corrupted_naming_the_stream(garbage: Any) -> None:
    with pytest.raises(JournalCorrupted, match="undecodable event") as caught:
        event_from_json(garbage, stream_id="run-7")
    assert caught.value.stream_id == "run-7"


# -- statuses and errors ----------------------------------------------------------


def test_statuses_classify_terminal_successful_and_retriable() -> None:
    assert {s for s in WorkflowStatus if not s.terminal} == {"RUNNING", "PAUSED"}
    assert {s for s in TaskStatus if not s.terminal} == {"SCHEDULED", "IN_PROGRESS"}
    assert {s for s in TaskStatus if s.successful} == {
        "COMPLETED",
        "COMPLETED_WITH_ERRORS",
        "SKIPPED",
    }
    assert {s for s in TaskStatus if s.retriable} == {"FAILED", "TIMED_OUT"}


def test_invariant_raises_internal_error_only_when_broken() -> None:
    invariant(True, "fine")
    with pytest.raises(InternalError, match="broken"):
        invariant(False, "broken")


def test_errors_carry_their_data_and_share_one_root() -> None:
    stale = StaleTask("run-3", "it was retried")
    assert isinstance(stale, InvalidOperation)
    assert stale.task_id == "run-3"
    assert "run-3" in str(stale)
    assert "ignored" in str(stale)
    missing = NotFound("run", "r-1")
    assert isinstance(missing, LookupError)
    assert (missing.what, missing.ident, str(missing)) == ("run", "r-1", "no run 'r-1'")
    terminal = TerminalError("bad", output={"x": 1})
    assert (terminal.reason, terminal.output) == ("bad", {"x": 1})
    bad = DefinitionError("oops", workflow="wf")
    assert isinstance(bad, ValueError)
    assert str(bad) == "workflow 'wf': oops"
    assert str(DefinitionError("oops")) == "oops"
    for error in (stale, missing, terminal, bad, JournalCorrupted("x"), InternalError("y")):
        assert isinstance(error, CadenzaError)


# -- whole runs under hypothesis -------------------------------------------------

ENDINGS = ("complete", "fail", "fail terminally", "time out")
outputs = st.fixed_dictionaries(
    {},
    optional={
        "body": st.text(max_size=3),
        "rows": st.lists(st.integers(), max_size=2),
        "count": st.integers(),
    },
)


@dataclass
class Played:
    run: Run
    steps: int
    budget: int


def play(data: st.DataObject) -> Played:
    """Play a run to its end, each step ending the one attempt in flight as hypothesis picks."""
    task_defs = {
        name: TaskDef(
            name=name,
            retry_count=data.draw(st.integers(0, 2), label=f"{name} retryCount"),
            retry_logic=data.draw(st.sampled_from(list(RetryLogic)), label=f"{name} retryLogic"),
            retry_delay_s=data.draw(st.integers(0, 30), label=f"{name} retryDelaySeconds"),
            backoff_jitter_ms=data.draw(st.sampled_from([0, 250]), label=f"{name} jitter"),
        )
        for name in ("fetch", "parse", "store")
    }
    override = data.draw(st.none() | st.integers(0, 2), label="t2 retryCount override")
    definition = pipeline(t2=None if override is None else {"retryCount": override})
    run = Run(definition, Environment(task_defs=task_defs))
    run.start(task_to_group=data.draw(st.sampled_from([None, {"*": "blue"}, {"parse": "red"}])))
    budget = sum(
        (spec.retry_count if spec.retry_count is not None else task_defs[spec.name].retry_count) + 1
        for spec in definition.tasks
    )
    clock = 0.0
    steps = 0
    while not run.state.status.terminal:
        assert steps < budget, f"the run is still {run.state.status} after {steps} steps"
        steps += 1
        in_flight = run.in_flight()
        assert in_flight, "a running run at rest has nothing in flight"
        task = data.draw(st.sampled_from(in_flight))
        clock = max(clock, task.ready_at) + data.draw(st.integers(1, 50))
        inputs: list[Event] = []
        paused = data.draw(st.booleans(), label="paused around the step")
        if paused:
            inputs.append(WorkflowPaused(at=clock))
        prelude = data.draw(st.sampled_from(["none", "start", "update", "requeue"]))
        if prelude != "none":
            inputs.append(TaskStarted(at=clock, task_id=task.id, worker_id="w"))
        if prelude == "update":
            inputs.append(TaskUpdated(at=clock, task_id=task.id, output={"progress": 1}))
        if prelude == "requeue":
            inputs.append(TaskRequeued(at=clock, task_id=task.id, ready_at=clock + 5))
        ending = data.draw(st.sampled_from(ENDINGS))
        if ending == "complete":
            inputs.append(TaskCompleted(at=clock, task_id=task.id, output=data.draw(outputs)))
        else:
            status = {"fail": "FAILED", "fail terminally": "FAILED_WITH_TERMINAL_ERROR"}
            inputs.append(
                TaskFailed(
                    at=clock, task_id=task.id, reason=ending, status=status.get(ending, "TIMED_OUT")
                )
            )
        if paused:
            inputs.append(WorkflowResumed(at=clock))
        for event in inputs:
            made = run.feed(event)
            if run.state.status is WorkflowStatus.PAUSED:
                assert made == []
    return Played(run, steps, budget)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_folding_the_journal_gives_the_live_state(data: st.DataObject) -> None:
    """Folding every recorded event from an empty run gives exactly the live state."""
    run = play(data).run
    assert fold(RUN, run.events).to_json() == run.state.to_json()


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_snapshot_at_any_point_plus_the_rest_of_the_journal_gives_the_live_state(
    data: st.DataObject,
) -> None:
    """For every crash point k: fold events[:k], snapshot through JSON, fold the rest = live."""
    run = play(data).run
    live = run.state.to_json()
    for k in range(len(run.events) + 1):
        restored = snapshot(fold(RUN, run.events[:k]))
        assert fold(RUN, run.events[k:], restored).to_json() == live, f"crash after {k} events"


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_run_ends_within_its_retry_budget_and_nothing_follows_the_end(
    data: st.DataObject,
) -> None:
    """A run always ends, within one step per allowed attempt, with every task terminal
    and its terminal event last; the outcome matches the attempts."""
    played = play(data)
    state, events = played.run.state, played.run.events
    assert state.status.terminal
    assert played.steps <= played.budget
    assert all(task.status.terminal for task in state.tasks)
    ends = [i for i, event in enumerate(events) if isinstance(event, TERMINAL_EVENTS)]
    assert ends == [len(events) - 1]
    current = {task.ref: task for task in state.tasks if not task.retried}
    if state.status is WorkflowStatus.COMPLETED:
        assert [current[spec.ref].status for spec in played.run.definition.tasks] == [
            TaskStatus.COMPLETED
        ] * 3
    else:
        culprit = state.task(state.failed_task_id or "")
        assert culprit is not None
        assert not culprit.status.successful
        assert (state.status is WorkflowStatus.TIMED_OUT) == (
            culprit.status is TaskStatus.TIMED_OUT
        )
    with pytest.raises(InternalError):
        apply(state, WorkflowResumed(at=state.updated_at))
    reopened = apply(
        state.copy(), WorkflowReopened(at=state.updated_at, op="restart", superseded=[])
    )
    assert reopened.status is WorkflowStatus.RUNNING  # the one event allowed after the end


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_retry_follows_a_retriable_failure_with_the_next_attempt(
    data: st.DataObject,
) -> None:
    """Each retry names a FAILED or TIMED_OUT attempt of its task, is the next attempt
    number within the allowed count, and is not ready before it was scheduled."""
    run = play(data).run
    state = run.state
    for event in run.events:
        if isinstance(event, TaskScheduled) and event.retried_from is not None:
            previous = state.task(event.retried_from)
            assert previous is not None
            assert previous.retried
            assert previous.status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT)
            assert (previous.ref, event.attempt) == (event.ref, previous.attempt + 1)
            spec = run.definition.spec(event.ref)
            allowed = spec.retry_count
            if allowed is None:
                allowed = run.env.task_def(spec).retry_count
            assert event.attempt <= allowed
            assert event.ready_at >= event.at


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_decide_is_deterministic_and_reproduces_every_journaled_decision(
    data: st.DataObject,
) -> None:
    """On equal states decide gives equal decisions, changes nothing, and — folded from
    the journal — gives back exactly the decisions the live run made."""
    run = play(data).run
    for k in range(len(run.events) + 1):
        one, other = fold(RUN, run.events[:k]), snapshot(fold(RUN, run.events[:k]))
        before = json.dumps(one.to_json(), sort_keys=True)
        assert decide(run.definition, one, run.env) == decide(run.definition, other, run.env)
        assert json.dumps(one.to_json(), sort_keys=True) == before
    for index, decisions in run.batches:
        assert decide(run.definition, fold(RUN, run.events[:index]), run.env) == decisions


def test_an_environment_with_a_runs_scripts_is_the_environment_with_only_its_book_changed() -> None:
    """`with_scripts`, the cheap copy a loaded run's actor makes, is `dataclasses.replace`."""
    from dataclasses import replace

    from cadenza.language._script import Evaluations

    base = Environment(
        task_defs={"t": TaskDef(name="t")}, groups={"t": "cpu"}, default_group="d",
        live=frozenset({"cpu"}), max_timers_per_run=3, polled={"t": frozenset({"cpu"})},
        system_tasks=frozenset({"X"}), template_env={"A": "1"}, max_variables_kb=9,
    )  # fmt: skip
    book = Evaluations()
    assert base.with_scripts(book) == replace(base, scripts=book)
    assert base.with_scripts(book).scripts is book
    assert base.scripts is None
