"""Encoding, checksums and the package's public face."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

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
