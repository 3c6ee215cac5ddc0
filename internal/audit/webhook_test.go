package audit_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// receiver is a SIEM's webhook endpoint: it checks each delivery's signature and keeps
// the events, or answers fail when told to.
type receiver struct {
	mu     sync.Mutex
	secret []byte
	fail   bool
	posts  int
	events []audit.ECSEvent
	bad    []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if got := req.Header.Get(audit.SignatureHeader); got != audit.Sign(r.secret, body) {
		r.bad = append(r.bad, got)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var d audit.Delivery
	if err := json.Unmarshal(body, &d); err != nil || d.ID == "" {
		r.bad = append(r.bad, "body: "+string(body))
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.posts++
	r.events = append(r.events, d.Events...)
}

func TestWebhookShipsTheLogInSignedBatchesAndResumesAfterAFailure(t *testing.T) {
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() })
	ctx := t.Context()
	// 250 settled rows (vm.* in test, one approval in prod every tenth) and 5 fresh ones.
	_, err := store.SQL.ExecContext(ctx, `INSERT INTO audit_logs (id, created_at, action, actor_name, resource_type, resource_id,
		resource_name, parent_type, parent_id, environment, ip_address, user_agent, request_id, details)
		SELECT gen_random_uuid(), now() - interval '1 hour' + g * interval '1 millisecond',
		CASE WHEN g % 10 = 0 THEN 'approval.approve' ELSE 'vm.start' END, 'alice', 'vm', 'vm-' || g, 'web-' || g, '', '',
		CASE WHEN g % 10 = 0 THEN 'prod' ELSE 'test' END, '198.51.100.1', 'ua', 'req-' || g, '{"token":"[REDACTED]"}'::jsonb
		FROM generate_series(1, 250) g`)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Write(ctx, store.Ent, audit.Entry{Action: "vm.stop", ActorName: "bob", ResourceType: "vm", ResourceID: "fresh"}); err != nil {
		t.Fatal(err)
	}
	rec := &receiver{secret: []byte("a shared secret of some length")}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	ship := &audit.Shipper{Store: store, URL: srv.URL, Secret: rec.secret, Batch: 100, Settle: time.Minute}

	// The receiver is down: the delivery fails, the cursor stays.
	rec.fail = true
	if n, err := ship.Ship(ctx); err == nil || n != 0 {
		t.Fatalf("ship to a failing receiver: %d, %v", n, err)
	}
	rec.fail = false
	n, err := ship.Ship(ctx)
	if err != nil || n != 250 {
		t.Fatalf("ship: %d, %v", n, err)
	}
	if rec.posts != 3 || len(rec.events) != 250 || len(rec.bad) > 0 {
		t.Fatalf("%d posts, %d events, bad %v; want 3 posts of at most 100", rec.posts, len(rec.events), rec.bad)
	}
	for i := 1; i < len(rec.events); i++ {
		if rec.events[i].Timestamp < rec.events[i-1].Timestamp {
			t.Fatalf("event %d out of order", i)
		}
	}
	// Nothing new: nothing sent. The fresh row ships once it has settled.
	if n, err := ship.Ship(ctx); err != nil || n != 0 || rec.posts != 3 {
		t.Fatalf("second ship: %d, %v, %d posts", n, err, rec.posts)
	}
	ship.Settle = time.Nanosecond
	if n, err := ship.Ship(ctx); err != nil || n != 1 || rec.events[len(rec.events)-1].Resource.ID != "fresh" {
		t.Fatalf("settled row: %d, %v", n, err)
	}

	// Filters: only prod approvals go to a second receiver, and the cursor still passes the rest.
	rec2 := &receiver{secret: []byte("another secret, just as long")}
	srv2 := httptest.NewServer(rec2)
	t.Cleanup(srv2.Close)
	if _, err := store.SQL.ExecContext(ctx, "DELETE FROM audit_webhook_cursors"); err != nil {
		t.Fatal(err)
	}
	filtered := &audit.Shipper{Store: store, URL: srv2.URL, Secret: rec2.secret, Batch: 100, Settle: time.Nanosecond,
		Actions: []string{"approval."}, Environments: []string{"prod"}}
	if n, err := filtered.Ship(ctx); err != nil || n != 25 || len(rec2.events) != 25 {
		t.Fatalf("filtered: %d, %v, %d events", n, err, len(rec2.events))
	}
	// A wrong secret on the receiver's side: refused, so not acknowledged.
	rec3 := &receiver{secret: []byte("the receiver expects this one")}
	srv3 := httptest.NewServer(rec3)
	t.Cleanup(srv3.Close)
	if _, err := store.SQL.ExecContext(ctx, "DELETE FROM audit_webhook_cursors"); err != nil {
		t.Fatal(err)
	}
	wrong := &audit.Shipper{Store: store, URL: srv3.URL, Secret: []byte("but Shepherd signs with this"), Settle: time.Nanosecond}
	if _, err := wrong.Ship(ctx); err == nil || len(rec3.bad) != 1 {
		t.Fatalf("a delivery the receiver cannot verify was taken as sent (%v, bad %d)", err, len(rec3.bad))
	}
}
