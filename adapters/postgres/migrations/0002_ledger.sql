-- The double-entry ledger. Transfers and entries are immutable; holds change state once;
-- account balances change only together with entries that explain them, and entries balance
-- per transfer event. The database refuses anything else, whatever the application does.

CREATE TABLE core.ledger_accounts (
    id                              text PRIMARY KEY,
    currency                        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    name                            text NOT NULL,
    debits_must_not_exceed_credits  boolean NOT NULL DEFAULT false,
    credits_must_not_exceed_debits  boolean NOT NULL DEFAULT false,
    overdraft_limit                 bigint CHECK (overdraft_limit >= 0),
    metadata                        jsonb NOT NULL DEFAULT '{}',
    created_at                      timestamptz NOT NULL,
    debits_posted                   bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted                  bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending                  bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending                 bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    entry_count                     bigint NOT NULL DEFAULT 0 CHECK (entry_count >= 0),
    CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
    CHECK (NOT debits_must_not_exceed_credits
           OR debits_posted + debits_pending <= credits_posted + coalesce(overdraft_limit, 0)),
    CHECK (NOT credits_must_not_exceed_debits
           OR credits_posted + credits_pending <= debits_posted + coalesce(overdraft_limit, 0))
)
-- Balances change on every transfer: leave room on each page so updates stay HOT (no new
-- index entries), and vacuum early so hot accounts do not drag long version chains.
WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
      autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05);

CREATE TABLE core.ledger_transfers (
    id                 text PRIMARY KEY,
    debit_account_id   text NOT NULL,
    credit_account_id  text NOT NULL,
    amount             bigint NOT NULL CHECK (amount >= 0),
    currency           text NOT NULL,
    code               text NOT NULL DEFAULT '',
    metadata           jsonb,
    kind               text NOT NULL CHECK (kind IN ('single', 'pending', 'post_pending', 'void_pending', 'reversal')),
    pending_id         text,
    reverses_id        text UNIQUE,
    timeout_seconds    integer,
    expires_at         timestamptz,
    "timestamp"        timestamptz NOT NULL,
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((kind IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL)),
    CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL))
);
-- At most one resolution per pending transfer.
CREATE UNIQUE INDEX ledger_transfers_one_resolution ON core.ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;

CREATE TABLE core.ledger_holds (
    transfer_id        text PRIMARY KEY REFERENCES core.ledger_transfers (id),
    debit_account_id   text NOT NULL,
    credit_account_id  text NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           text NOT NULL,
    expires_at         timestamptz,
    state              text NOT NULL CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
    resolved_by        text,
    resolved_at        timestamptz
);
CREATE INDEX ledger_holds_due ON core.ledger_holds (expires_at) WHERE state = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX ledger_holds_pending_debit ON core.ledger_holds (debit_account_id) WHERE state = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX ledger_holds_pending_credit ON core.ledger_holds (credit_account_id) WHERE state = 'pending' AND expires_at IS NOT NULL;

CREATE TABLE core.ledger_entries (
    account_id          text NOT NULL,
    account_seq         bigint NOT NULL CHECK (account_seq > 0),
    transfer_id         text NOT NULL,
    event               text NOT NULL,
    "timestamp"         timestamptz NOT NULL,
    d_debits_posted     bigint NOT NULL,
    d_credits_posted    bigint NOT NULL,
    d_debits_pending    bigint NOT NULL,
    d_credits_pending   bigint NOT NULL,
    debits_posted       bigint NOT NULL,
    credits_posted      bigint NOT NULL,
    debits_pending      bigint NOT NULL,
    credits_pending     bigint NOT NULL,
    PRIMARY KEY (account_id, account_seq)
);
CREATE INDEX ledger_entries_time ON core.ledger_entries (account_id, "timestamp", account_seq);

-- Entries must balance per transfer event (what one side gains, the other loses) and belong
-- to existing accounts. Checked once per statement over the inserted rows, set-based.
CREATE FUNCTION core.ledger_entries_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    culprit text;
BEGIN
    SELECT transfer_id INTO culprit
      FROM new_entries
     GROUP BY transfer_id, event
    HAVING sum(d_debits_posted) <> sum(d_credits_posted)
        OR sum(d_debits_pending) <> sum(d_credits_pending)
     LIMIT 1;
    IF culprit IS NOT NULL THEN
        RAISE EXCEPTION 'unbalanced ledger entries for transfer %', culprit USING ERRCODE = 'check_violation';
    END IF;
    SELECT n.account_id INTO culprit
      FROM new_entries n LEFT JOIN core.ledger_accounts a ON a.id = n.account_id
     WHERE a.id IS NULL
     LIMIT 1;
    IF culprit IS NOT NULL THEN
        RAISE EXCEPTION 'ledger entry for unknown account %', culprit USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entries_balance AFTER INSERT ON core.ledger_entries
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION core.ledger_entries_balance();

-- Transfers name existing accounts (checked per statement, not per row).
CREATE FUNCTION core.ledger_transfers_accounts_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    culprit text;
BEGIN
    SELECT n.id INTO culprit
      FROM new_transfers n
      LEFT JOIN core.ledger_accounts d ON d.id = n.debit_account_id
      LEFT JOIN core.ledger_accounts c ON c.id = n.credit_account_id
     WHERE d.id IS NULL OR c.id IS NULL
     LIMIT 1;
    IF culprit IS NOT NULL THEN
        RAISE EXCEPTION 'transfer % names an unknown account', culprit USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_transfers_accounts_exist AFTER INSERT ON core.ledger_transfers
    REFERENCING NEW TABLE AS new_transfers FOR EACH STATEMENT EXECUTE FUNCTION core.ledger_transfers_accounts_exist();

-- An account's balances are always those its newest entry records: an update must leave each
-- account pointing (entry_count) at its latest entry, with exactly that entry's balances.
CREATE FUNCTION core.ledger_accounts_match_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    culprit text;
BEGIN
    SELECT n.id INTO culprit
      FROM new_accounts n
      LEFT JOIN core.ledger_entries e ON e.account_id = n.id AND e.account_seq = n.entry_count
     WHERE (e.account_id IS NULL
            AND NOT (n.entry_count = 0 AND n.debits_posted = 0 AND n.credits_posted = 0
                     AND n.debits_pending = 0 AND n.credits_pending = 0))
        OR (n.debits_posted, n.credits_posted, n.debits_pending, n.credits_pending)
           IS DISTINCT FROM (e.debits_posted, e.credits_posted, e.debits_pending, e.credits_pending)
           AND e.account_id IS NOT NULL
        OR EXISTS (SELECT 1 FROM core.ledger_entries later
                    WHERE later.account_id = n.id AND later.account_seq = n.entry_count + 1)
     LIMIT 1;
    IF culprit IS NOT NULL THEN
        RAISE EXCEPTION 'balances of account % do not match its entries', culprit USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_accounts_match_entries AFTER UPDATE ON core.ledger_accounts
    REFERENCING NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION core.ledger_accounts_match_entries();

-- A new account starts empty.
ALTER TABLE core.ledger_accounts ADD CONSTRAINT ledger_accounts_start_empty CHECK (
    entry_count > 0 OR (debits_posted = 0 AND credits_posted = 0 AND debits_pending = 0 AND credits_pending = 0));

-- A hold resolves once, from pending to a final state.
CREATE FUNCTION core.ledger_holds_resolve_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'pending' OR NEW.state = 'pending'
       OR (NEW.transfer_id, NEW.debit_account_id, NEW.credit_account_id, NEW.amount, NEW.currency)
          IS DISTINCT FROM (OLD.transfer_id, OLD.debit_account_id, OLD.credit_account_id, OLD.amount, OLD.currency) THEN
        RAISE EXCEPTION 'hold % cannot change from % to %', OLD.transfer_id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_holds_resolve_once BEFORE UPDATE ON core.ledger_holds
    FOR EACH ROW EXECUTE FUNCTION core.ledger_holds_resolve_once();

-- Least privilege: transfers and entries are append-only for the application.
GRANT SELECT, INSERT ON core.ledger_accounts, core.ledger_transfers, core.ledger_holds, core.ledger_entries TO bursar_core;
GRANT UPDATE (debits_posted, credits_posted, debits_pending, credits_pending, entry_count) ON core.ledger_accounts TO bursar_core;
GRANT UPDATE (state, resolved_by, resolved_at) ON core.ledger_holds TO bursar_core;
