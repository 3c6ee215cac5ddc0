package app

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRepeatedClientGoErrorsAreLoggedOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	h := newLimitHandler(slog.NewTextHandler(&buf, nil), time.Minute)
	clock := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return clock }
	log := slog.New(h).With("component", "client-go")
	refused := errors.New("dial tcp 127.0.0.1:44137: connect: connection refused")
	for i := 0; i < 10; i++ { // an informer retrying every few seconds
		log.Error("Failed to watch", "err", refused, "type", "*v1.VirtualMachine")
		clock = clock.Add(3 * time.Second)
	}
	log.Error("Failed to watch", "err", errors.New("another cluster: no route to host"))
	log.Info("Caches populated") // below WARN: never held back
	log.Info("Caches populated")
	if n := strings.Count(buf.String(), "connection refused"); n != 1 {
		t.Fatalf("%d lines of the same error in 30 s; want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "no route to host") || strings.Count(buf.String(), "Caches populated") != 2 {
		t.Fatalf("other lines were held back:\n%s", buf.String())
	}
	clock = clock.Add(time.Minute)
	buf.Reset()
	log.Error("Failed to watch", "err", refused, "type", "*v1.VirtualMachine")
	if !strings.Contains(buf.String(), "repeated=9") || !strings.Contains(buf.String(), "component=client-go") {
		t.Fatalf("a minute later the line should say how many were held back: %s", buf.String())
	}
}
