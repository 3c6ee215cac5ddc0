-- One row per watched cluster: the process (River client ID) that runs its status watcher
-- (internal/statussync). With several replicas on one database each cluster is watched by
-- exactly one; the holder hands a lease to the process that asks for it (wanted_by), and
-- an expired lease (its holder died) is taken over.

CREATE TABLE "cluster_watch_leases" ("id" uuid NOT NULL, "holder" character varying NOT NULL, "acquired_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "wanted_by" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
CREATE INDEX "clusterwatchlease_holder" ON "cluster_watch_leases" ("holder");
