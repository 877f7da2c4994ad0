"""Group commit, driven by a fake commit whose rounds the test releases one by one."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from cadenza.persistence._group import GroupCommitter, Ticket


class Disk:
    """A commit callback that records each round and holds it until released."""

    def __init__(self, fail_round: int | None = None):
        self.rounds: list[list[str]] = []
        self.gates: list[anyio.Event] = []
        self.fail_round = fail_round
        self.seq = 0

    async def commit(self, batch: list[Ticket[str]]) -> None:
        self.rounds.append([t.item for t in batch])
        gate = anyio.Event()
        self.gates.append(gate)
        await gate.wait()
        if len(self.rounds) == self.fail_round:
            raise OSError("injected")
        for ticket in batch:
            self.seq += 1
            ticket.succeed(self.seq)

    async def release(self, round_number: int) -> None:
        """Let round `round_number` (1-based) finish, waiting for it to start first."""
        while len(self.gates) < round_number:
            await anyio.lowlevel.checkpoint()
        self.gates[round_number - 1].set()


async def _settle() -> None:
    for _ in range(10):
        await anyio.lowlevel.checkpoint()


async def test_items_arriving_during_a_commit_share_the_next_round() -> None:
    """While round 1 is in flight, later submissions gather into one round 2, in order."""
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=100)
    results: dict[str, int] = {}

    async def submit(item: str) -> None:
        results[item] = await group.submit(item)

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "a")
        await _settle()
        for item in "bcd":
            tg.start_soon(submit, item)
        await _settle()
        assert results == {}  # nobody resumes before its round commits
        await disk.release(1)
        await disk.release(2)
    assert disk.rounds == [["a"], ["b", "c", "d"]]
    assert results == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert group.idle


async def test_batch_max_splits_rounds() -> None:
    """A round never takes more than batch_max items."""
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=2)
    async with anyio.create_task_group() as tg:
        for item in "abcde":
            tg.start_soon(group.submit, item)
        for r in range(1, 4):
            await disk.release(r)
    assert disk.rounds == [["a", "b"], ["c", "d"], ["e"]]


async def test_a_cancelled_submitter_withdraws_its_pending_item() -> None:
    """Cancelled before its round starts, an item is never committed."""
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=100)
    async with anyio.create_task_group() as tg:
        tg.start_soon(group.submit, "a")
        await _settle()
        scope = anyio.CancelScope()

        async def cancelled_submit() -> None:
            with scope:
                await group.submit("b")

        tg.start_soon(cancelled_submit)
        tg.start_soon(group.submit, "c")
        await _settle()
        scope.cancel()
        await _settle()
        await disk.release(1)
        await disk.release(2)
    assert disk.rounds == [["a"], ["c"]]


async def test_flush_waits_for_earlier_items_only() -> None:
    """flush returns once items submitted before it are resolved, not later ones."""
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=100)
    flushed = anyio.Event()

    async def flush() -> None:
        await group.flush()
        flushed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(group.submit, "a")
        await _settle()
        tg.start_soon(flush)
        await _settle()
        tg.start_soon(group.submit, "b")
        await _settle()
        assert not flushed.is_set()
        await disk.release(1)
        await flushed.wait()
        assert disk.seq == 1  # "b" is not committed, and flush did not wait for it
        await disk.release(2)
    assert disk.rounds == [["a"], ["b"]]
    await group.flush()  # nothing pending: returns at once


async def test_a_round_in_flight_completes_even_if_its_writer_is_cancelled() -> None:
    """The writer's round is shielded: cancelling the writer cannot cut a commit in half."""
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=100)
    scope = anyio.CancelScope()
    returned: list[int] = []

    async def writer() -> None:
        with scope:
            returned.append(await group.submit("a"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        await _settle()
        scope.cancel()
        await _settle()
        assert disk.rounds == [["a"]]
        assert not group.idle
        await disk.release(1)
    assert returned in ([], [1])  # its seq, or the cancellation once the round is done
    assert disk.seq == 1
    assert group.idle


async def test_a_failing_commit_fails_its_round_and_the_next_round_works() -> None:
    """An exception from the commit reaches every submitter of that round only."""
    disk = Disk(fail_round=2)
    group = GroupCommitter(disk.commit, batch_max=100)
    outcomes: dict[str, object] = {}

    async def submit(item: str) -> None:
        try:
            outcomes[item] = await group.submit(item)
        except OSError as exc:
            outcomes[item] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "a")
        await _settle()
        tg.start_soon(submit, "b")
        tg.start_soon(submit, "c")
        await _settle()
        await disk.release(1)
        await disk.release(2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "d")
        await disk.release(3)
    assert outcomes["a"] == 1
    assert isinstance(outcomes["b"], OSError)
    assert isinstance(outcomes["c"], OSError)
    assert outcomes["d"] == 2


def test_batch_max_must_be_positive() -> None:
    """A zero-sized round could never make progress."""

    async def commit(batch: list[Ticket[str]]) -> None:  # pragma: no cover
        pass

    with pytest.raises(ValueError, match="batch_max"):
        GroupCommitter(commit, batch_max=0)


async def test_a_hold_gathers_its_members_into_one_round_past_batch_max() -> None:
    """`hold(members)`: no round starts until every member submitted or was forgone; then
    one round takes everything pending, even past `batch_max` (`Runtime.start_many`)."""
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=2, member=lambda item: item.split(":")[0])
    members = ["a", "b", "c", "d"]
    async with anyio.create_task_group() as tg:
        async with group.hold(members) as hold:
            for name in ("a", "b", "c"):
                tg.start_soon(group.submit, f"{name}:1")
            tg.start_soon(group.submit, "outsider:1")  # not a member: waits, joins the round
            await _settle()
            assert disk.rounds == []  # d has neither submitted nor been forgone
            hold.forgo("d")  # its start failed before appending
        await _settle()
        assert disk.rounds == [["a:1", "b:1", "c:1", "outsider:1"]]
        await disk.release(1)
    assert group.idle


async def test_a_hold_waits_for_a_member_that_submits_late() -> None:
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=100, member=lambda item: item)
    async with anyio.create_task_group() as tg:
        async with group.hold(["x", "y"]):
            tg.start_soon(group.submit, "x")
            await _settle()
            assert disk.rounds == []
            tg.start_soon(group.submit, "y")
            await _settle()
        await _settle()
        assert disk.rounds == [["x", "y"]]
        await disk.release(1)


async def test_a_batch_submitted_whole_shares_one_round_past_batch_max() -> None:
    """`submit_many` during a round in flight: its items land whole in the next round, even
    past `batch_max`, each with its own seq, in order."""
    disk = Disk()
    group = GroupCommitter(disk.commit, batch_max=2)
    verdicts: list[int | Exception] = []

    async def submit_many() -> None:
        verdicts.extend(await group.submit_many(["b", "c", "d", "e"]))

    async with anyio.create_task_group() as tg:
        tg.start_soon(group.submit, "a")
        await _settle()
        tg.start_soon(submit_many)
        await _settle()
        await disk.release(1)
        await disk.release(2)
    assert disk.rounds == [["a"], ["b", "c", "d", "e"]]
    assert verdicts == [2, 3, 4, 5]


async def test_a_batch_whose_round_fails_gets_each_error_and_a_cancelled_one_withdraws() -> None:
    disk = Disk(fail_round=1)
    group = GroupCommitter(disk.commit, batch_max=10)
    verdicts: list[int | Exception] = []
    scopes: list[anyio.CancelScope] = []

    async def submit_many(items: list[str]) -> None:
        verdicts.extend(await group.submit_many(items))

    async def cancelled_submit_many(items: list[str]) -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await group.submit_many(items)

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit_many, ["a", "b"])
        await _settle()
        tg.start_soon(cancelled_submit_many, ["c", "d"])  # waits behind round 1
        await _settle()
        scopes[0].cancel()
        await _settle()
        await disk.release(1)
    assert [type(v) for v in verdicts] == [OSError, OSError]
    assert disk.rounds == [["a", "b"]]  # the cancelled batch was withdrawn, never written
    assert group.idle
