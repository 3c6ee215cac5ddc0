package live

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Message is one server-sent event: "change" with the topics in Data, or "refresh"
// (something may have been missed: re-fetch everything live on the page).
type Message struct {
	ID    string
	Event string
	Data  string
}

// Event names of the stream.
const (
	EventChange  = "change"
	EventRefresh = "refresh"
)

// DefaultBuffer is how many messages a stream may fall behind before it is told to
// refresh instead; DefaultHistory is how many changes a reconnecting stream can replay.
const (
	DefaultBuffer  = 64
	DefaultHistory = 1024
)

type logged struct {
	seq    uint64
	change Change
}

// Hub fans changes out to subscribers. Publishing never blocks: a subscriber whose
// buffer is full loses the message and gets a refresh instead, so a slow browser costs
// only itself. Event ids are "<epoch>-<seq>": the epoch is random per process, so an id
// from another replica or an earlier run is recognised as such (and answered with a refresh).
type Hub struct {
	Buffer  int // per subscriber; 0 means DefaultBuffer
	History int // changes kept for replay; 0 means DefaultHistory

	mu      sync.Mutex
	epoch   string
	seq     uint64
	history []logged // ring, oldest first once full
	subs    map[*Subscriber]struct{}
	done    chan struct{}
	closed  bool
}

// NewHub returns an empty hub with a fresh epoch.
func NewHub() *Hub {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &Hub{epoch: hex.EncodeToString(b), subs: map[*Subscriber]struct{}{}, done: make(chan struct{})}
}

// Subscriber is one open stream.
type Subscriber struct {
	viewer Viewer
	ch     chan Message
	wake   chan struct{}
	missed atomic.Bool
}

// C delivers the subscriber's messages in order.
func (s *Subscriber) C() <-chan Message { return s.ch }

// Wake signals that messages were dropped or the feed was interrupted; call Missed.
func (s *Subscriber) Wake() <-chan struct{} { return s.wake }

// Missed reports (and clears) whether this subscriber must refresh.
func (s *Subscriber) Missed() bool { return s.missed.Swap(false) }

// Done is closed when the hub shuts down; streams end then.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Close ends every stream (process shutdown).
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// Subscribe registers a stream for v. lastEventID is the browser's Last-Event-ID (empty
// on a first connection): the changes after it that v may see are returned for replay,
// or a refresh when they cannot be known (another process's id, or too old).
func (h *Hub) Subscribe(v Viewer, lastEventID string) (*Subscriber, []Message) {
	buf := h.Buffer
	if buf <= 0 {
		buf = DefaultBuffer
	}
	s := &Subscriber{viewer: v, ch: make(chan Message, buf), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	if lastEventID == "" {
		return s, nil
	}
	epoch, seqText, _ := strings.Cut(lastEventID, "-")
	last, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil || epoch != h.epoch || last > h.seq {
		return s, []Message{h.refreshLocked()}
	}
	if last == h.seq {
		return s, nil
	}
	if len(h.history) == 0 || h.history[0].seq > last+1 {
		return s, []Message{h.refreshLocked()}
	}
	var out []Message
	for _, l := range h.history {
		if l.seq <= last {
			continue
		}
		if topics := v.Topics(l.change); len(topics) > 0 {
			out = append(out, Message{ID: h.idLocked(l.seq), Event: EventChange, Data: strings.Join(topics, " ")})
		}
	}
	if len(out) > buf {
		return s, []Message{h.refreshLocked()}
	}
	return s, out
}

// Unsubscribe forgets s.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// Subscribers is the number of open streams.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Publish sends c to every subscriber that may see it.
func (h *Hub) Publish(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	limit := h.History
	if limit <= 0 {
		limit = DefaultHistory
	}
	if len(h.history) >= 2*limit { // trimmed in bulk: a copy per publish would cost more
		h.history = append(h.history[:0], h.history[len(h.history)-limit:]...)
	}
	h.history = append(h.history, logged{seq: h.seq, change: c})
	id := h.idLocked(h.seq)
	for s := range h.subs {
		topics := s.viewer.Topics(c)
		if len(topics) == 0 {
			continue
		}
		select {
		case s.ch <- Message{ID: id, Event: EventChange, Data: strings.Join(topics, " ")}:
		default:
			s.flag()
		}
	}
}

// RefreshAll tells every subscriber to refresh: the feed was interrupted (the listener
// reconnected), so changes may have been missed.
func (h *Hub) RefreshAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.flag()
	}
}

// Refresh is the refresh message carrying the current id, so a stream that reconnects
// after it is not refreshed again.
func (h *Hub) Refresh() Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refreshLocked()
}

func (h *Hub) refreshLocked() Message {
	return Message{ID: h.idLocked(h.seq), Event: EventRefresh, Data: "all"}
}

func (h *Hub) idLocked(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

func (s *Subscriber) flag() {
	s.missed.Store(true)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Drain empties s's buffer (superseded by a refresh).
func (s *Subscriber) Drain() {
	for {
		select {
		case <-s.ch:
		default:
			return
		}
	}
}
