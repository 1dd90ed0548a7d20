"""The audit hash chain: canonical form, record hashes, checkpoint messages and verification.

Pure logic: no I/O, no clock, no keys. The rules, so that anyone can re-check an export offline:

- ``canonical(record)`` is the JSON object of its content (sequence, at, action, outcome, actor,
  subject, reason, source_address, user_agent, request_id, details) with keys sorted, separators
  ``,`` and ``:``, non-ASCII characters kept and the whole encoded as UTF-8; ``at`` is ISO-8601 UTC
  with microseconds (``2026-01-15T08:00:00.000000Z``); ``details`` an object of strings.
- ``hash(n) = SHA-256(prev_hash || canonical(n))`` in lowercase hex, where ``prev_hash`` is
  ``hash(n - 1)`` as its 64 ASCII hex characters (``GENESIS_HASH`` for record 1).
- A checkpoint signs ``CHECKPOINT_CONTEXT || {"at","hash","kind","sequence"}`` (same JSON rules).
  The kind is signed because a purge checkpoint is where verification may legitimately start.

What the chain cannot prove: it is not keyed, so someone able to write to the database can append
well-formed records after the head, and can delete or rewrite records after the latest signed
checkpoint without trace. Checkpoints bound that window (see ``services.audit``).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from json.encoder import encode_basestring
from typing import NamedTuple

from quivive.domain.audit import AuditEvent

GENESIS_HASH = "0" * 64
CHECKPOINT_CONTEXT = b"quivive-audit-checkpoint-v1\n"

# Caps in characters. An over-long value is cut, never refused: a strange user agent must not make
# an audit append (and with it a clinician's sign-in record) fail. Sized for the columns.
FIELD_LIMITS: Mapping[str, int] = {
    "action": 64,
    "outcome": 16,
    "actor": 256,
    "subject": 256,
    "reason": 64,
    "source_address": 64,  # an IPv6 address with zone fits in 64
    "user_agent": 512,
    "request_id": 128,
}
MAX_DETAILS = 32
MAX_DETAIL_KEY = 64
MAX_DETAIL_VALUE = 512

# On a break, this many following records are read to tell a deletion from a reordering.
LOOKAHEAD = 1000
# How far from its position a moved record's original sequence number is searched.
MAX_SHIFT = 64


class ChainRecord(NamedTuple):
    """One stored record; field order is the storage column order."""

    sequence: int
    at: str  # canonical time text, exactly as hashed
    action: str
    outcome: str
    actor: str | None
    subject: str | None
    reason: str | None
    source_address: str | None
    user_agent: str | None
    request_id: str | None
    details: str  # canonical JSON object text, exactly as hashed
    prev_hash: str
    hash: str


class CheckpointKind(enum.StrEnum):
    PERIODIC = "periodic"  # every N records or T seconds of appends
    MANUAL = "manual"  # `quivive audit checkpoint`
    PURGE = "purge"  # the last purged record: verification starts after it


class Checkpoint(NamedTuple):
    sequence: int
    hash: str
    at: str
    kind: CheckpointKind
    signature: bytes


class ChainPosition(NamedTuple):
    sequence: int
    hash: str


START = ChainPosition(0, GENESIS_HASH)


class Breakage(enum.StrEnum):
    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    BAD_CHECKPOINT = "bad checkpoint"


@dataclass(frozen=True, slots=True)
class Verdict:
    checked: int  # records whose hash and link were checked
    head: ChainPosition  # last good record
    breakage: Breakage | None = None
    sequence: int | None = None  # the first broken record
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.breakage is None

    @property
    def message(self) -> str:
        if self.breakage is None:
            return f"chain intact: {self.checked} records checked"
        return f"record {self.sequence}: {self.breakage.value}: {self.detail}"


# --- canonical form -------------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime in an audit record; use aware UTC")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def canonical_json(value: Mapping[str, object]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_content(record: ChainRecord, sequence: int | None = None) -> str:
    """``canonical_json`` of the content, built by hand: verification hashes 100,000 records/s.

    ``sequence`` overrides the record's own, to recognise a record moved from elsewhere.
    """
    (number, at, action, outcome, actor, subject, reason, source, agent, request, details, _, _) = (
        record
    )
    if sequence is not None:
        number = sequence
    quote = encode_basestring  # JSON string with escapes, non-ASCII kept (C implementation)
    return (
        f'{{"action":{quote(action)},"actor":{"null" if actor is None else quote(actor)},'
        f'"at":{quote(at)},"details":{details},"outcome":{quote(outcome)},'
        f'"reason":{"null" if reason is None else quote(reason)},'
        f'"request_id":{"null" if request is None else quote(request)},"sequence":{number},'
        f'"source_address":{"null" if source is None else quote(source)},'
        f'"subject":{"null" if subject is None else quote(subject)},'
        f'"user_agent":{"null" if agent is None else quote(agent)}}}'
    )


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def record_hash(record: ChainRecord, sequence: int | None = None) -> str:
    return chain_hash(record.prev_hash, canonical_content(record, sequence))


# --- sealing an event -----------------------------------------------------------------------------


def _clean(value: str, limit: int) -> str:
    # Lone surrogates cannot be encoded as UTF-8; replacing beats losing the record.
    cut = value[:limit]
    return cut.encode("utf-8", "replace").decode("utf-8")


def _field(name: str, value: str | None) -> str | None:
    return None if value is None else _clean(value, FIELD_LIMITS[name])


def _details(details: Mapping[str, str]) -> str:
    kept = sorted(details.items())[:MAX_DETAILS]
    return canonical_json(
        {_clean(key, MAX_DETAIL_KEY): _clean(str(value), MAX_DETAIL_VALUE) for key, value in kept}
    )


def seal(event: AuditEvent, after: ChainPosition) -> ChainRecord:
    """The record that follows ``after``: fields capped, hash computed."""
    unsealed = ChainRecord(
        sequence=after.sequence + 1,
        at=format_time(event.at),
        action=_clean(event.action, FIELD_LIMITS["action"]),
        outcome=_clean(event.outcome.value, FIELD_LIMITS["outcome"]),
        actor=_field("actor", event.actor),
        subject=_field("subject", event.subject),
        reason=_field("reason", event.reason),
        source_address=_field("source_address", event.source_address),
        user_agent=_field("user_agent", event.user_agent),
        request_id=_field("request_id", event.request_id),
        details=_details(event.details),
        prev_hash=after.hash,
        hash="",
    )
    return unsealed._replace(hash=record_hash(unsealed))


def to_json(record: ChainRecord) -> str:
    """One JSON Lines export line: every stored field, ``details`` as an object."""
    fields: dict[str, object] = record._asdict()
    fields["details"] = json.loads(record.details)
    return canonical_json(fields)


def from_json(line: str) -> ChainRecord:
    """The record an export line came from, ready for ``verify_chain``."""
    fields = json.loads(line)
    fields["details"] = canonical_json(fields["details"])
    return ChainRecord(**fields)


def checkpoint_message(sequence: int, hash_: str, at: str, kind: CheckpointKind) -> bytes:
    body = canonical_json({"at": at, "hash": hash_, "kind": kind.value, "sequence": sequence})
    return CHECKPOINT_CONTEXT + body.encode()


# --- verification ---------------------------------------------------------------------------------

SignatureCheck = Callable[[bytes, bytes], bool]  # (message, signature) -> valid


def split_checkpoints(
    checkpoints: Iterable[Checkpoint], is_valid: SignatureCheck
) -> tuple[list[Checkpoint], list[Checkpoint]]:
    """(correctly signed, forged or foreign) checkpoints."""
    good: list[Checkpoint] = []
    bad: list[Checkpoint] = []
    for point in checkpoints:
        message = checkpoint_message(point.sequence, point.hash, point.at, point.kind)
        (good if is_valid(message, point.signature) else bad).append(point)
    return good, bad


def starting_point(checkpoints: Iterable[Checkpoint]) -> ChainPosition:
    """Where verification starts: after the latest purge, else at the genesis."""
    purges = [point for point in checkpoints if point.kind is CheckpointKind.PURGE]
    if not purges:
        return START
    last = max(purges, key=lambda point: point.sequence)
    return ChainPosition(last.sequence, last.hash)


def verify_chain(
    records: Iterable[ChainRecord], start: ChainPosition, checkpoints: Sequence[Checkpoint]
) -> Verdict:
    """Check links, hashes and signed checkpoints of records in sequence order, after ``start``.

    ``checkpoints`` must already be signature-checked (``split_checkpoints``).
    """
    pins = {point.sequence: point.hash for point in checkpoints if point.sequence > start.sequence}
    expected, prev_hash, before_prev = start.sequence + 1, start.hash, ""
    stream = iter(records)
    sha256 = hashlib.sha256
    for record in stream:
        if (
            record.sequence != expected
            or record.prev_hash != prev_hash
            or sha256((prev_hash + canonical_content(record)).encode()).hexdigest() != record.hash
        ):
            window = [record, *islice(stream, LOOKAHEAD)]
            return _diagnose(window, expected, prev_hash, before_prev, start)
        pinned = pins.get(expected)
        if pinned is not None and pinned != record.hash:
            return _rewritten(record, pins, start)
        before_prev, prev_hash = prev_hash, record.hash
        expected += 1
    head = ChainPosition(expected - 1, prev_hash)
    checked = head.sequence - start.sequence
    last_pin = max(pins, default=0)
    if last_pin >= expected:
        missing = _span(expected, last_pin)
        detail = f"{missing} missing: the chain ends at {head.sequence} but a signed checkpoint "
        return Verdict(checked, head, Breakage.TRUNCATED, expected, detail + f"covers {last_pin}")
    return Verdict(checked, head)


def _span(first: int, last: int) -> str:
    return f"record {first} is" if first == last else f"records {first} to {last} are"


def _rewritten(record: ChainRecord, pins: Mapping[int, str], start: ChainPosition) -> Verdict:
    earlier = [sequence for sequence in pins if sequence < record.sequence]
    after = max(earlier, default=start.sequence)
    detail = (
        "differs from its signed checkpoint: records after "
        f"{after} were rewritten with recomputed hashes"
    )
    head = ChainPosition(record.sequence - 1, record.prev_hash)
    return Verdict(head.sequence - start.sequence, head, Breakage.MODIFIED, record.sequence, detail)


def _diagnose(
    window: list[ChainRecord],
    expected: int,
    prev_hash: str,
    before_prev: str,
    start: ChainPosition,
) -> Verdict:
    kind, sequence, detail = _classify(window, expected, prev_hash, before_prev)
    head = ChainPosition(expected - 1, prev_hash)
    return Verdict(head.sequence - start.sequence, head, kind, sequence, detail)


def _classify(
    window: list[ChainRecord], expected: int, prev_hash: str, before_prev: str
) -> tuple[Breakage, int, str]:
    record = window[0]
    if record.sequence > expected:
        return Breakage.DELETED, expected, f"{_span(expected, record.sequence - 1)} missing"
    origin = _original_sequence(window)
    later = [other.sequence for other in window[1:] if other.hash == record.prev_hash]
    if later:
        moved = f"record {origin}" if origin else f"a record that followed {later[0]}"
        return Breakage.REORDERED, expected, f"it holds {moved}, moved from its place"
    if len(window) > 1 and window[1].prev_hash == prev_hash:
        return Breakage.INSERTED, expected, f"record {expected + 1} links past it"
    if record.prev_hash == prev_hash:
        return Breakage.MODIFIED, expected, "its content no longer matches its hash"
    if before_prev and record.prev_hash == before_prev:
        return Breakage.INSERTED, expected - 1, f"record {expected} links past it"
    if origin is not None and origin > expected:
        detail = (
            f"{_span(expected, origin - 1)} missing and later records were renumbered "
            f"(record {expected} was {origin})"
        )
        return Breakage.DELETED, expected, detail
    if origin is not None and origin < expected:
        return Breakage.INSERTED, expected, f"records were inserted before it (it was {origin})"
    if origin == expected and before_prev:
        detail = f"record {expected} does not link to it: rewritten with a recomputed hash"
        return Breakage.MODIFIED, expected - 1, detail
    return (
        Breakage.MODIFIED,
        expected,
        "it neither links to the previous record nor matches its hash",
    )


def _original_sequence(window: list[ChainRecord]) -> int | None:
    """The sequence number the first record's hash was computed with, if it can be found."""
    record = window[0]
    candidates = [other.sequence + 1 for other in window if other.hash == record.prev_hash]
    nearby = range(max(1, record.sequence - MAX_SHIFT), record.sequence + MAX_SHIFT)
    for sequence in _unique([*candidates, *nearby]):
        if record_hash(record, sequence) == record.hash:
            return sequence
    return None


def _unique(values: Iterable[int]) -> Iterator[int]:
    seen: set[int] = set()
    for value in values:
        if value not in seen:
            seen.add(value)
            yield value
