"""Write an audit export (see :mod:`vault.audit.export_format`) from the live log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec

from vault.audit import export_format as layout
from vault.audit.checkpoint import VerifierKey
from vault.audit.entry import Actor, AuditEvent, Resource
from vault.audit.log import AuditLog
from vault.canonical import timestamp

PAGE = 5000


class ExportSummary(msgspec.Struct, frozen=True, kw_only=True):
    directory: str
    entries: int
    checkpoints: int
    head: str  # hex hash of the last entry


async def export_audit(
    log: AuditLog,
    verifier_keys: list[VerifierKey],
    directory: Path,
    actor: Actor,
    now: Callable[[], datetime],
) -> ExportSummary:
    """Export every entry up to a checkpoint signed now, with all checkpoints and verifier keys.

    The export itself is audited first, so it appears in the export.
    """
    directory.mkdir(parents=True, exist_ok=True)
    await log.record(AuditEvent(
        action="audit.exported", actor=actor, resource=Resource(type="audit_log", id=log.origin),
        details={"directory": directory.name},
    ))
    final = await log.checkpoint()
    entries = 0
    with (directory / layout.ENTRIES).open("w", encoding="utf-8") as out:
        while entries < final.size:
            page = await log.store.entries(after_seq=entries, limit=min(PAGE, final.size - entries))
            for entry in page:
                out.write(json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n")
            entries += len(page)
    checkpoints = 0
    with (directory / layout.CHECKPOINTS).open("w", encoding="utf-8") as out:
        after = -1
        while True:
            page = [c for c in await log.store.checkpoints(after_size=after, limit=PAGE) if c.size <= final.size]
            for checkpoint in page:
                out.write(json.dumps({"size": checkpoint.size, "note": checkpoint.note}, ensure_ascii=False) + "\n")
            checkpoints += len(page)
            if len(page) < PAGE:
                break
            after = page[-1].size
    (directory / layout.VERIFIER_KEYS).write_text("".join(k.encode() + "\n" for k in verifier_keys), encoding="utf-8")
    manifest = {
        "format": layout.FORMAT,
        "origin": log.origin,
        "exported_at": timestamp(now()),
        "entries": entries,
        "checkpoints": checkpoints,
    }
    (directory / layout.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ExportSummary(directory=str(directory), entries=entries, checkpoints=checkpoints, head=final.head.hex())
