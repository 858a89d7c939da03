"""Webhooks over HTTP: Standard Webhooks signing, the httpx sender, the decision-webhook client."""

from adapters.webhooks.decisions import HttpxDecisionClient
from adapters.webhooks.sender import HttpxWebhookSender
from adapters.webhooks.signing import StandardWebhookSigner

__all__ = ["HttpxDecisionClient", "HttpxWebhookSender", "StandardWebhookSigner"]
