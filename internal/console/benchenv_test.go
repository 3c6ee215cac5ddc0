package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kv-shepherd.io/shepherd/internal/runner"
)

const benchChunk = 64 << 10

// backend is the benchmark's stand-in for a VM's VNC server, on loopback TCP.
//   - stream: writes a pre-filled 64 KiB buffer in a loop, as fast as it can;
//   - echo: copies everything back through one buffer;
//   - idle: sends one 128 KiB+1 burst (so sessions have had traffic and must have
//     returned their big buffers), then holds the connection without a goroutine.
type backend struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startBackend(tb testing.TB, mode string) *backend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	be := &backend{ln: ln}
	chunk := randomBytes(5, benchChunk)
	burst := randomBytes(6, 128<<10+1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			be.mu.Lock()
			be.conns = append(be.conns, c)
			be.mu.Unlock()
			switch mode {
			case "stream":
				go func() {
					for {
						if _, err := c.Write(chunk); err != nil {
							return
						}
					}
				}()
			case "echo":
				go func() {
					buf := make([]byte, benchChunk)
					// Hide ReadFrom/WriteTo so the copy really uses buf (no splice).
					_, _ = io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, buf)
					_ = c.Close()
				}()
			case "idle":
				_, _ = c.Write(burst)
			}
		}
	}()
	return be
}

func (be *backend) addr() string { return be.ln.Addr().String() }

func (be *backend) stop() {
	_ = be.ln.Close()
	be.mu.Lock()
	defer be.mu.Unlock()
	for _, c := range be.conns {
		_ = c.Close()
	}
}

// pipeServer is what Shepherd's handler boils down to: NewUpgrader + Pipe, with the
// backend chosen by ?to=.
type pipeServer struct {
	srv    *httptest.Server
	cancel context.CancelFunc
	active atomic.Int64 // sessions inside Pipe
}

func startPipeServer(tb testing.TB, backends map[string]string) *pipeServer {
	ctx, cancel := context.WithCancel(context.Background())
	ps := &pipeServer{cancel: cancel}
	var up *websocket.Upgrader
	run := runner.New(ctx, quiet)
	ps.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		vm, err := net.Dial("tcp", backends[r.URL.Query().Get("to")])
		if err != nil {
			_ = Reject(ws, ReasonClusterUnreachable)
			return
		}
		ps.active.Add(1)
		if r.URL.Query().Has("detach") {
			// The pattern recommended to the handler: return, so net/http's
			// per-connection state is freed, and let a runner task own the session.
			run.Go("console session", func(context.Context) error {
				defer ps.active.Add(-1)
				Pipe(ctx, ws, vm, PipeOptions{Logger: quiet})
				return nil
			})
			return
		}
		defer ps.active.Add(-1)
		Pipe(ctx, ws, vm, PipeOptions{Logger: quiet})
	}))
	var err error
	if up, err = NewUpgrader("http://" + ps.srv.Listener.Addr().String()); err != nil {
		tb.Fatal(err)
	}
	ps.srv.Start()
	return ps
}

func (ps *pipeServer) url(query string) string {
	return "ws" + strings.TrimPrefix(ps.srv.URL, "http") + "/?to=" + query
}

func (ps *pipeServer) stop() { ps.cancel(); ps.srv.Close() }

// websockify runs Debian's /usr/bin/websockify in front of target.
type websockify struct {
	cmd *exec.Cmd
	url string
}

func startWebsockify(target string) (*websockify, error) {
	path, err := exec.LookPath("websockify")
	if err != nil {
		return nil, errors.New("websockify not installed (apt-get install websockify): " + err.Error())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // pick a free port
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(path, addr, target)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // it forks a child per connection
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &websockify{cmd: cmd, url: "ws://" + addr + "/"}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return w, nil
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, fmt.Errorf("websockify on %s did not start", addr)
		}
	}
}

func (w *websockify) stop() {
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGTERM) // its own process group, by id
	_ = w.cmd.Wait()
}

// benchClient is the measuring client, the same code for every websocket path.
type benchClient interface {
	drain(total int64, buf []byte) error // receive total bytes
	roundTrip(msg, buf []byte) error     // send msg, wait for len(msg) bytes back
	io.Closer
}

type discard struct{} // io.Discard without ReadFrom, so CopyBuffer uses our buffer

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type tcpClient struct{ net.Conn }

func (c tcpClient) drain(total int64, buf []byte) error {
	for got := int64(0); got < total; {
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

func (c tcpClient) roundTrip(msg, buf []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf[:len(msg)])
	return err
}

type wsClient struct{ *websocket.Conn }

// dialClient opens "tcp ADDR" or "ws URL" (same-origin, subprotocol binary).
func dialClient(kind, target string, d *websocket.Dialer) (benchClient, error) {
	if kind == "tcp" {
		c, err := net.Dial("tcp", target)
		return tcpClient{c}, err
	}
	origin := "http://" + strings.Split(strings.TrimPrefix(target, "ws://"), "/")[0]
	ws, _, err := d.Dial(target, http.Header{"Origin": {origin}})
	if err != nil {
		return nil, err
	}
	return wsClient{ws}, nil
}

func (c wsClient) drain(total int64, buf []byte) error {
	for got := int64(0); got < total; {
		_, r, err := c.NextReader()
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(discard{}, r, buf)
		got += n
		if err != nil {
			return err
		}
	}
	return nil
}

func (c wsClient) roundTrip(msg, buf []byte) error {
	if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		return err
	}
	return c.drain(int64(len(msg)), buf)
}
