// Package notificationsview renders the notification inbox.
package notificationsview

import (
	"time"

	"kv-shepherd.io/shepherd/views"
)

// Inbox is one page of the signed-in user's notifications.
type Inbox struct {
	Show   string // "all" or "unread"
	Items  []Item
	Unread int // unread in the whole inbox
	Pager  views.Pager
	Back   string // this page's URL; actions return here
	CSRF   string // for the plain (non-htmx) forms
}

// Item is one notification.
type Item struct {
	ID        string
	Type      string
	Title     string
	Body      string
	Link      string // a local path, or empty
	CreatedAt time.Time
	Read      bool
}

// TypeLabel names a notification type for people.
func TypeLabel(t string) string {
	switch t {
	case "APPROVAL_REQUIRED":
		return "Approval required"
	case "REQUEST_APPROVED":
		return "Approved"
	case "REQUEST_REJECTED":
		return "Rejected"
	case "REQUEST_CANCELLED":
		return "Cancelled"
	case "VM_CREATED":
		return "VM created"
	case "VM_DELETED":
		return "VM deleted"
	case "VM_FAILED":
		return "VM failed"
	case "APPROVAL_OVERDUE":
		return "Overdue"
	}
	return t
}

// TypeClass colours the type badge like the ticket and VM states it reports.
func TypeClass(t string) string {
	switch t {
	case "APPROVAL_REQUIRED":
		return "badge status-pending"
	case "REQUEST_APPROVED", "VM_CREATED":
		return "badge status-ok"
	case "REQUEST_REJECTED", "VM_FAILED", "APPROVAL_OVERDUE":
		return "badge status-bad"
	}
	return "badge status-neutral"
}

func itemClass(it Item) string {
	if it.Read {
		return "inbox-item"
	}
	return "inbox-item unread"
}

func tabCurrent(show, tab string) string {
	if show == tab {
		return "page"
	}
	return "false"
}

func unreadTab(n int) string {
	if n == 0 {
		return "Unread"
	}
	return "Unread (" + itoa(n) + ")"
}

func markAllLabel(n int) string {
	if n == 1 {
		return "Mark 1 as read"
	}
	return "Mark all " + itoa(n) + " as read"
}
