-- Generated from ent/schema by `shepherd migrate diff`; review before committing.
-- Reviewed by hand: existing clusters get an empty sriov_networks list (Ent declares no
-- column default for JSON lists, so it is dropped again).

ALTER TABLE "clusters" ADD COLUMN "kubeconfig_context" character varying NOT NULL DEFAULT '', ADD COLUMN "auth_method" character varying NOT NULL DEFAULT '', ADD COLUMN "credentials_rotated_at" timestamptz NULL, ADD COLUMN "kubernetes_version" character varying NOT NULL DEFAULT '', ADD COLUMN "sriov_networks" jsonb NOT NULL DEFAULT '[]'::jsonb, ADD COLUMN "deleted_at" timestamptz NULL;
ALTER TABLE "clusters" ALTER COLUMN "sriov_networks" DROP DEFAULT;
CREATE TABLE "cluster_health_checks" ("id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "checked_at" timestamptz NOT NULL, "status" character varying NOT NULL, "message" text NOT NULL DEFAULT '', "kubernetes_version" character varying NOT NULL DEFAULT '', "kubevirt_version" character varying NOT NULL DEFAULT '', "duration_ms" bigint NOT NULL DEFAULT 0, PRIMARY KEY ("id"));
CREATE INDEX "clusterhealthcheck_cluster_id_checked_at" ON "cluster_health_checks" ("cluster_id", "checked_at" DESC);
