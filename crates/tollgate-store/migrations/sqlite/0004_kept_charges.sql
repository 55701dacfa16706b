-- The charge of a request whose answer is stored under its Idempotency-Key,
-- the charge kept (the request succeeded). A kept charge's record is
-- deleted in a batch a few milliseconds after the answer: a process killed
-- in between leaves the record, and it must not be given back as an
-- abandoned request's, since the answer is stored and replayed to every
-- retry. The release of an expired charge looks here first.
ALTER TABLE idempotency ADD COLUMN charge_id BIGINT;
CREATE INDEX idempotency_charge_id ON idempotency (charge_id);
