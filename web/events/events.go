// Package events is the pages' live feed: GET /events, a Server-Sent Events stream of
// the topics that changed ("vm:<id>", "ticket:<id>", "inbox", "bell") among those the
// signed-in user may see. static/js/live.js turns each into a re-fetch of the fragment
// that shows it; the stream itself carries no names and no contents.
package events

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/live"
	"kv-shepherd.io/shepherd/web/page"
)

// Defaults of a stream: a comment every 25 s keeps proxies (which often cut idle
// connections after 30–60 s) and the browser convinced it is alive; after about ten
// minutes the stream ends and the browser reconnects at once, so a revoked session or
// changed permissions take effect without a query per heartbeat.
const (
	DefaultHeartbeat = 25 * time.Second
	DefaultLifetime  = 10 * time.Minute
	retryMillis      = 3000
)

// Handler serves the stream.
type Handler struct {
	Kit       *page.Kit
	Hub       *live.Hub
	Heartbeat time.Duration // 0 means DefaultHeartbeat
	Lifetime  time.Duration // 0 means DefaultLifetime (±10% so tabs do not reconnect in step)
}

// Register adds GET /events. It reads the session without the session middleware, as
// the bell's badge does: an open stream is not activity.
func (h *Handler) Register(r *page.Router) {
	r.E.GET("/events", h.stream)
}

func (h *Handler) stream(c echo.Context) error {
	res := c.Response()
	res.Header().Set("Cache-Control", "no-store")
	u := h.Kit.PeekUser(c)
	if u == nil {
		// 204 tells EventSource to stop reconnecting; the page falls back to slow polling,
		// whose requests lead to the sign-in page.
		return c.NoContent(http.StatusNoContent)
	}
	ctx := c.Request().Context()
	p, err := authz.Load(ctx, h.Kit.Store.Ent, u.ID, u.Username)
	if err != nil {
		return err
	}
	last := c.Request().Header.Get("Last-Event-ID")
	if last == "" {
		last = c.QueryParam("last") // a stream the page itself re-opened after a hard failure
	}
	sub, initial := h.Hub.Subscribe(live.Viewer{UserID: u.ID, Principal: p}, last)
	defer h.Hub.Unsubscribe(sub)

	hd := res.Header()
	hd.Set(echo.HeaderContentType, "text/event-stream; charset=utf-8")
	hd.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	res.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(res, "retry: %d\n\n", retryMillis); err != nil {
		return nil
	}
	for _, m := range initial {
		if !write(res, m) {
			return nil
		}
	}
	res.Flush()

	beat := h.Heartbeat
	if beat <= 0 {
		beat = DefaultHeartbeat
	}
	life := h.Lifetime
	if life <= 0 {
		life = DefaultLifetime
		life += time.Duration(rand.Int64N(int64(life/5))) - life/10
	}
	ticker := time.NewTicker(beat)
	defer ticker.Stop()
	end := time.NewTimer(life)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			h.Kit.Logger.Debug("event stream closed by the client", "request_id", page.RequestID(c), "user", u.Username)
			return nil
		case <-h.Hub.Done():
			return nil
		case <-end.C:
			return nil
		case <-ticker.C:
			if _, err := res.Write([]byte(": ping\n\n")); err != nil {
				return nil
			}
		case <-sub.Wake():
			if !sub.Missed() {
				continue
			}
			sub.Drain()
			if !write(res, h.Hub.Refresh()) {
				return nil
			}
		case m := <-sub.C():
			if !write(res, m) {
				return nil
			}
		}
		res.Flush()
	}
}

// write sends one event; false when the client is gone.
func write(w http.ResponseWriter, m live.Message) bool {
	_, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", m.ID, m.Event, m.Data)
	return err == nil
}
