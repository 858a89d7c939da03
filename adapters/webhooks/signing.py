"""Standard Webhooks signatures (https://www.standardwebhooks.com), with the reference library.

``webhook-signature`` is ``v1,<base64 HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}")>``
where the secret is the base64 text after ``whsec_``. The ``standardwebhooks`` package (by the
specification's authors, no dependencies) computes it; receivers can verify with the same
package or the few lines in docs/webhooks.md.
"""

from __future__ import annotations

import base64
import secrets as random_secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

from domain.events import SECRET_PREFIX

SECRET_BYTES = 32


class StandardWebhookSigner:
    def new_secret(self) -> str:
        """``whsec_`` and 32 random bytes in standard base64 (the alphabet the specification uses)."""
        return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode("ascii")

    def sign(self, secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
        """One ``v1,<signature>`` per secret, space-separated (two while a rotated secret is honoured)."""
        if not secrets:
            raise ValueError("signing needs at least one secret")
        at = datetime.fromtimestamp(timestamp, UTC)
        text = body.decode("utf-8")
        return " ".join(Webhook(secret).sign(message_id, at, text) for secret in secrets)
