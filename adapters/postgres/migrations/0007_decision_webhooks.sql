-- Real-time decision webhooks (issue 7): a program may name an endpoint that is asked before an
-- approval; the authorization records what it said (or that the program's fallback applied).

ALTER TABLE core.card_programs ADD COLUMN decision_webhook jsonb;  -- {url, secret, timeout_ms, fallback}
ALTER TABLE core.card_authorizations ADD COLUMN decision_webhook jsonb;  -- {outcome, reason, elapsed_ms}
