-- One row per running Shepherd process (its River client ID), refreshed every few seconds
-- (internal/jobs/liveness). A process whose row goes stale is dead: its jobs still marked
-- 'running' are handed back to the queue at once instead of waiting for River's rescuer.

CREATE TABLE "worker_heartbeats" ("id" character varying NOT NULL, "hostname" character varying NOT NULL DEFAULT '', "boot_id" character varying NOT NULL DEFAULT '', "pid_namespace" character varying NOT NULL DEFAULT '', "pid" bigint NOT NULL DEFAULT 0, "started_at" timestamptz NOT NULL, "beat_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "workerheartbeat_beat_at" ON "worker_heartbeats" ("beat_at");
