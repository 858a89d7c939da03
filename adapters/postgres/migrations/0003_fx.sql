-- FX: every exchange rate received (from a feed or set by operations), and single-use quotes.
--
-- Rates are keyed by (base, quote, source, as_of); saving the same key again replaces the value
-- (a feed's correction, or ops re-entering a rate), and the replaced row is kept in
-- fx_rate_revisions, so no value that was ever stored is lost. The application role cannot
-- delete rates or revisions, nor change a rate's key.
--
-- A quote is immutable except for used_at, which goes once from NULL to a time: the single
-- use is a compare-and-set (UPDATE ... WHERE used_at IS NULL), and a trigger refuses any
-- other change. Codes and sources use the "C" collation: they compare byte by byte, as in
-- the in-memory adapter.

CREATE TABLE core.fx_rates (
    base        text COLLATE "C" NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
    quote       text COLLATE "C" NOT NULL CHECK (quote ~ '^[A-Z]{3}$'),
    source      text COLLATE "C" NOT NULL CHECK (source <> ''),
    as_of       timestamptz NOT NULL,
    value       numeric NOT NULL CHECK (value > 0 AND value <> 'NaN'),
    fetched_at  timestamptz NOT NULL,
    PRIMARY KEY (base, quote, source, as_of),
    CHECK (base <> quote)
);

CREATE TABLE core.fx_rate_revisions (
    base         text COLLATE "C" NOT NULL,
    quote        text COLLATE "C" NOT NULL,
    source       text COLLATE "C" NOT NULL,
    as_of        timestamptz NOT NULL,
    value        numeric NOT NULL,
    fetched_at   timestamptz NOT NULL,
    replaced_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX fx_rate_revisions_rate ON core.fx_rate_revisions (base, quote, source, as_of);

-- Keep the replaced value of a rate; refuse a change of its key.
CREATE FUNCTION core.fx_rates_keep_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.base, NEW.quote, NEW.source, NEW.as_of) IS DISTINCT FROM (OLD.base, OLD.quote, OLD.source, OLD.as_of) THEN
        RAISE EXCEPTION 'the key of rate %->% (%, %) cannot change', OLD.base, OLD.quote, OLD.source, OLD.as_of
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.value, NEW.fetched_at) IS DISTINCT FROM (OLD.value, OLD.fetched_at) THEN
        INSERT INTO core.fx_rate_revisions (base, quote, source, as_of, value, fetched_at)
        VALUES (OLD.base, OLD.quote, OLD.source, OLD.as_of, OLD.value, OLD.fetched_at);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER fx_rates_keep_revision BEFORE UPDATE ON core.fx_rates
    FOR EACH ROW EXECUTE FUNCTION core.fx_rates_keep_revision();

CREATE TABLE core.fx_quotes (
    id                text PRIMARY KEY,
    source_amount     bigint NOT NULL CHECK (source_amount > 0),
    source_currency   text COLLATE "C" NOT NULL CHECK (source_currency ~ '^[A-Z]{3}$'),
    target_currency   text COLLATE "C" NOT NULL CHECK (target_currency ~ '^[A-Z]{3}$'),
    rate_base         text COLLATE "C" NOT NULL,
    rate_quote        text COLLATE "C" NOT NULL,
    rate_value        numeric NOT NULL CHECK (rate_value > 0 AND rate_value <> 'NaN'),
    rate_source       text COLLATE "C" NOT NULL,
    rate_as_of        timestamptz NOT NULL,
    rate_fetched_at   timestamptz NOT NULL,
    markup_bps        integer NOT NULL CHECK (markup_bps BETWEEN 0 AND 10000),
    converted_amount  bigint NOT NULL CHECK (converted_amount >= 0),
    fee_amount        bigint NOT NULL CHECK (fee_amount >= 0),
    total_amount      bigint NOT NULL,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    used_at           timestamptz,
    CHECK (source_currency <> target_currency),
    CHECK (rate_base = source_currency AND rate_quote = target_currency),
    CHECK (converted_amount + fee_amount = total_amount),
    CHECK (expires_at > created_at)
);

-- used_at changes once, from NULL; nothing else of a quote ever changes.
CREATE FUNCTION core.fx_quotes_use_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.used_at IS NOT NULL OR NEW.used_at IS NULL THEN
        RAISE EXCEPTION 'quote % is used once', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER fx_quotes_use_once BEFORE UPDATE ON core.fx_quotes
    FOR EACH ROW EXECUTE FUNCTION core.fx_quotes_use_once();

-- Least privilege: no DELETE anywhere; rates change only in value and fetched_at (with the
-- old row kept as a revision), quotes only in used_at.
GRANT SELECT, INSERT ON core.fx_rates, core.fx_quotes TO bursar_core;
GRANT INSERT ON core.fx_rate_revisions TO bursar_core;
GRANT UPDATE (value, fetched_at) ON core.fx_rates TO bursar_core;
GRANT UPDATE (used_at) ON core.fx_quotes TO bursar_core;
