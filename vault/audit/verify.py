"""Offline verification of an audit export: no database, no HSM, only the export and a key.

:func:`verify_export` walks the entries oldest first, recomputing the hash
chain, then checks every signed checkpoint against the recomputed chain. It
stops at the first problem and names it and the entry where it shows:

* an edited field: the entry's contents no longer match its hash;
* a deleted entry: a gap in ``seq`` (or a broken link to the previous entry);
* an inserted or reordered entry: ``seq`` out of order, or a broken link;
* a rewritten history (hashes recomputed after an edit): the chain no longer
  matches a signed checkpoint;
* a truncation: a signed checkpoint covers more entries than the export holds
  (the export's last checkpoint is signed at export time, so it covers all).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from vault.audit import export_format as layout
from vault.audit.checkpoint import NoteError, VerifierKey, open_note, parse_verifier_key
from vault.audit.entry import GENESIS, chain_hash

_HASHED = ("seq", "at", "action", "actor", "resource", "outcome", "reason", "origin", "details")


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    entries: int = 0
    checkpoints: int = 0
    problem: str | None = None
    broken_seq: int | None = None  # the first entry where the problem shows, when there is one
    uncovered: int = 0  # entries after the last checkpoint (only a later checkpoint can vouch for them)

    def summary(self) -> str:
        if not self.valid:
            return f"INVALID: {self.problem}"
        text = f"valid: {self.entries} entries, {self.checkpoints} signed checkpoints"
        if self.uncovered:
            text += f"; the last {self.uncovered} entries are not covered by a checkpoint"
        return text


class _Broken(Exception):
    def __init__(self, problem: str, seq: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.seq = problem, seq


def load_verifier_keys(path: Path) -> list[VerifierKey]:
    """Verifier keys from a file: one ``<name>+<id>+<key>`` per line (blank lines and # ignored)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [parse_verifier_key(line) for line in lines if line.strip() and not line.startswith("#")]


def verify_export(directory: Path, verifiers: list[VerifierKey] | None = None) -> VerifyResult:
    """Verify the export in ``directory`` with ``verifiers`` (default: the export's own keys)."""
    hashes = [GENESIS]  # hashes[seq] = hash of entry seq
    checkpoints = 0
    try:
        keys = verifiers if verifiers is not None else load_verifier_keys(directory / layout.VERIFIER_KEYS)
        origin = _manifest(directory)["origin"]
        for line_no, entry in _lines(directory / layout.ENTRIES):
            hashes.append(_check_entry(line_no, entry, hashes))
        covered = 0
        for line_no, record in _lines(directory / layout.CHECKPOINTS):
            covered = max(covered, _check_checkpoint(line_no, record, origin, keys, hashes))
            checkpoints += 1
        if not checkpoints:
            raise _Broken("the export has no signed checkpoint: nothing vouches for its entries")
    except _Broken as broken:
        return VerifyResult(
            valid=False, entries=len(hashes) - 1, checkpoints=checkpoints,
            problem=broken.problem, broken_seq=broken.seq,
        )
    except (OSError, NoteError) as exc:
        return VerifyResult(valid=False, problem=str(exc))
    size = len(hashes) - 1
    return VerifyResult(valid=True, entries=size, checkpoints=checkpoints, uncovered=size - covered)


def _check_entry(line_no: int, entry: dict[str, Any], hashes: list[bytes]) -> bytes:
    expected = len(hashes)
    seq = entry.get("seq")
    if not isinstance(seq, int):
        raise _Broken(f"line {line_no} of {layout.ENTRIES} has no entry number", expected)
    if seq > expected:
        raise _Broken(
            f"entry {expected} is missing: line {line_no} holds entry {seq} (deleted or reordered)",
            expected,
        )
    if seq < expected:
        raise _Broken(
            f"line {line_no} holds entry {seq} again after entry {expected - 1} (inserted or reordered)",
            seq,
        )
    try:
        body = {field: entry[field] for field in _HASHED}
        prev_hash, stated = bytes.fromhex(entry["prev_hash"]), bytes.fromhex(entry["hash"])
    except (KeyError, ValueError, TypeError):
        raise _Broken(f"entry {seq} is incomplete or malformed", seq) from None
    if len(entry) != len(_HASHED) + 2:
        raise _Broken(f"entry {seq} carries fields that are not part of the hashed record", seq)
    if prev_hash != hashes[seq - 1]:
        raise _Broken(
            f"entry {seq} does not link to entry {seq - 1} (an entry was inserted, removed or reordered)",
            seq,
        )
    if chain_hash(prev_hash, body) != stated:
        raise _Broken(f"entry {seq} was altered: its contents do not match its hash", seq)
    return stated


def _check_checkpoint(
    line_no: int, record: dict[str, Any], origin: str, keys: list[VerifierKey], hashes: list[bytes]
) -> int:
    where = f"checkpoint on line {line_no} of {layout.CHECKPOINTS}"
    try:
        checkpoint, _ = open_note(str(record["note"]), keys)
    except (KeyError, NoteError) as exc:
        raise _Broken(f"{where}: {exc}") from None
    if checkpoint.origin != origin:
        raise _Broken(f"{where} is for log {checkpoint.origin!r}, not {origin!r}")
    size = len(hashes) - 1
    if checkpoint.size > size:
        raise _Broken(
            f"the log was truncated: a signed checkpoint covers {checkpoint.size} entries "
            f"but the export ends at entry {size}",
            size + 1,
        )
    if hashes[checkpoint.size] != checkpoint.head:
        raise _Broken(
            f"entries 1 to {checkpoint.size} do not match the signed checkpoint of that size "
            "(history was rewritten)",
            checkpoint.size,
        )
    return checkpoint.size


def _manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / layout.MANIFEST).read_text(encoding="utf-8"))
    except ValueError:
        raise _Broken(f"{layout.MANIFEST} is not JSON") from None
    if manifest.get("format") != layout.FORMAT:
        raise _Broken(f"not a {layout.FORMAT} export")
    return manifest


def _lines(path: Path):
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                raise _Broken(f"line {line_no} of {path.name} is not JSON") from None
            if not isinstance(value, dict):
                raise _Broken(f"line {line_no} of {path.name} is not a JSON object")
            yield line_no, value
