-- Request and batch limits (internal/ratelimit, spec domain §10.5), kept in PostgreSQL so
-- every replica counts the same: per-minute change counters ("global", "user:<id>"), each
-- incremented by one upsert, and platform admins' per-user exemptions and limits.

CREATE TABLE "rate_limit_counters" ("key" character varying NOT NULL, "window_start" timestamptz NOT NULL, "current_value" bigint NOT NULL DEFAULT 0, PRIMARY KEY ("key"));
CREATE INDEX "ratelimitcounter_window_start" ON "rate_limit_counters" ("window_start");
CREATE TABLE "rate_limit_user_limits" ("user_id" uuid NOT NULL, "exempt" boolean NOT NULL DEFAULT false, "exempt_until" timestamptz NULL, "changes_per_minute" bigint NULL, "pending_batches" bigint NULL, "pending_batch_items" bigint NULL, "batch_cooldown_seconds" bigint NULL, "reason" text NOT NULL DEFAULT '', "updated_by" uuid NULL, "updated_by_name" character varying NOT NULL DEFAULT '', "updated_at" timestamptz NOT NULL, PRIMARY KEY ("user_id"));
