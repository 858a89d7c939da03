-- Cards: programs, cardholders, cards (tokens from the vault, never a PAN), authorizations,
-- clearings and refunds, and the network messages they answered (idempotency by message_id).

CREATE TABLE core.card_programs (
    id                     text PRIMARY KEY,
    name                   text NOT NULL,
    bin                    text NOT NULL CHECK (bin ~ '^[1-9][0-9]{5}([0-9]{2})?$'),
    currency               text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    expiry_months          integer NOT NULL CHECK (expiry_months BETWEEN 1 AND 120),
    controls               jsonb NOT NULL DEFAULT '{}',
    fx_markup_bps          integer NOT NULL CHECK (fx_markup_bps BETWEEN 0 AND 10000),
    hold_seconds           integer NOT NULL CHECK (hold_seconds > 0),
    funding_account_id     text NOT NULL REFERENCES core.ledger_accounts (id),
    settlement_account_id  text NOT NULL REFERENCES core.ledger_accounts (id),
    fx_fee_account_id      text NOT NULL REFERENCES core.ledger_accounts (id),
    created_at             timestamptz NOT NULL
);

CREATE TABLE core.cardholders (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    birth_date  date,
    email       text,
    kyc_status  text NOT NULL CHECK (kyc_status IN ('pending', 'verified', 'rejected')),
    kyc_tier    text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE core.cards (
    id             text PRIMARY KEY,
    cardholder_id  text NOT NULL REFERENCES core.cardholders (id),
    program_id     text NOT NULL REFERENCES core.card_programs (id),
    token          text NOT NULL UNIQUE CHECK (token ~ '^tok_[a-z0-9]{26}$'),  -- never a PAN
    bin            text NOT NULL,
    last4          text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month      integer NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year       integer NOT NULL,
    currency       text NOT NULL,
    state          text NOT NULL CHECK (state IN ('inactive', 'active', 'paused', 'closed')),
    controls       jsonb NOT NULL DEFAULT '{}',
    account_id     text NOT NULL UNIQUE REFERENCES core.ledger_accounts (id),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX cards_by_cardholder ON core.cards (cardholder_id);

CREATE TABLE core.card_authorizations (
    id                text PRIMARY KEY,
    card_id           text NOT NULL REFERENCES core.cards (id),
    cardholder_id     text NOT NULL,
    message_id        text NOT NULL UNIQUE,
    status            text NOT NULL CHECK (status IN ('declined', 'pending', 'closed', 'reversed', 'expired')),
    approved          boolean NOT NULL,
    response_code     text NOT NULL,
    decline_reason    text,
    amount            bigint NOT NULL CHECK (amount > 0),        -- requested, merchant currency
    currency          text NOT NULL,
    approved_amount   bigint NOT NULL CHECK (approved_amount >= 0),
    card_amount       bigint NOT NULL CHECK (card_amount >= 0),   -- hold, card currency, fee included
    card_currency     text NOT NULL,
    fee               bigint NOT NULL DEFAULT 0 CHECK (fee >= 0),
    rate              numeric,
    merchant          jsonb NOT NULL,
    hold_transfer_id  text,                                       -- the ledger's pending transfer
    held              bigint NOT NULL DEFAULT 0 CHECK (held >= 0), -- still held (card currency)
    cleared           bigint NOT NULL DEFAULT 0 CHECK (cleared >= 0),
    counted           bigint NOT NULL DEFAULT 0 CHECK (counted >= 0), -- counts toward limits
    expires_at        timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CHECK (approved = (hold_transfer_id IS NOT NULL))
);
CREATE INDEX card_authorizations_by_card ON core.card_authorizations (card_id, created_at);
CREATE INDEX card_authorizations_by_holder ON core.card_authorizations (cardholder_id, created_at) WHERE counted > 0;
CREATE INDEX card_authorizations_due ON core.card_authorizations (expires_at) WHERE status = 'pending';

CREATE TABLE core.card_transactions (
    id                text PRIMARY KEY,
    card_id           text NOT NULL REFERENCES core.cards (id),
    authorization_id  text REFERENCES core.card_authorizations (id),
    message_id        text NOT NULL UNIQUE,
    kind              text NOT NULL CHECK (kind IN ('clearing', 'force_post', 'refund')),
    amount            bigint NOT NULL CHECK (amount > 0),
    currency          text NOT NULL,
    card_amount       bigint NOT NULL CHECK (card_amount >= 0),
    card_currency     text NOT NULL,
    fee               bigint NOT NULL DEFAULT 0,
    transfer_ids      text[] NOT NULL,
    shortfall         bigint NOT NULL DEFAULT 0 CHECK (shortfall >= 0),  -- cleared beyond the balance: ops exception
    merchant          jsonb NOT NULL,
    created_at        timestamptz NOT NULL
);
CREATE INDEX card_transactions_by_card ON core.card_transactions (card_id, created_at);
CREATE INDEX card_transactions_shortfalls ON core.card_transactions (created_at) WHERE shortfall > 0;

-- Every network message, raw, with the answer it got: a retry gets the same answer.
CREATE TABLE core.network_messages (
    message_id    text PRIMARY KEY,
    kind          text NOT NULL,
    request_hash  text NOT NULL,
    request       jsonb NOT NULL,
    response      jsonb NOT NULL,
    received_at   timestamptz NOT NULL
);

GRANT SELECT, INSERT ON core.card_programs, core.cardholders, core.cards, core.card_authorizations,
    core.card_transactions, core.network_messages TO bursar_core;
GRANT UPDATE (kyc_status, kyc_tier, updated_at) ON core.cardholders TO bursar_core;
GRANT UPDATE (state, controls, updated_at) ON core.cards TO bursar_core;
GRANT UPDATE (status, held, cleared, counted, card_amount, approved_amount, hold_transfer_id, updated_at)
    ON core.card_authorizations TO bursar_core;
