-- Live updates (internal/live): every change of a VM, a ticket or a notification sends a
-- NOTIFY on the channel shepherd_live in the same transaction, so it is delivered exactly
-- when (and only if) the change commits, to every Shepherd process (each holds one LISTEN
-- connection). The payload is small JSON: the table, the row's id and the ids needed to
-- decide who may hear of it (System and environment, requester, VM, recipient) — never
-- names. Identical payloads within one transaction are folded into one by PostgreSQL.

CREATE FUNCTION shepherd_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
  payload json;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_TABLE_NAME = 'vms' THEN
    payload := json_build_object('k', 'vm', 'id', r.id, 's', r.system_id, 'e', r.environment);
  ELSIF TG_TABLE_NAME = 'approval_tickets' THEN
    payload := json_build_object('k', 'ticket', 'id', r.id, 's', r.system_id, 'e', r.environment,
      'r', r.requester_id, 'v', r.vm_id);
  ELSE
    payload := json_build_object('k', 'notification', 'id', r.id, 'u', r.recipient_id);
  END IF;
  PERFORM pg_notify('shepherd_live', payload::text);
  RETURN NULL;
END $$;

CREATE TRIGGER vms_live AFTER INSERT OR DELETE ON vms
  FOR EACH ROW EXECUTE FUNCTION shepherd_live_notify();
CREATE TRIGGER vms_live_update AFTER UPDATE ON vms
  FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION shepherd_live_notify();
CREATE TRIGGER approval_tickets_live AFTER INSERT OR DELETE ON approval_tickets
  FOR EACH ROW EXECUTE FUNCTION shepherd_live_notify();
CREATE TRIGGER approval_tickets_live_update AFTER UPDATE ON approval_tickets
  FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION shepherd_live_notify();
CREATE TRIGGER notifications_live AFTER INSERT OR UPDATE OR DELETE ON notifications
  FOR EACH ROW EXECUTE FUNCTION shepherd_live_notify();
