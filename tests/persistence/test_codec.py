"""Encoding, checksums and the package's public face."""

from __future__ import annotations

import ast
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cadenza.persistence
from cadenza._errors import JournalCorrupted, PayloadError
from cadenza.persistence import Append, StreamInfo
from cadenza.persistence._codec import (
    canonical,
    checksum,
    decode_definition,
    decode_events,
    decode_snapshot,
    encode_append,
)
from tests.persistence._helpers import append


def test_payload_is_compact_json_checked_against_its_stream() -> None:
    """The record is compact JSON; its CRC covers the stream id, so a moved payload fails."""
    enc = encode_append(append("run-1", [{"a": 1, "b": [True, None]}]))
    assert enc.payload == b'[{"a":1,"b":[true,null]}]'
    assert enc.crc == checksum("run-1", enc.payload)
    assert decode_events("run-1", 7, enc.payload, enc.crc) == [{"a": 1, "b": [True, None]}]
    with pytest.raises(JournalCorrupted, match="'run-2' at record 7") as caught:
        decode_events("run-2", 7, enc.payload, enc.crc)
    assert (caught.value.stream_id, caught.value.record) == ("run-2", 7)


@pytest.mark.parametrize(
    "payload",
    [b"[{]", b'{"not": "a list"}', b"[1, 2]", b"\xff\xfe"],
)
def test_undecodable_payloads_with_a_valid_checksum_are_reported(payload: bytes) -> None:
    """A payload whose checksum matches but is not a list of objects is still refused."""
    with pytest.raises(JournalCorrupted, match="record 3"):
        decode_events("s", 3, payload, checksum("s", payload))


@pytest.mark.parametrize(
    "payload",
    [
        b'[{"s":"caf\\u00e9 \\ud83d\\ude00","n":-9223372036854775808,"f":0.1,"e":1e-300}]',
        b'[{"lone":"\\ud800"}]',  # msgspec refuses it, json.loads reads it: same answer
        b'[{"a":1,"a":2}]',
    ],
)
def test_records_decode_exactly_as_json_loads_reads_them(payload: bytes) -> None:
    """The faster decoder of records changes nothing a replay reads."""
    crc = checksum("run-1", payload)
    assert decode_events("run-1", 1, payload, crc) == json.loads(payload)


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (float("nan"), "Out of range float"),
        (float("inf"), "Out of range float"),
        (b"bytes", "bytes"),
        ({1, 2}, "set"),
        (datetime.datetime(2026, 1, 1), "datetime"),
    ],
)
def test_what_json_cannot_hold_is_refused_not_rewritten(value: Any, refused: str) -> None:
    """The fast encoder writes NaN as null and bytes, sets, datetimes as strings and lists;
    none of it reaches the journal: the append fails naming what JSON cannot hold."""
    with pytest.raises(PayloadError, match=f"events of stream 'run-1'.*{refused}"):
        encode_append(append("run-1", [{"output": {"x": [1, value]}}]))


@pytest.mark.parametrize(
    "event",
    [
        {"t": (1, 2), "k": {"1": 0}},  # a tuple is held as what it reads back as, a list
        {"s": "caf\u00e9 \U0001f600", "big": 2**63 - 1, "f": [0.1, -0.0, 1e300, 5e-324]},
        {"lone": "\ud800"},  # msgspec refuses it; the stdlib writes it escaped
    ],
)
def test_every_record_reads_back_as_the_value_it_was_made_of(event: dict[str, Any]) -> None:
    """Whichever encoder wrote it, a record decodes equal to (the JSON reading of) its events."""
    enc = encode_append(append("run-1", [event]))
    assert decode_events("run-1", 1, enc.payload, enc.crc) == json.loads(json.dumps([event]))


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_VALUES)
def test_the_journal_refuses_or_keeps_exactly_what_the_strict_encoder_does(value: Any) -> None:
    """Refused exactly when the stdlib's strict encoder refuses; else it reads back as that
    encoder's text reads back."""
    try:
        expected = json.loads(json.dumps([{"v": value}], allow_nan=False))
    except ValueError:
        with pytest.raises(PayloadError):
            encode_append(append("run-1", [{"v": value}]))
        return
    enc = encode_append(append("run-1", [{"v": value}]))
    assert decode_events("run-1", 1, enc.payload, enc.crc) == expected


def test_a_snapshot_must_be_an_object() -> None:
    """A snapshot decoding to anything but an object is refused."""
    with pytest.raises(JournalCorrupted, match="snapshot of stream 's' at record 4"):
        decode_snapshot("s", 4, b"[1]", checksum("s", b"[1]"))


def test_a_snapshot_that_is_not_an_object_is_a_payload_error() -> None:
    """Snapshots are JSON objects; anything else fails the append up front."""
    row = StreamInfo("s", "k", 1, "RUNNING", False, 0.0, 0.0)
    with pytest.raises(PayloadError, match="snapshot of stream 's'"):
        encode_append(Append(row, [], ["not", "an", "object"]))  # type: ignore[arg-type]


def test_definition_digest_is_canonical_and_verified() -> None:
    """The digest ignores key order and whitespace; a tampered body fails its digest."""
    digest, data = canonical({"b": 1, "a": [1, 2]}, "definition")
    assert data == b'{"a":[1,2],"b":1}'
    assert canonical({"a": [1, 2], "b": 1}, "definition")[0] == digest
    assert decode_definition(digest, data) == {"a": [1, 2], "b": 1}
    with pytest.raises(JournalCorrupted, match="does not match its digest"):
        decode_definition(digest, data.replace(b"1", b"3"))
    body = b"[]"
    with pytest.raises(JournalCorrupted, match="not a JSON object"):
        decode_definition(hashlib.sha256(body).hexdigest(), body)
    with pytest.raises(PayloadError, match="expected a JSON object"):
        canonical(["x"], "definition")  # type: ignore[arg-type]


def test_the_public_names_are_pinned() -> None:
    """cadenza.persistence exports exactly its supported names."""
    assert sorted(cadenza.persistence.__all__) == [
        "Append",
        "DefinitionRecord",
        "DuplicateKey",
        "InjectedFault",
        "Journal",
        "JournalClosed",
        "JournalFaults",
        "JournalStats",
        "JournalWriteError",
        "Loaded",
        "MemoryJournal",
        "OwnershipLost",
        "PostgresJournal",
        "SqliteJournal",
        "StreamInfo",
        "StreamQuery",
        "count_streams",
        "open_journal",
        "redact_url",
        "search_streams",
    ]
    for name in cadenza.persistence.__all__:
        assert getattr(cadenza.persistence, name) is not None


def test_persistence_imports_neither_runtime_nor_actors() -> None:
    """The layering: persistence stands alone."""
    package = Path(cadenza.persistence.__file__).parent
    imported: set[str] = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    cadenza_modules = {m for m in imported if m.startswith("cadenza")}
    assert cadenza_modules
    assert not {m for m in cadenza_modules if m.startswith(("cadenza.runtime", "cadenza.actors"))}
