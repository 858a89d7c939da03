-- The vault's schema (the PCI zone) and its own login role. PUBLIC and the core's role get
-- nothing here: the core reaches the vault only over its HTTP API.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bursar_vault') THEN
        CREATE ROLE bursar_vault LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS vault;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;
GRANT USAGE ON SCHEMA vault TO bursar_vault;

CREATE TABLE vault.api_keys (
    id          text PRIMARY KEY,
    app         text NOT NULL CHECK (app = 'vault'),
    role        text NOT NULL CHECK (role IN ('core', 'reveal', 'network', 'auditor', 'admin')),
    name        text NOT NULL,
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
GRANT SELECT, INSERT ON vault.api_keys TO bursar_vault;
GRANT UPDATE (revoked_at) ON vault.api_keys TO bursar_vault;
