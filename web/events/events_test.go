package events_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/live"
)

// stream is an open /events response read event by event.
type stream struct {
	resp   *http.Response
	events chan [3]string // id, event, data
}

func open(t *testing.T, env *apptest.Env, c *http.Client, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	streaming := *c
	streaming.Timeout = 0
	resp, err := streaming.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	s := &stream{resp: resp, events: make(chan [3]string, 64)}
	if resp.StatusCode != http.StatusOK {
		return s
	}
	sc := bufio.NewScanner(resp.Body)
	// Reading in the test's own goroutine would block; the scanner runs until the body closes.
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		var ev [3]string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev[1] != "" {
					s.events <- ev
				}
				ev = [3]string{}
			case strings.HasPrefix(line, "id: "):
				ev[0] = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev[1] = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev[2] = line[6:]
			}
		}
	}()
	return s
}

func (s *stream) next(t *testing.T, within time.Duration) ([3]string, bool) {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev, true
	case <-time.After(within):
		return [3]string{}, false
	}
}

func waitSubscribers(t *testing.T, h *live.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.Subscribers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want %d", h.Subscribers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventStream(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	c := env.App.Store.Ent
	hub := env.App.Live

	if status, body, _ := env.Get(t, env.Client(t), "/events"); status != http.StatusNoContent || body != "" {
		t.Fatalf("anonymous: %d %q, want 204 (EventSource stops)", status, body)
	}
	alice, dana := env.Client(t), env.Client(t)
	env.LoginOIDC(t, alice, "demo-alice")
	env.LoginOIDC(t, dana, "demo-dana")
	sa := open(t, env, alice, "")
	sd := open(t, env, dana, "")
	h := sa.resp.Header
	if sa.resp.StatusCode != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") ||
		h.Get("Cache-Control") != "no-store" || h.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("stream: %d %v", sa.resp.StatusCode, h)
	}
	waitSubscribers(t, hub, 2)

	// A real commit: a notification of alice's reaches her stream only.
	aliceID := c.User.Query().Where(user.Username("alice")).OnlyX(ctx).ID
	c.Notification.Create().SetRecipientID(aliceID).SetType(notification.TypeREQUEST_APPROVED).SetTitle("hello").SaveX(ctx)
	ev, ok := sa.next(t, 5*time.Second)
	if !ok || ev[1] != "change" || ev[2] != "bell" {
		t.Fatalf("alice got %v %v, want her bell", ev, ok)
	}
	// A VM of payments (alice is not a member): dana hears of it, alice does not.
	payments := c.System.Query().Where(system.Name("payments")).OnlyX(ctx).ID
	vmID := uuid.New()
	hub.Publish(live.Change{Kind: live.KindVM, ID: vmID, SystemID: payments, Env: "test"})
	if ev, ok := sd.next(t, 5*time.Second); !ok || ev[2] != "vm:"+vmID.String() {
		t.Fatalf("dana got %v %v", ev, ok)
	}
	if ev, ok := sa.next(t, 300*time.Millisecond); ok {
		t.Fatalf("alice heard of a payments VM: %v", ev)
	}

	// Reconnecting with Last-Event-ID replays what alice missed and may see.
	last := ev[0]
	sa.resp.Body.Close()
	c.Notification.Create().SetRecipientID(aliceID).SetType(notification.TypeREQUEST_APPROVED).SetTitle("while away").SaveX(ctx)
	if ev, ok := sd.next(t, 300*time.Millisecond); ok {
		t.Fatalf("dana heard alice's notification: %v", ev)
	}
	time.Sleep(200 * time.Millisecond) // the NOTIFY has reached the hub
	again := open(t, env, alice, last)
	if ev, ok := again.next(t, 5*time.Second); !ok || ev[1] != "change" || ev[2] != "bell" {
		t.Fatalf("replay: %v %v", ev, ok)
	}
	// An id from another process (or replica) cannot be replayed: refresh.
	other := open(t, env, alice, "deadbeef-1")
	if ev, ok := other.next(t, 5*time.Second); !ok || ev[1] != "refresh" {
		t.Fatalf("foreign id: %v %v, want a refresh", ev, ok)
	}
	// Closing a stream is normal: never logged as an error.
	if strings.Contains(env.Logs.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", env.Logs.String())
	}
}
