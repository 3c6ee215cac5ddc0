-- Sign-in throttling (internal/auth/throttle.go): failed sign-ins counted per account
-- ("user:<name>") and per client address ("ip:<address>"), shared by every replica.
-- Rows are written with one INSERT ... ON CONFLICT DO UPDATE per failure.

CREATE TABLE "login_throttles" ("key" character varying NOT NULL, "failures" bigint NOT NULL DEFAULT 0, "first_failure_at" timestamptz NOT NULL, "last_failure_at" timestamptz NOT NULL, "blocked_until" timestamptz NULL, "refusal_audited_until" timestamptz NULL, PRIMARY KEY ("key"));
CREATE INDEX "loginthrottle_last_failure_at" ON "login_throttles" ("last_failure_at");
CREATE INDEX "loginthrottle_blocked_until" ON "login_throttles" ("blocked_until");
