package live

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/authz"
)

var (
	shop     = uuid.New()
	payments = uuid.New()
)

// member of shop with vm:read in test and prod; other is the same in payments; approver
// holds approval:view in prod and no membership.
func member(system uuid.UUID) Viewer {
	id := uuid.New()
	return Viewer{UserID: id, Principal: authz.NewPrincipal(id, "m", []authz.Binding{{ScopeType: "global",
		Permissions: []string{authz.VMRead}, Environments: []string{"test", "prod"}}},
		[]authz.Membership{{SystemID: system, Role: authz.Member}})}
}

func approver() Viewer {
	id := uuid.New()
	return Viewer{UserID: id, Principal: authz.NewPrincipal(id, "a", []authz.Binding{{ScopeType: "global",
		Permissions: []string{authz.ApprovalView}, Environments: []string{"prod"}}}, nil)}
}

func receive(t *testing.T, s *Subscriber) []Message {
	t.Helper()
	var out []Message
	for {
		select {
		case m := <-s.C():
			out = append(out, m)
		default:
			return out
		}
	}
}

func TestTopicsFollowAuthorization(t *testing.T) {
	h := NewHub()
	alice, olga, bob := member(shop), member(payments), approver()
	sa, _ := h.Subscribe(alice, "")
	so, _ := h.Subscribe(olga, "")
	sb, _ := h.Subscribe(bob, "")
	vmID, ticketID := uuid.New(), uuid.New()
	h.Publish(Change{Kind: KindVM, ID: vmID, SystemID: shop, Env: "prod"})
	h.Publish(Change{Kind: KindTicket, ID: ticketID, SystemID: shop, Env: "prod", RequesterID: alice.UserID, VMID: &vmID})
	h.Publish(Change{Kind: KindNotification, ID: uuid.New(), RecipientID: alice.UserID})
	h.Publish(Change{Kind: KindNotification, ID: uuid.New(), RecipientID: olga.UserID})

	got := receive(t, sa)
	if len(got) != 3 || got[0].Data != "vm:"+vmID.String() || got[1].Data != "ticket:"+ticketID.String()+" vm:"+vmID.String() ||
		got[2].Data != "bell" {
		t.Fatalf("alice (member of shop) got %+v", got)
	}
	// A user of another System hears nothing of shop's VM or ticket, not even the ids.
	if got := receive(t, so); len(got) != 1 || got[0].Data != "bell" {
		t.Fatalf("olga (payments) got %+v", got)
	}
	// The prod approver hears of the ticket and the inbox, not of the VM itself.
	if got := receive(t, sb); len(got) != 1 || got[0].Data != "ticket:"+ticketID.String()+" inbox" {
		t.Fatalf("bob (approver) got %+v", got)
	}
	// A test ticket is not for a prod-only approver.
	h.Publish(Change{Kind: KindTicket, ID: uuid.New(), SystemID: payments, Env: "test", RequesterID: olga.UserID})
	if got := receive(t, sb); len(got) != 0 {
		t.Fatalf("bob heard of a test ticket: %+v", got)
	}
	// Nil principals (no permissions at all) hear nothing.
	sn, _ := h.Subscribe(Viewer{}, "")
	h.Publish(Change{Kind: KindVM, ID: vmID, SystemID: shop, Env: "prod"})
	h.Publish(Change{Kind: KindNotification, ID: uuid.New()})
	if got := receive(t, sn); len(got) != 0 {
		t.Fatalf("nobody heard %+v", got)
	}
}

func TestSlowSubscriberIsToldToRefreshAndDoesNotBlockOthers(t *testing.T) {
	h := NewHub()
	h.Buffer = 4
	slow, _ := h.Subscribe(member(shop), "")
	fast, _ := h.Subscribe(member(shop), "")
	for range 100 {
		h.Publish(Change{Kind: KindVM, ID: uuid.New(), SystemID: shop, Env: "test"})
		receive(t, fast) // the fast one keeps up
	}
	if n := len(slow.C()); n != 4 {
		t.Fatalf("slow buffer holds %d, want its 4", n)
	}
	select {
	case <-slow.Wake():
	default:
		t.Fatal("the slow subscriber was not woken")
	}
	if !slow.Missed() || slow.Missed() {
		t.Fatal("Missed should report once")
	}
	slow.Drain()
	if r := h.Refresh(); r.Event != EventRefresh || !strings.HasSuffix(r.ID, "-100") {
		t.Fatalf("refresh = %+v", r)
	}
}

func TestRefreshAllAfterReconnect(t *testing.T) {
	h := NewHub()
	a, _ := h.Subscribe(member(shop), "")
	b, _ := h.Subscribe(member(payments), "")
	h.RefreshAll()
	for _, s := range []*Subscriber{a, b} {
		select {
		case <-s.Wake():
		default:
			t.Fatal("not woken")
		}
		if !s.Missed() {
			t.Fatal("not told to refresh")
		}
	}
}

func TestLastEventIDReplaysOrRefreshes(t *testing.T) {
	h := NewHub()
	h.History = 8
	alice := member(shop)
	first, _ := h.Subscribe(alice, "")
	mine, theirs := uuid.New(), uuid.New()
	h.Publish(Change{Kind: KindVM, ID: mine, SystemID: shop, Env: "test"})
	last := receive(t, first)[0].ID
	h.Unsubscribe(first)
	// While alice was away: one change of hers, one of payments.
	h.Publish(Change{Kind: KindVM, ID: theirs, SystemID: payments, Env: "test"})
	h.Publish(Change{Kind: KindVM, ID: mine, SystemID: shop, Env: "test"})

	_, replay := h.Subscribe(alice, last)
	if len(replay) != 1 || replay[0].Data != "vm:"+mine.String() || !strings.HasSuffix(replay[0].ID, "-3") {
		t.Fatalf("replay = %+v", replay)
	}
	if _, none := h.Subscribe(alice, replay[0].ID); len(none) != 0 {
		t.Fatalf("up to date, yet %+v", none)
	}
	for name, id := range map[string]string{"other process": "cafebabe-2", "garbage": "x", "future": h.epoch + "-99"} {
		if _, r := h.Subscribe(alice, id); len(r) != 1 || r[0].Event != EventRefresh {
			t.Errorf("%s: %+v, want a refresh", name, r)
		}
	}
	// Beyond the history: a refresh.
	for range 20 {
		h.Publish(Change{Kind: KindVM, ID: mine, SystemID: shop, Env: "test"})
	}
	if _, r := h.Subscribe(alice, last); len(r) != 1 || r[0].Event != EventRefresh {
		t.Errorf("too old: %+v, want a refresh", r)
	}
}

func TestParseChange(t *testing.T) {
	id, vm, s, r := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	c, err := ParseChange(`{"k":"ticket","id":"` + id.String() + `","s":"` + s.String() + `","e":"prod","r":"` + r.String() + `","v":"` + vm.String() + `"}`)
	if err != nil || c.ID != id || c.SystemID != s || c.Env != "prod" || c.RequesterID != r || c.VMID == nil || *c.VMID != vm {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := ParseChange(`{"k":"ticket","id":"` + id.String() + `","v":null}`); err != nil || c.VMID != nil {
		t.Fatalf("null vm: %+v %v", c, err)
	}
	for _, bad := range []string{"", "{", `{"k":"user"}`} {
		if _, err := ParseChange(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
