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
