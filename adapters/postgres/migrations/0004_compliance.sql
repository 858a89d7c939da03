-- Compliance: versioned sanctions lists, screened subjects and their history, activity
-- monitoring (rule sets, activity, alerts) and cases with their trail. Histories are
-- append-only for the application role; a case's status moves only along the workflow.

-- Sanctions lists: one row per stored version, its entries as the screener reads them.
CREATE TABLE core.compliance_list_versions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    version      text NOT NULL,
    entry_count  integer NOT NULL CHECK (entry_count >= 0),
    alias_count  integer NOT NULL CHECK (alias_count >= 0),
    ingested_at  timestamptz NOT NULL,
    UNIQUE (source, version)
);

CREATE TABLE core.compliance_list_entries (
    list_version_id  bigint NOT NULL REFERENCES core.compliance_list_versions (id),
    ordinal          integer NOT NULL CHECK (ordinal >= 0),
    uid              text NOT NULL,
    name             text NOT NULL,
    entity_type      text NOT NULL CHECK (entity_type IN ('individual', 'entity', 'vessel', 'aircraft')),
    entry            jsonb NOT NULL,
    PRIMARY KEY (list_version_id, ordinal),
    UNIQUE (list_version_id, uid)
);

-- Subjects (cardholders and other parties) with their current status.
CREATE TABLE core.compliance_subjects (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    birth_date       text,
    country          text,
    status           text NOT NULL CHECK (status IN ('clear', 'review', 'blocked')),
    confirmed_match  boolean NOT NULL DEFAULT false,
    screening_id     text NOT NULL,
    list_version_id  bigint NOT NULL REFERENCES core.compliance_list_versions (id),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (NOT confirmed_match OR status = 'blocked')
);

CREATE TABLE core.compliance_screenings (
    id               text PRIMARY KEY,
    subject_id       text NOT NULL REFERENCES core.compliance_subjects (id),
    name             text NOT NULL,
    birth_date       text,
    country          text,
    list_version_id  bigint NOT NULL REFERENCES core.compliance_list_versions (id),
    list_source      text NOT NULL,
    list_version     text NOT NULL,
    result           text NOT NULL CHECK (result IN ('clear', 'possible_match', 'strong_match')),
    status           text NOT NULL CHECK (status IN ('clear', 'review', 'blocked')),
    matches          jsonb NOT NULL,
    suppressed       text[] NOT NULL DEFAULT '{}',
    trigger          text NOT NULL CHECK (trigger IN ('screen', 'rescreen')),
    screened_at      timestamptz NOT NULL
);
CREATE INDEX compliance_screenings_subject ON core.compliance_screenings (subject_id, screened_at);

CREATE TABLE core.compliance_status_changes (
    id            text PRIMARY KEY,
    subject_id    text NOT NULL REFERENCES core.compliance_subjects (id),
    from_status   text CHECK (from_status IN ('clear', 'review', 'blocked')),
    to_status     text NOT NULL CHECK (to_status IN ('clear', 'review', 'blocked')),
    at            timestamptz NOT NULL,
    actor         text NOT NULL,
    reason        text NOT NULL,
    screening_id  text,
    case_id       text
);
CREATE INDEX compliance_status_changes_subject ON core.compliance_status_changes (subject_id, id);

-- Cases: at most one active case per subject and kind.
CREATE TABLE core.compliance_cases (
    id            text PRIMARY KEY,
    subject_id    text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('screening', 'monitoring')),
    status        text NOT NULL CHECK (status IN ('open', 'investigating', 'escalated', 'closed', 'reported')),
    screening_id  text REFERENCES core.compliance_screenings (id),
    decision      text CHECK (decision IN ('confirmed', 'false_positive')),
    alert_count   integer NOT NULL DEFAULT 0 CHECK (alert_count >= 0),
    opened_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CHECK ((kind = 'screening') = (screening_id IS NOT NULL)),
    CHECK (decision IS NULL OR kind = 'screening'),
    CHECK (kind = 'monitoring' OR status NOT IN ('closed', 'reported') OR decision IS NOT NULL)
);
CREATE UNIQUE INDEX compliance_cases_one_active ON core.compliance_cases (subject_id, kind)
    WHERE status IN ('open', 'investigating', 'escalated');
CREATE INDEX compliance_cases_status ON core.compliance_cases (status, id);
CREATE INDEX compliance_cases_subject ON core.compliance_cases (subject_id, id);

-- The workflow, as domain/compliance/cases.py has it: forward only, closed and reported final.
CREATE FUNCTION core.compliance_cases_workflow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.subject_id, NEW.kind, NEW.opened_at) IS DISTINCT FROM (OLD.id, OLD.subject_id, OLD.kind, OLD.opened_at) THEN
        RAISE EXCEPTION 'case % cannot change its identity', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status IN ('closed', 'reported') THEN
        RAISE EXCEPTION 'case % is %: it is final', OLD.id, OLD.status USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN (
        ('open', 'investigating'), ('open', 'closed'),
        ('investigating', 'escalated'), ('investigating', 'closed'),
        ('escalated', 'closed'), ('escalated', 'reported')) THEN
        RAISE EXCEPTION 'case % cannot go from % to %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER compliance_cases_workflow BEFORE UPDATE ON core.compliance_cases
    FOR EACH ROW EXECUTE FUNCTION core.compliance_cases_workflow();

CREATE TABLE core.compliance_case_events (
    id            text PRIMARY KEY,
    case_id       text NOT NULL REFERENCES core.compliance_cases (id),
    at            timestamptz NOT NULL,
    actor         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('opened', 'status_changed', 'decided', 'alert_added', 'screening_added')),
    reason        text NOT NULL,
    from_status   text,
    to_status     text,
    decision      text,
    screening_id  text,
    alert_ids     text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX compliance_case_events_case ON core.compliance_case_events (case_id, id);

-- Dismissed matches: not counted again for the same subject, name, list entry and list name.
CREATE TABLE core.compliance_cleared_matches (
    subject_id     text NOT NULL REFERENCES core.compliance_subjects (id),
    entry_id       text NOT NULL,
    matched_name   text NOT NULL,
    screened_name  text NOT NULL,
    case_id        text NOT NULL REFERENCES core.compliance_cases (id),
    cleared_at     timestamptz NOT NULL,
    PRIMARY KEY (subject_id, entry_id, matched_name, screened_name)
);
CREATE INDEX compliance_cleared_matches_case ON core.compliance_cleared_matches (case_id);

-- Monitoring: rule sets (version 0 is the shipped default, never stored), activity, alerts.
CREATE TABLE core.compliance_rule_sets (
    version     integer PRIMARY KEY CHECK (version > 0),
    rules       jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    reason      text NOT NULL
);

CREATE TABLE core.compliance_activity (
    id           text PRIMARY KEY,
    subject_id   text NOT NULL,
    card_id      text,
    kind         text NOT NULL CHECK (kind IN ('funding', 'authorization')),
    amount       bigint NOT NULL CHECK (amount >= 0),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    mcc          text,
    country      text,
    at           timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX compliance_activity_subject ON core.compliance_activity (subject_id, at);

CREATE TABLE core.compliance_alerts (
    id             text PRIMARY KEY,
    subject_id     text NOT NULL,
    case_id        text NOT NULL REFERENCES core.compliance_cases (id),
    event_id       text NOT NULL REFERENCES core.compliance_activity (id),
    card_id        text,
    kind           text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL,
    rule_id        text NOT NULL,
    rule_type      text NOT NULL,
    rules_version  integer NOT NULL,
    reason         text NOT NULL,
    raised_at      timestamptz NOT NULL,
    UNIQUE (event_id, rule_id)
);
CREATE INDEX compliance_alerts_subject ON core.compliance_alerts (subject_id, id);
CREATE INDEX compliance_alerts_case ON core.compliance_alerts (case_id, id);

-- Least privilege: histories are append-only; subjects and cases change only in their state
-- columns; a dismissal is forgotten only when its decision is replaced.
GRANT SELECT, INSERT ON core.compliance_list_versions, core.compliance_list_entries, core.compliance_subjects,
    core.compliance_screenings, core.compliance_status_changes, core.compliance_cases, core.compliance_case_events,
    core.compliance_cleared_matches, core.compliance_rule_sets, core.compliance_activity, core.compliance_alerts
    TO bursar_core;
GRANT UPDATE (name, birth_date, country, status, confirmed_match, screening_id, list_version_id, updated_at)
    ON core.compliance_subjects TO bursar_core;
GRANT UPDATE (status, screening_id, decision, alert_count, updated_at) ON core.compliance_cases TO bursar_core;
GRANT DELETE ON core.compliance_cleared_matches TO bursar_core;
