-- The owner of a running idempotency record: a random number written when a
-- request claims the record or takes it over. Renewing, completing and
-- abandoning the record match it, not the lock's time, which renewals move.
--
-- Records written before this migration hold no token (NULL, which no
-- request's token equals): no request owns them any more, so they are freed
-- only when their lock ends and a retry takes them over.
ALTER TABLE idempotency ADD COLUMN lock_token BIGINT;
