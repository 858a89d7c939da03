-- Reveal grants the vault has honoured: a grant's nonce is accepted once, even across restarts.
-- Rows are pruned once their grant has long expired (an expired grant is refused anyway).

CREATE TABLE vault.reveal_grants (
    nonce        text PRIMARY KEY,
    token        text NOT NULL,
    redeemer     text NOT NULL,          -- the vault API key that presented the grant
    requested_by text NOT NULL,          -- the core API key that asked the core for it
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz NOT NULL
);
CREATE INDEX reveal_grants_by_expiry ON vault.reveal_grants (expires_at);
GRANT SELECT, INSERT, DELETE ON vault.reveal_grants TO bursar_vault;
