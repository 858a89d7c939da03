-- A program's settlement and FX fee accounts may be split into shards (issue 7): every hold of
-- every card locks its settlement account, so one account would make a program's authorizations
-- run one at a time. Each card always uses the same shard, ``<account>:<nn>``.

ALTER TABLE core.card_programs
    ADD COLUMN settlement_shards integer NOT NULL DEFAULT 1 CHECK (settlement_shards BETWEEN 1 AND 64);
