-- Card and cardholder usage (the spending-limit windows) is summed over the authorizations that
-- still count (counted > 0) of the cards and holders being authorized. The only partial index with
-- that predicate was the holders' one, so for card usage PostgreSQL combined the cards' index with
-- all of it (a BitmapAnd reading every counted authorization of every holder): each authorization
-- cost time in proportion to the table. Both usages now have their own partial index, carrying
-- the counted amount, so the sums read only the rows they add up.
CREATE INDEX card_authorizations_usage_by_card ON core.card_authorizations (card_id, created_at)
    INCLUDE (counted) WHERE counted > 0;
DROP INDEX core.card_authorizations_by_holder;
CREATE INDEX card_authorizations_usage_by_holder ON core.card_authorizations (cardholder_id, created_at)
    INCLUDE (counted) WHERE counted > 0;
