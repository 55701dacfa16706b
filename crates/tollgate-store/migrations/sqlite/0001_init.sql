-- Accounts (tenants): state, credits and quotas. The CHECK is a second line of
-- defence: the charging UPDATE already refuses to take a balance below zero.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    state         TEXT    NOT NULL DEFAULT 'active',
    balance       BIGINT  NOT NULL DEFAULT 0 CHECK (balance >= 0),
    usage_limit   BIGINT,
    usage_count   BIGINT  NOT NULL DEFAULT 0,
    usage_period  BIGINT  NOT NULL DEFAULT 0,
    storage_quota BIGINT,
    storage_used  BIGINT  NOT NULL DEFAULT 0 CHECK (storage_used >= 0),
    created_at    BIGINT  NOT NULL
);

-- API keys: only the SHA-256 of the key and a display prefix, never the key.
CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    account_id     TEXT   NOT NULL REFERENCES accounts (id),
    key_hash       BLOB   NOT NULL,
    display_prefix TEXT   NOT NULL,
    scopes         TEXT   NOT NULL,
    name           TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- Idempotency records, one per (API key, Idempotency-Key).
CREATE TABLE idempotency (
    api_key_id   TEXT   NOT NULL,
    idem_key     TEXT   NOT NULL,
    fingerprint  BLOB   NOT NULL,
    state        TEXT   NOT NULL,
    locked_until BIGINT NOT NULL,
    status       BIGINT,
    headers      TEXT,
    body         BLOB,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX idempotency_expires ON idempotency (expires_at);
