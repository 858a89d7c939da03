-- Key inventory, key ceremonies and the tamper-evident audit log (the PCI zone's records).

-- Keys: one row per (purpose, version); the key itself lives on the HSM under `label`.
CREATE TABLE vault.keys (
    purpose              text NOT NULL CHECK (purpose IN ('kek', 'blind_index', 'cvv', 'audit_signing')),
    version              integer NOT NULL CHECK (version > 0),
    state                text NOT NULL CHECK (state IN ('pre_active', 'active', 'decrypt_only', 'retired', 'destroyed')),
    label                text NOT NULL UNIQUE,
    algorithm            text NOT NULL,
    kcv                  text,
    kcv_algorithm        text,
    public_key           bytea,
    attributes           jsonb NOT NULL,
    backup_id            text,
    ceremony_id          text NOT NULL,
    created_at           timestamptz NOT NULL,
    activated_at         timestamptz,
    cryptoperiod_ends_at timestamptz NOT NULL,
    deactivated_at       timestamptz,
    retired_at           timestamptz,
    destroyed_at         timestamptz,
    PRIMARY KEY (purpose, version)
);
CREATE UNIQUE INDEX keys_one_active_per_purpose ON vault.keys (purpose) WHERE state = 'active';
GRANT SELECT, INSERT ON vault.keys TO bursar_vault;
GRANT UPDATE (state, attributes, activated_at, deactivated_at, retired_at, destroyed_at) ON vault.keys TO bursar_vault;

-- Custodians hold an Ed25519 key each and sign an acknowledgement of their role.
CREATE TABLE vault.custodians (
    id              text PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    public_key      bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    registered_at   timestamptz NOT NULL,
    registered_by   text NOT NULL,
    acknowledgement text NOT NULL,          -- canonical JSON the custodian signs
    ack_signature   bytea,
    acknowledged_at timestamptz
);
GRANT SELECT, INSERT ON vault.custodians TO bursar_vault;
GRANT UPDATE (ack_signature, acknowledged_at) ON vault.custodians TO bursar_vault;

CREATE TABLE vault.ceremonies (
    id                   text PRIMARY KEY,
    kind                 text NOT NULL,
    proposal             text NOT NULL,     -- canonical JSON the custodians sign
    step_hash            text NOT NULL,
    proposed_by          text NOT NULL,
    proposed_at          timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    status               text NOT NULL CHECK (status IN ('proposed', 'executed', 'failed')),
    executed_by          text,
    executed_at          timestamptz,
    transcript           text,              -- canonical JSON, signed by the audit key
    transcript_signature bytea,
    transcript_hash      text,
    failure              text
);
GRANT SELECT, INSERT ON vault.ceremonies TO bursar_vault;
GRANT UPDATE (status, executed_by, executed_at, transcript, transcript_signature, transcript_hash, failure)
    ON vault.ceremonies TO bursar_vault;

CREATE TABLE vault.ceremony_approvals (
    ceremony_id  text NOT NULL REFERENCES vault.ceremonies (id),
    custodian_id text NOT NULL REFERENCES vault.custodians (id),
    signature    bytea NOT NULL,
    signed_at    timestamptz NOT NULL,
    PRIMARY KEY (ceremony_id, custodian_id)
);
GRANT SELECT, INSERT ON vault.ceremony_approvals TO bursar_vault;

-- A key wrapped (RFC 5649) under a transport key whose secret only the custodians' shares rebuild.
CREATE TABLE vault.key_backups (
    id                 text PRIMARY KEY,
    purpose            text NOT NULL,
    version            integer NOT NULL,
    wrapped            bytea NOT NULL,
    mechanism          text NOT NULL,
    key_kcv            text NOT NULL,
    transport_kcv      text NOT NULL,
    threshold          integer NOT NULL,
    shares             integer NOT NULL,
    share_fingerprints jsonb NOT NULL,
    ceremony_id        text NOT NULL,
    created_at         timestamptz NOT NULL,
    FOREIGN KEY (purpose, version) REFERENCES vault.keys (purpose, version)
);
GRANT SELECT, INSERT ON vault.key_backups TO bursar_vault;

-- The audit log: append-only, hash-chained (hash = SHA-256(prev_hash || canonical(entry))).
CREATE TABLE vault.audit_log (
    seq           bigint PRIMARY KEY CHECK (seq > 0),
    at            timestamptz NOT NULL,
    action        text NOT NULL,
    actor_id      text NOT NULL,
    actor_role    text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    reason        text,
    origin_ip     text,
    request_id    text,
    details       jsonb NOT NULL,
    prev_hash     bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash          bytea NOT NULL CHECK (length(hash) = 32)
);
GRANT SELECT, INSERT ON vault.audit_log TO bursar_vault;

CREATE TABLE vault.audit_checkpoints (
    size        bigint PRIMARY KEY CHECK (size >= 0),
    head        bytea NOT NULL CHECK (length(head) = 32),
    at          timestamptz NOT NULL,
    key_version integer NOT NULL,
    note        text NOT NULL
);
GRANT SELECT, INSERT ON vault.audit_checkpoints TO bursar_vault;

-- History cannot be rewritten, whatever the GRANTs say.
CREATE FUNCTION vault.refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON vault.audit_log
    FOR EACH ROW EXECUTE FUNCTION vault.refuse_rewrite();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON vault.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_rewrite();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON vault.audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION vault.refuse_rewrite();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON vault.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_rewrite();
CREATE TRIGGER ceremony_approvals_append_only BEFORE UPDATE OR DELETE ON vault.ceremony_approvals
    FOR EACH ROW EXECUTE FUNCTION vault.refuse_rewrite();

-- Every inserted entry links to its predecessor: seq has no gaps and prev_hash is its hash.
CREATE FUNCTION vault.audit_log_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_entries n LEFT JOIN vault.audit_log p ON p.seq = n.seq - 1
        WHERE CASE WHEN n.seq = 1 THEN n.prev_hash <> '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                   ELSE p.seq IS NULL OR p.hash <> n.prev_hash END
    ) THEN
        RAISE EXCEPTION 'audit entries must extend the hash chain' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_links AFTER INSERT ON vault.audit_log
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION vault.audit_log_links();
