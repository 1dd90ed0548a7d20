"""The audit trail: appends events to the hash chain, signs checkpoints, verifies, exports, purges.

Checkpoint policy, and the limit it bounds: a record after the latest signed checkpoint can be
deleted (tail truncation) or rewritten without trace by someone who can write to the database.
So a checkpoint is signed every ``CHECKPOINT_EVERY_RECORDS`` records, at the first append once
``CHECKPOINT_EVERY`` has passed since the last one, before every purge, and on demand
(``quivive audit checkpoint``, e.g. from a timer: appends alone leave the records of a quiet
few minutes unsigned until the next append).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink
from quivive.domain.audit_chain import (
    START,
    Breakage,
    ChainPosition,
    ChainRecord,
    Checkpoint,
    CheckpointKind,
    SignatureCheck,
    Verdict,
    checkpoint_message,
    format_time,
    parse_time,
    seal,
    split_checkpoints,
    starting_point,
    verify_chain,
)
from quivive.services.group_commit import GroupCommit
from quivive.storage.audit import AuditRepository, LockedChain
from quivive.storage.data_dir import load_or_create_key
from quivive.storage.unit_of_work import after_commit, in_unit_of_work

log = logging.getLogger("quivive.audit")

SIGNING_KEY_FILE = "audit-signing.key"
ED25519_KEY_BYTES = 32
# A checkpoint per 1,000 records or per 5 minutes of activity bounds undetectable tail truncation
# to that much. Shorter would not be free: verification checks every checkpoint's signature
# (~60 µs each), and 5 minutes keeps a busy year of retention near 100,000 of them.
CHECKPOINT_EVERY_RECORDS = 1000
CHECKPOINT_EVERY = timedelta(minutes=5)


class CheckpointSigner:
    """Ed25519 over checkpoint messages; the public key lets anyone verify offline."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> CheckpointSigner:
        raw = load_or_create_key(data_dir / SIGNING_KEY_FILE, ED25519_KEY_BYTES)
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def public_pem(self) -> str:
        return public_pem(self.public_key)


def public_pem(key: Ed25519PublicKey) -> str:
    encoded = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encoded.decode("ascii")


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signature_check(key: Ed25519PublicKey) -> SignatureCheck:
    def is_valid(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return is_valid


@dataclass(frozen=True, slots=True)
class VerifyReport:
    verdict: Verdict
    last_checkpoint: Checkpoint | None
    start: ChainPosition

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def message(self) -> str:
        return self.verdict.message


@dataclass(frozen=True, slots=True)
class PurgeResult:
    deleted: int
    checkpoint: Checkpoint | None  # the purge point verification now starts from


class AuditTrail:
    def __init__(self, repository: AuditRepository, signer: CheckpointSigner, clock: Clock) -> None:
        self._repository = repository
        self._signer = signer
        self._clock = clock
        self._group = GroupCommit(self._write)
        # Other processes only ever add checkpoints, so a stale copy errs towards "due" and is then
        # re-read under the lock: it saves a query per append, never a checkpoint.
        self._last_checkpoint: Checkpoint | None = None

    def append(self, event: AuditEvent) -> ChainRecord:
        """Append durably: returns once the record is committed (shared with concurrent callers)."""
        return self._group.submit(event)

    def append_all(self, events: Sequence[AuditEvent]) -> list[ChainRecord]:
        """Append ``events`` in order, durably, in one transaction (shared as ``append``'s)."""
        return self._group.submit_all(events)

    def append_in_unit(self, events: Sequence[AuditEvent]) -> list[ChainRecord]:
        """Append ``events`` in the open unit of work's transaction, under the chain lock held
        until the unit ends: committed with the unit (one commit for the step and its records),
        never if it rolls back. Not shared with other callers: the unit is this thread's."""
        with self._repository.locked_in_unit() as chain:
            records, point = self._append_locked(chain, events)
        if point is not None:
            # Kept only once committed: a rolled-back checkpoint must not look like the last one.
            self._last_checkpoint = None
            after_commit(partial(setattr, self, "_last_checkpoint", point))
        return records

    def _write(self, events: Sequence[AuditEvent]) -> list[ChainRecord]:
        with self._repository.locked() as chain:
            records, point = self._append_locked(chain, events)
        if point is not None:
            self._last_checkpoint = point
        return records

    def _append_locked(
        self, chain: LockedChain, events: Sequence[AuditEvent]
    ) -> tuple[list[ChainRecord], Checkpoint | None]:
        """Seal and insert ``events`` after the head; the periodic checkpoint made, if one was."""
        position = chain.head() or START
        records: list[ChainRecord] = []
        for event in events:
            record = seal(event, position)
            records.append(record)
            position = ChainPosition(record.sequence, record.hash)
        chain.insert(records)
        if not self._checkpoint_due(chain, records[-1]):
            return records, None
        point = self._sign(records[-1], CheckpointKind.PERIODIC)
        chain.add_checkpoint(point)
        return records, point

    def checkpoint(self, kind: CheckpointKind = CheckpointKind.MANUAL) -> Checkpoint | None:
        """Sign the current head; None when the chain is empty."""
        with self._repository.locked() as chain:
            head = chain.head()
            if head is None:
                return None
            point = self._sign(head, kind)
            chain.add_checkpoint(point)
        return point

    def verify(self, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
        checkpoints = self._repository.checkpoints()
        key = public_key or self._signer.public_key
        good, bad = split_checkpoints(checkpoints, signature_check(key))
        start = starting_point(good)
        with self._repository.records(after=start.sequence) as records:
            verdict = verify_chain(records, start, good)
        if verdict.ok and bad:
            verdict = _bad_checkpoint(verdict, bad[0])
        last = max(good, key=lambda point: (point.sequence, point.at), default=None)
        return VerifyReport(verdict, last, start)

    def purge(self, before: datetime) -> PurgeResult:
        """Delete records older than ``before``, after signing where verification will start."""
        with self._repository.locked() as chain:
            head = chain.head()
            boundary = chain.position_before(format_time(before))
            if head is None or boundary is None:
                return PurgeResult(0, None)
            chain.add_checkpoint(self._sign(head, CheckpointKind.MANUAL))
            point = self._sign(boundary, CheckpointKind.PURGE)
            chain.add_checkpoint(point)
            deleted = chain.delete_through(boundary.sequence)  # and the checkpoints before it
        log.info("audit records purged through %d (%d deleted)", boundary.sequence, deleted)
        return PurgeResult(deleted, point)

    def public_pem(self) -> str:
        return self._signer.public_pem()

    def latest(self, count: int) -> list[ChainRecord]:
        return self._repository.latest(count)

    @contextmanager
    def export(self, since: datetime | None = None) -> Iterator[Iterator[ChainRecord]]:
        at = None if since is None else format_time(since)
        with self._repository.records(since=at) as records:
            yield records

    def _checkpoint_due(self, chain: LockedChain, record: ChainRecord) -> bool:
        if self._last_checkpoint is None or _due(self._last_checkpoint, record):
            self._last_checkpoint = chain.last_checkpoint()
            return self._last_checkpoint is None or _due(self._last_checkpoint, record)
        return False

    def _sign(self, position: ChainPosition | ChainRecord, kind: CheckpointKind) -> Checkpoint:
        at = format_time(self._clock.now())
        message = checkpoint_message(position.sequence, position.hash, at, kind)
        return Checkpoint(position.sequence, position.hash, at, kind, self._signer.sign(message))


def _due(last: Checkpoint, record: ChainRecord) -> bool:
    if record.sequence - last.sequence >= CHECKPOINT_EVERY_RECORDS:
        return True
    return record.at >= format_time(parse_time(last.at) + CHECKPOINT_EVERY)


def _bad_checkpoint(verdict: Verdict, point: Checkpoint) -> Verdict:
    detail = "a checkpoint at it is not signed by this server's key (forged, or the key changed)"
    return Verdict(verdict.checked, verdict.head, Breakage.BAD_CHECKPOINT, point.sequence, detail)


class ChainedAuditSink:
    """The default ``AuditSink``: appends to the chain and never lets a failure escape.

    Availability first: if the database is down, a clinician must still be able to sign in, so a
    failed append is logged and the caller carries on. The log line names the action and the
    driver's first line, never the statement's parameters.

    Inside a unit of work (``storage.unit_of_work``) an event is appended in the unit's own
    transaction: committed with the step it records, never if the step rolls back (what was
    rolled back did not happen). Outside one, appends share group commits with other callers.
    ``observe``, when given, receives each append's time, once per event, wherever it happens.
    """

    def __init__(
        self, trail: AuditTrail, *, observe: Callable[[float], None] | None = None
    ) -> None:
        self._trail = trail
        self._observe = observe

    def record(self, event: AuditEvent) -> None:
        gathered = _GATHERED.get()
        if gathered is not None:
            gathered.append((self, event))
        elif in_unit_of_work():
            self._append(self._trail.append_in_unit, [event])
        else:
            self.append_all([event])

    def append_all(self, events: Sequence[AuditEvent]) -> None:
        self._append(self._trail.append_all, events)

    def _append(
        self,
        append: Callable[[Sequence[AuditEvent]], list[ChainRecord]],
        events: Sequence[AuditEvent],
    ) -> None:
        started = time.perf_counter()
        try:
            append(events)
        except Exception as exc:  # any failure: the sign-in it records must still go through
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
            # A batch (record_together) loses all its records at once: say how many, and whose.
            log.error(
                "audit append failed for %d record(s) (%s; subjects %s): %s %s",
                len(events),
                ", ".join(sorted({event.action for event in events})),
                ", ".join(sorted({event.subject or "-" for event in events})[:MAX_LOGGED_SUBJECTS]),
                type(exc).__name__,
                reason[0] if reason else "",
            )
        if self._observe is not None:
            elapsed = time.perf_counter() - started
            for _ in events:
                self._observe(elapsed)


MAX_LOGGED_SUBJECTS = 20  # in the log line of a failed batch; the count says if there were more

# Set while ``record_together`` runs: what reaches a ``ChainedAuditSink`` is gathered there.
_GATHERED: ContextVar[list[tuple[ChainedAuditSink, AuditEvent]] | None] = ContextVar(
    "quivive_audit_gathered", default=None
)


def record_together(sink: AuditSink, events: Sequence[AuditEvent]) -> None:
    """``sink.record`` each event, but append them to the chain in one transaction, not one each.

    The events go through every decorator of ``sink`` as usual; the chain at its end only
    gathers them, and they are appended together once all went through. Returns once they are
    committed, like ``record``; a failed append is logged, like ``record``'s.
    """
    gathered: list[tuple[ChainedAuditSink, AuditEvent]] = []
    token = _GATHERED.set(gathered)
    try:
        for event in events:
            sink.record(event)
    finally:
        _GATHERED.reset(token)
    for chain in dict.fromkeys(chain for chain, _ in gathered):  # one, but for tests
        chain.append_all([event for owner, event in gathered if owner is chain])
