-- Credits held by requests in flight, one row per charge: written with the
-- charge, deleted when the request ends (its credits kept, or given back).
-- A row still here after `expires_at` belongs to a request whose process
-- stopped before it ended (killed, crashed, its machine gone): its credits
-- and usage are given back, and a retry of the request is charged once.
-- `remaining` is the balance the charge left.
CREATE TABLE reservations (
    id         BIGINT PRIMARY KEY,
    account_id TEXT   NOT NULL,
    cost       BIGINT NOT NULL,
    period     BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    remaining  BIGINT NOT NULL
);
CREATE INDEX reservations_expires_at ON reservations (expires_at);

-- On SQLite a charge is this row's insert, made only if the account can pay
-- (the backend's `RESERVE_SQLITE`); this trigger takes the credits and
-- counts the request in the same statement. `period` is the month the
-- request counts in: the stored one when it is later than the caller's.
CREATE TRIGGER reservations_take AFTER INSERT ON reservations
BEGIN
    UPDATE accounts SET
        balance = balance - NEW.cost,
        usage_count = CASE WHEN usage_period = NEW.period THEN usage_count + 1 ELSE 1 END,
        usage_period = NEW.period
    WHERE id = NEW.account_id;
END;
