-- Generated from ent/schema by `shepherd migrate diff`; review before committing.

CREATE INDEX "vm_live_created_at" ON "vms" ("created_at", "id") WHERE (status)::text <> 'DELETED'::text;
