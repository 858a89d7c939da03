"""The vault's audit log: group-committed appends and signed checkpoints.

Concurrent :meth:`AuditLog.record` calls are gathered into one transaction
(group commit, :mod:`vault.batching`): while one batch is being written the
next ones queue, so a busy vault writes many entries per commit instead of one,
and every caller still returns only after its entry is durable. A batch that
fails is retried caller by caller, so one bad event fails only its own caller.

A checkpoint (see :mod:`vault.audit.checkpoint`) is signed with the HSM audit
key whenever ``checkpoint_every`` entries have been added since the last one,
and by :meth:`AuditLog.run_checkpoints` every ``interval`` seconds if anything
was added.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from vault.audit import checkpoint as notes
from vault.audit.entry import AuditEntry, AuditEvent
from vault.audit.store import PostgresAuditStore, StoredCheckpoint
from vault.batching import GroupCommit
from vault.db import SHARED_FAILURES
from vault.errors import KeyStateError

log = logging.getLogger("bursar.vault.audit")


class CheckpointSigner(Protocol):
    """Signs checkpoint notes with the active audit key (on the HSM)."""

    async def sign_note(self, checkpoint: notes.Checkpoint) -> tuple[int, str]:
        """``(key version, signed note)``; raises if no audit key is active."""
        ...


class AuditLog:
    def __init__(
        self,
        store: PostgresAuditStore,
        now: Callable[[], datetime],
        *,
        origin: str,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        self.store = store
        self.origin = origin
        self._now = now
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self._appends: GroupCommit[list[AuditEvent], list[AuditEntry]] = GroupCommit(
            self._append, shared_failures=SHARED_FAILURES
        )
        self._last_checkpoint: int | None = None
        self._checkpointing: asyncio.Task[None] | None = None

    async def record(self, event: AuditEvent) -> AuditEntry:
        """Append ``event``; returns once its entry is committed."""
        (entry,) = await self.record_many([event])
        return entry

    async def record_many(self, events: list[AuditEvent]) -> list[AuditEntry]:
        """Append ``events`` (consecutively); returns once their entries are committed."""
        return await self._appends.submit(events) if events else []

    async def _append(self, groups: list[list[AuditEvent]]) -> list[list[AuditEntry]]:
        """One transaction for the events of every caller in the batch."""
        entries = await self.store.append([event for group in groups for event in group], self._now())
        self._maybe_checkpoint(entries[-1].seq)
        grouped, offset = [], 0
        for group in groups:
            grouped.append(entries[offset : offset + len(group)])
            offset += len(group)
        return grouped

    def _maybe_checkpoint(self, size: int) -> None:
        if self._signer is None or (self._checkpointing and not self._checkpointing.done()):
            return
        if self._last_checkpoint is not None and size - self._last_checkpoint < self._checkpoint_every:
            return
        self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint_quietly())

    async def _checkpoint_quietly(self) -> None:
        try:
            await self.checkpoint()
        except KeyStateError:  # no audit key yet: the first key ceremony creates it
            log.debug("no active audit key: checkpoint deferred")
        except Exception as exc:  # the log itself is intact; the next attempt will cover this
            log.warning("audit checkpoint failed: %s", exc.__class__.__name__)

    async def checkpoint(self) -> StoredCheckpoint:
        """Sign and store a checkpoint of the current head, unless the latest one already covers it."""
        if self._signer is None:
            raise RuntimeError("this audit log has no checkpoint signer")
        size, head = await self.store.head()
        latest = await self.store.latest_checkpoint()
        self._last_checkpoint = latest.size if latest else None
        if latest is not None and latest.size == size:
            return latest
        point = notes.Checkpoint(origin=self.origin, size=size, head=head, at=self._now())
        version, note = await self._signer.sign_note(point)
        stored = StoredCheckpoint(size, head, point.at, version, note)
        if not await self.store.save_checkpoint(stored):
            stored = await self.store.latest_checkpoint() or stored
        self._last_checkpoint = stored.size
        return stored

    async def drain(self) -> None:
        """Wait for a checkpoint in progress (call before closing the database)."""
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)

    async def run_checkpoints(self, interval: float) -> None:
        """Checkpoint every ``interval`` seconds when entries were added (a background task)."""
        while True:
            await asyncio.sleep(interval)
            if self._signer is None:
                continue
            try:
                size, _ = await self.store.head()
                if self._last_checkpoint is None or size > self._last_checkpoint:
                    await self.checkpoint()
            except Exception as exc:
                log.warning("audit checkpoint failed: %s", exc.__class__.__name__)
