-- Events and webhooks: the transactional outbox, webhook subscriptions, deliveries and every
-- delivery attempt. Events are written in the same transaction as the change they describe and
-- are immutable but for the moment they are routed; attempts are append-only.

CREATE TABLE core.events (
    id          text PRIMARY KEY,
    type        text NOT NULL CHECK (type IN (
                    'card.created', 'card.updated',
                    'authorization.approved', 'authorization.declined', 'authorization.reversed',
                    'authorization.expired', 'transaction.cleared', 'transaction.refunded')),
    created_at  timestamptz NOT NULL,
    data        jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    routed_at   timestamptz
);
-- What the dispatcher claims: events not routed yet, oldest first.
CREATE INDEX events_unrouted ON core.events (id) WHERE routed_at IS NULL;

-- An event is routed once; nothing else about it changes.
CREATE FUNCTION core.events_route_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.routed_at IS NOT NULL THEN
        RAISE EXCEPTION 'event % is routed already', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER events_route_once BEFORE UPDATE ON core.events
    FOR EACH ROW EXECUTE FUNCTION core.events_route_once();

GRANT SELECT, INSERT ON core.events TO bursar_core;
GRANT UPDATE (routed_at) ON core.events TO bursar_core;

-- One endpoint of an internal app. An empty event_types array means every event type.
CREATE TABLE core.webhook_subscriptions (
    id                          text PRIMARY KEY,
    url                         text NOT NULL CHECK (url ~ '^https?://[^/?#]+'),
    description                 text NOT NULL DEFAULT '',
    event_types                 text[] NOT NULL DEFAULT '{}' CHECK (event_types <@ ARRAY[
                                    'card.created', 'card.updated',
                                    'authorization.approved', 'authorization.declined', 'authorization.reversed',
                                    'authorization.expired', 'transaction.cleared', 'transaction.refunded']::text[]),
    secret                      text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    previous_secret             text CHECK (previous_secret LIKE 'whsec\_%'),
    previous_secret_expires_at  timestamptz,
    active                      boolean NOT NULL DEFAULT true,
    idempotency_key             text UNIQUE,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhook_subscriptions_active ON core.webhook_subscriptions (created_at, id) WHERE active;

-- A deleted subscription stays deleted.
CREATE FUNCTION core.webhook_subscriptions_stay_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT OLD.active THEN
        RAISE EXCEPTION 'webhook subscription % is deleted', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER webhook_subscriptions_stay_deleted BEFORE UPDATE ON core.webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION core.webhook_subscriptions_stay_deleted();

GRANT SELECT, INSERT ON core.webhook_subscriptions TO bursar_core;
GRANT UPDATE (secret, previous_secret, previous_secret_expires_at, active, updated_at)
    ON core.webhook_subscriptions TO bursar_core;

-- One event on its way to one subscription.
CREATE TABLE core.webhook_deliveries (
    id                text PRIMARY KEY,
    event_id          text NOT NULL REFERENCES core.events (id),
    event_type        text NOT NULL,
    subscription_id   text NOT NULL REFERENCES core.webhook_subscriptions (id),
    status            text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    round_start       integer NOT NULL DEFAULT 0 CHECK (round_start >= 0 AND round_start <= attempts),
    next_attempt_at   timestamptz,
    last_attempt_at   timestamptz,
    last_status_code  integer,
    last_error        text,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (event_id, subscription_id),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CHECK (status <> 'delivered' OR delivered_at IS NOT NULL)
);
-- What the dispatcher claims: pending deliveries, soonest due first.
CREATE INDEX webhook_deliveries_due ON core.webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- What ops list: by status, newest first.
CREATE INDEX webhook_deliveries_status ON core.webhook_deliveries (status, id);
CREATE INDEX webhook_deliveries_subscription ON core.webhook_deliveries (subscription_id) WHERE status = 'pending';

GRANT SELECT, INSERT ON core.webhook_deliveries TO bursar_core;
GRANT UPDATE (status, attempts, round_start, next_attempt_at, last_attempt_at, last_status_code, last_error,
              delivered_at, updated_at)
    ON core.webhook_deliveries TO bursar_core;

-- Every attempt, as it happened.
CREATE TABLE core.webhook_delivery_attempts (
    delivery_id  text NOT NULL REFERENCES core.webhook_deliveries (id),
    attempt      integer NOT NULL CHECK (attempt > 0),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL CHECK (finished_at >= started_at),
    status_code  integer CHECK (status_code BETWEEN 100 AND 599),
    error        text,
    succeeded    boolean NOT NULL,
    PRIMARY KEY (delivery_id, attempt),
    CHECK (NOT succeeded OR status_code BETWEEN 200 AND 299)
);

GRANT SELECT, INSERT ON core.webhook_delivery_attempts TO bursar_core;
