"""Idempotency keys: who holds which key, replayed one record at a time.

A stream's row carries at most one key, and a key belongs to at most one
stream. Each append sets its stream's key to `info.key` (None releases it).
`KeyLedger.claim` replays that rule in append order, so a batch in which one
stream releases a key and a later append of another stream takes it is
accepted, and an append whose key another stream holds is refused alone,
without touching the ledger.
"""

from __future__ import annotations

from cadenza.persistence._journal import DuplicateKey


class KeyLedger:
    """Key ownership as of some point, updated by `claim` in append order.

    `holders` maps key → stream and `keys_of` stream → key; for a batch they
    need only be seeded with the keys and streams the batch mentions.
    """

    def __init__(self, holders: dict[str, str], keys_of: dict[str, str | None]):
        self.holders = holders
        self.keys_of = keys_of

    def claim(self, stream_id: str, key: str | None) -> DuplicateKey | None:
        """Give `stream_id` the key `key`, or say who holds it already (no change then)."""
        if key is not None:
            holder = self.holders.get(key)
            if holder is not None and holder != stream_id:
                return DuplicateKey(key, holder)
        old = self.keys_of.get(stream_id)
        if old is not None and old != key:
            self.holders.pop(old, None)
        if key is not None:
            self.holders[key] = stream_id
        self.keys_of[stream_id] = key
        return None
