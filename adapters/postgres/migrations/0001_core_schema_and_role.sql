-- The core's schema and its least-privilege login role. Tables are owned by the migrating
-- (admin) role; bursar_core gets only the privileges each table needs, and nothing in the
-- vault schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bursar_core') THEN
        CREATE ROLE bursar_core LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS core;
REVOKE ALL ON SCHEMA core FROM PUBLIC;
GRANT USAGE ON SCHEMA core TO bursar_core;

CREATE TABLE core.api_keys (
    id          text PRIMARY KEY,
    app         text NOT NULL CHECK (app = 'core'),
    role        text NOT NULL CHECK (role IN ('app', 'ops', 'network', 'reveal', 'auditor', 'admin')),
    name        text NOT NULL,
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
GRANT SELECT, INSERT ON core.api_keys TO bursar_core;
GRANT UPDATE (revoked_at) ON core.api_keys TO bursar_core;
