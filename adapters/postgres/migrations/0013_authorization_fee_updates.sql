-- An increment in a foreign currency adds its FX fee to the authorization's recorded fee, as it
-- adds the converted amount to card_amount: the application may now update fee too.
GRANT UPDATE (fee) ON core.card_authorizations TO bursar_core;
