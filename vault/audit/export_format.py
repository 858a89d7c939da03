"""The audit export: a directory an auditor can verify offline.

::

    manifest.json        {"format": "bursar-audit-export/v1", "origin", "exported_at",
                          "entries", "checkpoints"}
    entries.jsonl        one entry per line, oldest first (see AuditEntry.to_json)
    checkpoints.jsonl    {"size": n, "note": "<signed note>"} per line, oldest first;
                         the last one was signed at export time and covers every entry
    verifier-keys.txt    the audit keys' verifier keys (<name>+<key id>+<key>), one per line

Auditors should take the verifier key from a trusted source (a ceremony
transcript, the key inventory) and pass it to ``bursar audit verify
--public-key``; the copy in the export is a convenience.
"""

from __future__ import annotations

FORMAT = "bursar-audit-export/v1"
MANIFEST = "manifest.json"
ENTRIES = "entries.jsonl"
CHECKPOINTS = "checkpoints.jsonl"
VERIFIER_KEYS = "verifier-keys.txt"
