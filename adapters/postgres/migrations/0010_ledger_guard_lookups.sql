-- 1. The guard on ledger_accounts updates (0002) asked "is there an entry after the one the account
-- points at?" as an EXISTS inside an OR. PostgreSQL turned that subquery into a hashed subplan,
-- which reads the whole ledger_entries table on every update: every ledger write cost time in
-- proportion to the size of the ledger. The same check as a second outer join is two primary-key
-- lookups per updated account, whatever the size of the table.
CREATE OR REPLACE FUNCTION core.ledger_accounts_match_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    culprit text;
BEGIN
    SELECT n.id INTO culprit
      FROM new_accounts n
      LEFT JOIN core.ledger_entries e ON e.account_id = n.id AND e.account_seq = n.entry_count
      LEFT JOIN core.ledger_entries later ON later.account_id = n.id AND later.account_seq = n.entry_count + 1
     WHERE (e.account_id IS NULL
            AND NOT (n.entry_count = 0 AND n.debits_posted = 0 AND n.credits_posted = 0
                     AND n.debits_pending = 0 AND n.credits_pending = 0))
        OR (n.debits_posted, n.credits_posted, n.debits_pending, n.credits_pending)
           IS DISTINCT FROM (e.debits_posted, e.credits_posted, e.debits_pending, e.credits_pending)
           AND e.account_id IS NOT NULL
        OR later.account_id IS NOT NULL
     LIMIT 1;
    IF culprit IS NOT NULL THEN
        RAISE EXCEPTION 'balances of account % do not match its entries', culprit USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

-- The three guards compare the rows a statement wrote (a transition table, a few to a few
-- thousand rows) with tables of any size. Only key lookups make sense for that, but the planner
-- chooses by the statistics it has: before autovacuum has analyzed a young or fast-growing table
-- it believed a few hundred rows and hashed a sequential scan of all of ledger_entries (2 ms per
-- write at 13,000 entries, growing). Pinned to index lookups whatever the statistics say.
ALTER FUNCTION core.ledger_accounts_match_entries() SET enable_seqscan = off;
ALTER FUNCTION core.ledger_accounts_match_entries() SET enable_hashjoin = off;
ALTER FUNCTION core.ledger_accounts_match_entries() SET enable_mergejoin = off;
ALTER FUNCTION core.ledger_entries_balance() SET enable_seqscan = off;
ALTER FUNCTION core.ledger_entries_balance() SET enable_hashjoin = off;
ALTER FUNCTION core.ledger_entries_balance() SET enable_mergejoin = off;
ALTER FUNCTION core.ledger_transfers_accounts_exist() SET enable_seqscan = off;
ALTER FUNCTION core.ledger_transfers_accounts_exist() SET enable_hashjoin = off;
ALTER FUNCTION core.ledger_transfers_accounts_exist() SET enable_mergejoin = off;
