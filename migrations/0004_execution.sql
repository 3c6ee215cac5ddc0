-- Generated from ent/schema by `shepherd migrate diff`; review before committing.

ALTER TABLE "approval_tickets" ADD COLUMN "error_code" character varying NOT NULL DEFAULT '', ADD COLUMN "steps" jsonb NULL, ADD COLUMN "executed_at" timestamptz NULL;
CREATE INDEX "approvalticket_vm_id_decided_at" ON "approval_tickets" ("vm_id", "decided_at");
CREATE UNIQUE INDEX "approvalticket_one_inflight_per_vm" ON "approval_tickets" ("vm_id") WHERE (((status)::text = 'APPROVED'::text) OR ((status)::text = 'EXECUTING'::text)) AND (vm_id IS NOT NULL);
ALTER TABLE "vms" ADD COLUMN "node" character varying NOT NULL DEFAULT '', ADD COLUMN "k8s_exists" boolean NOT NULL DEFAULT true, ADD COLUMN "synced_at" timestamptz NULL;
CREATE TABLE "pending_adoptions" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "cluster_id" uuid NOT NULL, "cluster_name" character varying NOT NULL, "namespace" character varying NOT NULL, "name" character varying NOT NULL, "k8s_uid" character varying NOT NULL DEFAULT '', "system_label" character varying NOT NULL DEFAULT '', "service_label" character varying NOT NULL DEFAULT '', "instance_label" character varying NOT NULL DEFAULT '', "adoptable" boolean NOT NULL DEFAULT false, "status" character varying NOT NULL DEFAULT 'PENDING', "last_seen_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "pendingadoption_cluster_id_namespace_name" ON "pending_adoptions" ("cluster_id", "namespace", "name");
CREATE INDEX "pendingadoption_status" ON "pending_adoptions" ("status");
