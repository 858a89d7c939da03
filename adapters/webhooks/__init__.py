"""Webhooks over HTTP: Standard Webhooks signing and the httpx sender."""

from adapters.webhooks.sender import HttpxWebhookSender
from adapters.webhooks.signing import StandardWebhookSigner

__all__ = ["HttpxWebhookSender", "StandardWebhookSigner"]
