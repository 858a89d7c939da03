-- Card data (encrypted PANs behind tokens) and the data keys that encrypt them.

CREATE TABLE vault.data_keys (
    id          text PRIMARY KEY,
    kek_version integer NOT NULL,
    wrapped     bytea NOT NULL,          -- nonce || AES-256-GCM(KEK, DEK) || tag, AAD bursar-dek/v1:<id>:<kek version>
    created_at  timestamptz NOT NULL
);
CREATE INDEX data_keys_by_kek_version ON vault.data_keys (kek_version);
GRANT SELECT, INSERT ON vault.data_keys TO bursar_vault;
GRANT UPDATE (kek_version, wrapped) ON vault.data_keys TO bursar_vault;

CREATE TABLE vault.cards (
    token         text PRIMARY KEY,
    index_version integer NOT NULL,      -- blind-index key version
    blind_index   bytea,                 -- HMAC-SHA256 of the PAN (see vault.crypto.working_keys); NULL once shredded
    origin        text NOT NULL CHECK (origin IN ('issued', 'imported')),
    program_id    text,
    bin           text NOT NULL,
    last4         text NOT NULL,
    exp_month     integer NOT NULL,
    exp_year      integer NOT NULL,
    cvv_version   integer NOT NULL,      -- CVV key version CVV2 is derived with (never stored itself)
    dek_id        text REFERENCES vault.data_keys (id),
    nonce         bytea,
    ciphertext    bytea,                 -- AES-256-GCM(DEK, PAN), AAD bursar-pan/v1:<token>:<dek id>
    created_at    timestamptz NOT NULL,
    request_key   text UNIQUE,           -- issuance: caller's key id + Idempotency-Key
    request_hash  text,                  -- SHA-256 of the issuing request's fields
    shredded_at   timestamptz,
    CHECK ((shredded_at IS NULL) = (ciphertext IS NOT NULL AND blind_index IS NOT NULL))
);
CREATE UNIQUE INDEX cards_blind_index ON vault.cards (index_version, blind_index) WHERE blind_index IS NOT NULL;
GRANT SELECT, INSERT ON vault.cards TO bursar_vault;
GRANT UPDATE (dek_id, nonce, ciphertext, blind_index, shredded_at) ON vault.cards TO bursar_vault;
