package views

// TicketTypeLabel is how a ticket type reads in lists and headings.
func TicketTypeLabel(t string) string {
	switch t {
	case "VM_CREATE":
		return "New VM"
	case "VM_START":
		return "Start VM"
	case "VM_STOP":
		return "Stop VM"
	case "VM_RESTART":
		return "Restart VM"
	case "VM_DELETE":
		return "Delete VM"
	case "VNC_ACCESS":
		return "Console access"
	}
	return t
}
