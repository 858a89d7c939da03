-- KYC providers (issue 6): who set a cardholder's KYC status (a provider's name, `screening` when
-- the sanctions screening held it back from the provider, or `ops:<api key id>`) and why.

ALTER TABLE core.cardholders
    ADD COLUMN kyc_source text CHECK (length(kyc_source) <= 200),
    ADD COLUMN kyc_reason text CHECK (length(kyc_reason) <= 2000);

GRANT UPDATE (kyc_source, kyc_reason) ON core.cardholders TO bursar_core;
