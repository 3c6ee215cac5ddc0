-- Batch requests (flows §2.21): a parent row per batch; children are ordinary approval
-- tickets pointing at it. The parent's status is computed from the children, never stored.

CREATE TABLE "ticket_batches" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "type" character varying NOT NULL, "requester_id" uuid NOT NULL, "requester_name" character varying NOT NULL DEFAULT '', "reason" text NOT NULL, "system_id" uuid NOT NULL, "service_id" uuid NOT NULL, "namespace_id" uuid NOT NULL, "namespace_name" character varying NOT NULL, "environment" character varying NOT NULL, "target_name" character varying NOT NULL DEFAULT '', "instance_size_id" uuid NULL, "template_id" uuid NULL, "request_params" jsonb NULL, "child_count" bigint NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "ticketbatch_requester_id_created_at" ON "ticket_batches" ("requester_id", "created_at");
CREATE INDEX "ticketbatch_system_id" ON "ticket_batches" ("system_id");
CREATE INDEX "ticketbatch_created_at" ON "ticket_batches" ("created_at");
ALTER TABLE "approval_tickets" ADD COLUMN "batch_id" uuid NULL, ADD CONSTRAINT "approval_tickets_ticket_batches_tickets" FOREIGN KEY ("batch_id") REFERENCES "ticket_batches" ("id") ON DELETE SET NULL;
CREATE INDEX "approvalticket_batch_id" ON "approval_tickets" ("batch_id");

-- Live updates: a child ticket's change also names its batch ('b'), so an open batch page
-- hears of each child without subscribing to every ticket.
CREATE OR REPLACE FUNCTION shepherd_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
  payload json;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_TABLE_NAME = 'vms' THEN
    payload := json_build_object('k', 'vm', 'id', r.id, 's', r.system_id, 'e', r.environment);
  ELSIF TG_TABLE_NAME = 'approval_tickets' THEN
    payload := json_build_object('k', 'ticket', 'id', r.id, 's', r.system_id, 'e', r.environment,
      'r', r.requester_id, 'v', r.vm_id, 'b', r.batch_id);
  ELSE
    payload := json_build_object('k', 'notification', 'id', r.id, 'u', r.recipient_id);
  END IF;
  PERFORM pg_notify('shepherd_live', payload::text);
  RETURN NULL;
END $$;
