"""The PostgreSQL journal's schema and statements (placeholders `$1`, `$2`, ...).

Design note
-----------
Everything lives in the schema `cadenza`, so a journal can share a database
with the application's own tables. The tables mirror the SQLite journal's
(`_schema`): `streams` is the current-state table, `records` the log,
`definitions` and `definition_versions` the registered bodies; `meta` holds
the schema version. One more table, `counters`, holds the last record `seq`:
each commit round adds its record count to it (`NEXT_SEQS`) inside its own
transaction, so seqs are gapless and follow commit order even with several
writers (the row lock taken by that update orders their rounds), and a
round that fails gives its seqs back with its rollback.

Creating the schema takes a transaction-scoped advisory lock first, so
several processes opening the same database at once never race on
`CREATE ... IF NOT EXISTS`; the transaction marks the schema with the DDL's
digest (`MARK_DDL`), and an open that finds its own digest there runs no
DDL at all: a process joining serving ones locks nothing.

A commit round writes each table with one statement over arrays
(`unnest`): `UPSERT_STREAMS` takes one row per stream of the round (the
round's last row for it, its latest snapshot), `INSERT_RECORDS` one row per
record. The stream row keeps its `created_order` (its first record's seq)
and its snapshot when a later row carries none, as on SQLite.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

SCHEMA_VERSION = 1
SCHEMA = "cadenza"
QUEUE_CHANNEL = "cadenza_queue"  # NOTIFY'd when tasks were posted to the shared queues
DDL_LOCK = 0x63_61_64_65_6E_7A_61  # "cadenza": the advisory lock serialising schema creation
PARTITIONS = 64  # runs hash to this many partitions, each with its lease row (fixed)


def partition_of(stream_id: str) -> int:
    """The partition of a stream: CRC32 of its id modulo `PARTITIONS`, the same everywhere."""
    return zlib.crc32(stream_id.encode()) % PARTITIONS


DDL = f"""
SELECT pg_advisory_xact_lock({DDL_LOCK});
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.streams (
    stream_id      text PRIMARY KEY,
    kind           text NOT NULL,
    version        integer NOT NULL,
    status         text NOT NULL,
    terminal       boolean NOT NULL,
    created_at     double precision NOT NULL,
    updated_at     double precision NOT NULL,
    key            text UNIQUE,
    correlation_id text,
    parent_id      text,
    priority       integer NOT NULL DEFAULT 0,
    parked         boolean NOT NULL DEFAULT false,
    wake_at        double precision,
    timers         text,
    snapshot       bytea,
    snapshot_crc   bigint,
    snapshot_seq   bigint,
    created_order  bigint NOT NULL,
    partition      integer NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.records (
    seq       bigint PRIMARY KEY,
    stream_id text NOT NULL REFERENCES {SCHEMA}.streams (stream_id),
    payload   bytea NOT NULL,
    crc       bigint NOT NULL,
    owner     text,
    epoch     bigint
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.leases (
    partition  integer PRIMARY KEY,
    owner      text,
    epoch      bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO {SCHEMA}.leases (partition)
    SELECT generate_series(0, {PARTITIONS} - 1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {SCHEMA}.members (
    owner      text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_stream ON {SCHEMA}.records (stream_id, seq);
CREATE INDEX IF NOT EXISTS streams_by_age ON {SCHEMA}.streams (created_at, created_order);
CREATE INDEX IF NOT EXISTS streams_by_kind ON {SCHEMA}.streams (kind, created_at, created_order);
CREATE INDEX IF NOT EXISTS streams_by_status
    ON {SCHEMA}.streams (status, created_at, created_order);
CREATE INDEX IF NOT EXISTS streams_by_correlation ON {SCHEMA}.streams (correlation_id)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS streams_unfinished
    ON {SCHEMA}.streams (partition, created_at, created_order) WHERE NOT terminal;
CREATE TABLE IF NOT EXISTS {SCHEMA}.definitions (
    digest        text PRIMARY KEY,
    name          text NOT NULL,
    version       integer NOT NULL,
    body          bytea NOT NULL,
    registered_at double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.definition_versions (
    name             text NOT NULL,
    version          integer NOT NULL,
    digest           text NOT NULL REFERENCES {SCHEMA}.definitions (digest),
    registered_order bigint NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.definition_order;
CREATE TABLE IF NOT EXISTS {SCHEMA}.inbox (
    id        bigserial PRIMARY KEY,
    partition integer NOT NULL,
    run_id    text NOT NULL,
    kind      text NOT NULL,
    body      text NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS inbox_by_partition ON {SCHEMA}.inbox (partition, id);
ALTER TABLE {SCHEMA}.inbox ADD COLUMN IF NOT EXISTS awaited boolean NOT NULL DEFAULT false;
ALTER TABLE {SCHEMA}.streams ADD COLUMN IF NOT EXISTS inbox_seen bigint;
CREATE TABLE IF NOT EXISTS {SCHEMA}.inbox_outcome (
    id         bigint PRIMARY KEY,
    body       text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS inbox_outcome_by_age ON {SCHEMA}.inbox_outcome (decided_at);
CREATE TABLE IF NOT EXISTS {SCHEMA}.inbox_dead (
    id        bigint PRIMARY KEY,
    partition integer NOT NULL,
    run_id    text NOT NULL,
    kind      text NOT NULL,
    body      text NOT NULL,
    awaited   boolean NOT NULL,
    posted_at timestamptz NOT NULL,
    reason    text NOT NULL,
    dead_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.queue (
    task_id     text PRIMARY KEY,
    grp         text NOT NULL,
    task_type   text NOT NULL,
    priority    integer NOT NULL,
    age         bigserial,
    run_id      text NOT NULL,
    body        text NOT NULL,
    claimed_by  text,
    lease_until timestamptz
);
ALTER TABLE {SCHEMA}.queue ADD COLUMN IF NOT EXISTS lease_s double precision;
ALTER TABLE {SCHEMA}.queue ADD COLUMN IF NOT EXISTS lapsed boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS queue_next ON {SCHEMA}.queue (grp, task_type, priority DESC, age);
ALTER TABLE {SCHEMA}.queue ADD COLUMN IF NOT EXISTS posted_at timestamptz NOT NULL DEFAULT now();
CREATE TABLE IF NOT EXISTS {SCHEMA}.queue_polls (
    grp       text NOT NULL,
    task_type text NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (grp, task_type)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.queue_claims (
    task_type text NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_claims_by_type ON {SCHEMA}.queue_claims (task_type, at);
INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')
    ON CONFLICT DO NOTHING;
INSERT INTO {SCHEMA}.counters (name, value) VALUES ('seq', 0) ON CONFLICT DO NOTHING;
"""

# The DDL's own digest, written into `meta` by the transaction that ran it: an open that
# finds it there (and the schema version) skips the DDL, which locks tables that serving
# processes write (`_postgres_connect._prepare`); a cadenza whose DDL differs runs its own.
DDL_DIGEST = hashlib.sha256(DDL.encode()).hexdigest()[:16]
FOUND_DDL = f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_ddl'"
MARK_DDL = (
    f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_ddl', '{DDL_DIGEST}') "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

OWNER_LOCK_KEY = DDL_LOCK + 1  # held by an exclusive journal's writer for its life
OWNER_LOCK = f"SELECT pg_advisory_lock({OWNER_LOCK_KEY})"
CLAIM_OWNER = (
    f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('owner_pid', $1), ('owner_host', $2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
OWNER = f"SELECT key, value FROM {SCHEMA}.meta WHERE key IN ('owner_pid', 'owner_host')"
FOUND_SCHEMA_VERSION = f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'"
HAS_SCHEMA = f"SELECT to_regclass('{SCHEMA}.meta') IS NOT NULL"

STREAM_COLUMNS = (
    "stream_id, kind, version, status, terminal, created_at, updated_at, key, "
    "correlation_id, parent_id, priority, parked, wake_at, timers"
)
# The Postgres type of each column of a commit round's stream rows, in order.
STREAM_ARRAY_TYPES = (
    "text[]", "text[]", "integer[]", "text[]", "boolean[]", "float8[]", "float8[]", "text[]",
    "text[]", "text[]", "integer[]", "boolean[]", "float8[]", "text[]",
    "bytea[]", "bigint[]", "bigint[]", "bigint[]", "integer[]", "bigint[]",
)  # fmt: skip

LAST_SEQ = f"SELECT value FROM {SCHEMA}.counters WHERE name = 'seq'"
NEXT_SEQS = f"UPDATE {SCHEMA}.counters SET value = value + $1 WHERE name = 'seq' RETURNING value"
KEY_ROWS = (
    f"SELECT stream_id, key FROM {SCHEMA}.streams "
    "WHERE key = ANY($1::text[]) OR stream_id = ANY($2::text[])"
)

_UNNEST_STREAMS = ", ".join(f"${i}::{t}" for i, t in enumerate(STREAM_ARRAY_TYPES, start=1))
UPSERT_STREAMS = f"""
INSERT INTO {SCHEMA}.streams AS s
    ({STREAM_COLUMNS}, snapshot, snapshot_crc, snapshot_seq, created_order, partition,
     inbox_seen)
SELECT * FROM unnest({_UNNEST_STREAMS})
ON CONFLICT (stream_id) DO UPDATE SET
    kind = excluded.kind, version = excluded.version, status = excluded.status,
    terminal = excluded.terminal, created_at = excluded.created_at,
    updated_at = excluded.updated_at, key = excluded.key,
    correlation_id = excluded.correlation_id, parent_id = excluded.parent_id,
    priority = excluded.priority, parked = excluded.parked, wake_at = excluded.wake_at,
    timers = excluded.timers,
    snapshot = coalesce(excluded.snapshot, s.snapshot),
    snapshot_crc = coalesce(excluded.snapshot_crc, s.snapshot_crc),
    snapshot_seq = coalesce(excluded.snapshot_seq, s.snapshot_seq),
    inbox_seen = greatest(excluded.inbox_seen, s.inbox_seen)
"""
INBOX_SEEN = (
    f"SELECT stream_id, inbox_seen FROM {SCHEMA}.streams "
    "WHERE stream_id = ANY($1::text[]) AND inbox_seen IS NOT NULL"
)
INSERT_RECORDS = (
    f"INSERT INTO {SCHEMA}.records (seq, stream_id, payload, crc, owner, epoch) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bigint[], "
    "$5::text[], $6::bigint[])"
)

_ROW = f"{STREAM_COLUMNS}, snapshot, snapshot_crc, snapshot_seq"
LOAD_ROW = f"SELECT {_ROW} FROM {SCHEMA}.streams WHERE stream_id = $1"
LOAD_RECORDS = (
    f"SELECT seq, payload, crc FROM {SCHEMA}.records WHERE stream_id = $1 AND seq > $2 ORDER BY seq"
)
LOAD_ROWS_IN = f"SELECT {_ROW} FROM {SCHEMA}.streams WHERE stream_id = ANY($1::text[])"
LOAD_RECORDS_IN = (
    f"SELECT r.stream_id, r.seq, r.payload, r.crc FROM {SCHEMA}.records r "
    f"JOIN {SCHEMA}.streams s USING (stream_id) "
    "WHERE r.stream_id = ANY($1::text[]) AND r.seq > coalesce(s.snapshot_seq, 0) ORDER BY r.seq"
)
INFO = f"SELECT {STREAM_COLUMNS} FROM {SCHEMA}.streams WHERE stream_id = $1"
FIND_KEY = f"SELECT stream_id FROM {SCHEMA}.streams WHERE key = $1"
UNFINISHED_ROWS = (
    f"SELECT {STREAM_COLUMNS} FROM {SCHEMA}.streams WHERE NOT terminal "
    "ORDER BY created_at, created_order"
)
UNFINISHED = (
    f"SELECT stream_id FROM {SCHEMA}.streams WHERE NOT terminal ORDER BY created_at, created_order"
)
_IN_PARTITIONS = "WHERE NOT terminal AND partition = ANY($1::integer[])"
UNFINISHED_ROWS_IN = (
    f"SELECT {STREAM_COLUMNS} FROM {SCHEMA}.streams {_IN_PARTITIONS} "
    "ORDER BY created_at, created_order"
)
UNFINISHED_IN = (
    f"SELECT stream_id FROM {SCHEMA}.streams {_IN_PARTITIONS} ORDER BY created_at, created_order"
)

# Leases (see `_postgres_leases`): all on the database's clock.
# A writer's round holds this lock shared on each of its partitions until it commits; an
# acquisition takes it exclusively, without waiting (two int4 keys: apart from OWNER_LOCK).
LEASE_LOCK = 0x6364  # "cd"
LOCK_LEASES_SHARED = (
    f"SELECT count(pg_advisory_xact_lock_shared({LEASE_LOCK}, p)) FROM unnest($1::integer[]) AS p"
)
READ_LEASES = (
    f"SELECT partition, owner, epoch FROM {SCHEMA}.leases WHERE partition = ANY($1::integer[])"
)
ACQUIRE = f"""
UPDATE {SCHEMA}.leases SET owner = $1, epoch = epoch + 1,
    expires_at = now() + make_interval(secs => $2)
WHERE partition IN (
    SELECT partition FROM {SCHEMA}.leases
    WHERE partition = ANY($3::integer[]) AND (owner IS NULL OR expires_at < now())
        AND pg_try_advisory_xact_lock({LEASE_LOCK}, partition)
    ORDER BY partition LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING partition, epoch
"""
RENEW = (
    f"UPDATE {SCHEMA}.leases SET expires_at = now() + make_interval(secs => $2) "
    "WHERE owner = $1 AND partition = ANY($3::integer[]) RETURNING partition, epoch"
)
HEARTBEAT = (
    f"INSERT INTO {SCHEMA}.members (owner, expires_at) "
    "VALUES ($1, now() + make_interval(secs => $2)) "
    "ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at"
)
LIVE_MEMBERS = f"SELECT owner FROM {SCHEMA}.members WHERE expires_at > now() ORDER BY owner"
LEAVE = f"DELETE FROM {SCHEMA}.members WHERE owner = $1"
NEXT_EXPIRY = (  # seconds until the first lease another member holds runs out, or NULL
    f"SELECT extract(epoch FROM min(expires_at) - now())::float8 FROM {SCHEMA}.leases "
    "WHERE owner IS NOT NULL AND owner <> $1 AND expires_at > now()"
)
RELEASE = (
    f"UPDATE {SCHEMA}.leases SET owner = NULL, expires_at = '-infinity' "
    "WHERE owner = $1 AND partition = ANY($2::integer[])"
)

PUT_BODY = (
    f"INSERT INTO {SCHEMA}.definitions (digest, name, version, body, registered_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING"
)
CURRENT_DIGEST = f"SELECT digest FROM {SCHEMA}.definition_versions WHERE name = $1 AND version = $2"
PUT_VERSION = (
    f"INSERT INTO {SCHEMA}.definition_versions (name, version, digest, registered_order) "
    f"VALUES ($1, $2, $3, nextval('{SCHEMA}.definition_order')) "
    "ON CONFLICT (name, version) DO UPDATE SET "
    "digest = excluded.digest, registered_order = excluded.registered_order"
)
REGISTERED_AT = f"SELECT registered_at FROM {SCHEMA}.definitions WHERE digest = $1"
DEFINITIONS = (
    "SELECT v.name, v.version, v.digest, d.body, d.registered_at "
    f"FROM {SCHEMA}.definition_versions AS v JOIN {SCHEMA}.definitions AS d USING (digest) "
    "ORDER BY v.registered_order"
)
DEFINITION_BY_DIGEST = (
    f"SELECT name, version, body, registered_at FROM {SCHEMA}.definitions WHERE digest = $1"
)


def streams_query(
    *,
    kind: str | None,
    status: str | None,
    correlation_id: str | None,
    terminal: bool | None,
    limit: int,
) -> tuple[str, tuple[Any, ...]]:
    """The `streams()` query and its parameters: given filters, newest first."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("kind", kind),
        ("status", status),
        ("correlation_id", correlation_id),
        ("terminal", terminal),
    ):
        if value is not None:
            params.append(value)
            where.append(f"{column} = ${len(params)}")
    query = f"SELECT {STREAM_COLUMNS} FROM {SCHEMA}.streams"
    if where:
        query += " WHERE " + " AND ".join(where)
    params.append(limit)
    query += f" ORDER BY created_at DESC, created_order DESC LIMIT ${len(params)}"
    return query, tuple(params)
