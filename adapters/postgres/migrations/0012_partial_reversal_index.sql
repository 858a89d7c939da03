-- At most one reversal per transfer stays enforced by a unique index, but only over the transfers
-- that are reversals: the UNIQUE constraint of 0002 indexed every transfer's NULL reverses_id
-- too, one index insertion per transfer that no query ever reads.
CREATE UNIQUE INDEX ledger_transfers_one_reversal ON core.ledger_transfers (reverses_id) WHERE reverses_id IS NOT NULL;
ALTER TABLE core.ledger_transfers DROP CONSTRAINT ledger_transfers_reverses_id_key;
