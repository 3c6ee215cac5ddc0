-- Console access (VNC_ACCESS) is asked for by each person: two people may each wait for
-- the same VM's console, so those requests leave the one-pending-per-VM-and-type index
-- and get their own, one pending request per VM and requester.

DROP INDEX "approvalticket_one_pending_per_vm_op";
CREATE UNIQUE INDEX "approvalticket_one_pending_per_vm_op" ON "approval_tickets" ("vm_id", "type") WHERE (((status)::text = 'PENDING_APPROVAL'::text) AND (vm_id IS NOT NULL) AND ((type)::text <> 'VNC_ACCESS'::text));
CREATE UNIQUE INDEX "approvalticket_one_pending_console_per_user" ON "approval_tickets" ("vm_id", "requester_id") WHERE (((status)::text = 'PENDING_APPROVAL'::text) AND ((type)::text = 'VNC_ACCESS'::text) AND (vm_id IS NOT NULL));
