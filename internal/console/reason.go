package console

import "fmt"

// CloseReason says why a console session ended. Each reason has its own websocket close
// code so the console page can show plain words without parsing the reason text, and
// a stable String() slug for audit records. It implements error so that it can be the
// cause given to context.WithCancelCause: cancelling Pipe's context with
// ReasonRevoked closes the browser's websocket with ReasonRevoked's code.
type CloseReason int

// Close reasons. Values and codes are part of the page's contract: append, never
// renumber. Only ReasonClientClosed uses a standard code (1000); the others live in the
// private 4000–4999 range (RFC 6455 §7.4.2) because the standard codes cannot say
// "your access was revoked".
const (
	ReasonClientClosed       CloseReason = iota + 1 // the browser closed or went away
	ReasonVMStopped                                 // the VM's VNC stream ended (EOF): VM stopped or restarted
	ReasonTicketExpired                             // the console ticket was unknown, used or past its start window
	ReasonRevoked                                   // an admin revoked access, or RBAC no longer allows it
	ReasonTakenOver                                 // another user took the console over
	ReasonClusterUnreachable                        // the VNC stream broke or could not be opened
	ReasonIdleTimeout                               // no bytes either way for PipeOptions.IdleTimeout
	ReasonSessionLimit                              // PipeOptions.MaxDuration (the session lifetime cap) reached
	ReasonServerShutdown                            // Shepherd is stopping
	ReasonProtocolError                             // the browser sent a text frame or a malformed frame
	ReasonPingTimeout                               // the browser stopped answering pings
	ReasonWriteTimeout                              // the browser stopped reading: a write blocked past WriteTimeout
	ReasonInternalError                             // a bug; see the logs
	ReasonInUse                                     // someone else holds the console (refused, not taken over)
)

type reasonInfo struct {
	code    int
	slug    string
	message string // ≤ 123 bytes: it travels in the close frame next to the code
}

var reasons = [...]reasonInfo{
	ReasonClientClosed:       {1000, "client_closed", "The console was closed."},
	ReasonVMStopped:          {4000, "vm_stopped", "The virtual machine's console ended: the VM stopped or restarted."},
	ReasonTicketExpired:      {4001, "ticket_expired", "The console link has expired. Open the console again."},
	ReasonRevoked:            {4002, "revoked", "Your console access was revoked."},
	ReasonTakenOver:          {4003, "taken_over", "Another user took over this console."},
	ReasonClusterUnreachable: {4004, "cluster_unreachable", "The connection to the VM's cluster was lost."},
	ReasonIdleTimeout:        {4005, "idle_timeout", "The console was closed after a period of inactivity."},
	ReasonSessionLimit:       {4006, "session_limit", "The console session reached its maximum duration."},
	ReasonServerShutdown:     {4007, "server_shutdown", "Shepherd is restarting. Reconnect in a moment."},
	ReasonProtocolError:      {4008, "protocol_error", "The browser sent data the console does not accept."},
	ReasonPingTimeout:        {4009, "ping_timeout", "The browser stopped responding."},
	ReasonWriteTimeout:       {4010, "write_timeout", "The browser could not keep up with the console."},
	ReasonInternalError:      {4011, "internal_error", "The console stopped because of an internal error."},
	ReasonInUse:              {4012, "in_use", "Someone else is using this console. Take it over or try again later."},
}

func (r CloseReason) info() reasonInfo {
	if r > 0 && int(r) < len(reasons) {
		return reasons[r]
	}
	return reasons[ReasonInternalError]
}

// Code is the websocket close code sent to the browser.
func (r CloseReason) Code() int { return r.info().code }

// Message is the English sentence sent as the close frame's reason text; the page may
// show it when it does not know the code.
func (r CloseReason) Message() string { return r.info().message }

// String is a stable slug ("vm_stopped") for logs and audit records.
func (r CloseReason) String() string {
	if r > 0 && int(r) < len(reasons) {
		return reasons[r].slug
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Error makes a CloseReason usable as a context cancellation cause.
func (r CloseReason) Error() string { return "console closed: " + r.String() }

// Reasons lists every reason, in code order, e.g. to generate the page's code table.
func Reasons() []CloseReason {
	out := make([]CloseReason, 0, len(reasons)-1)
	for r := ReasonClientClosed; int(r) < len(reasons); r++ {
		out = append(out, r)
	}
	return out
}

// ReasonFromCode maps a close code back to its reason (what the page does in JS).
func ReasonFromCode(code int) (CloseReason, bool) {
	for _, r := range Reasons() {
		if r.Code() == code {
			return r, true
		}
	}
	return 0, false
}
