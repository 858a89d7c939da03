-- Authorizations record their activity for monitoring in their own transaction, with the hold and
-- the authorization record, so a crash cannot lose it; the alert rules are evaluated afterwards,
-- in a transaction of their own. Until then the activity waits here: a work queue (rows are
-- deleted as they are taken for evaluation, put back by a rollback), so compliance_activity itself
-- stays append-only. Evaluators take the oldest first (at, then id) and skip the rows another
-- evaluator holds. The subject and time are copied here so that taking rows and reading their
-- subjects' history is one statement.
CREATE TABLE core.compliance_activity_awaiting_alerts (
    activity_id  text PRIMARY KEY REFERENCES core.compliance_activity (id),
    subject_id   text NOT NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX compliance_activity_awaiting_alerts_order ON core.compliance_activity_awaiting_alerts (at, activity_id);

GRANT SELECT, INSERT, DELETE ON core.compliance_activity_awaiting_alerts TO bursar_core;
-- Taking rows FOR UPDATE SKIP LOCKED needs the UPDATE privilege on a column; no row is ever updated.
GRANT UPDATE (at) ON core.compliance_activity_awaiting_alerts TO bursar_core;
