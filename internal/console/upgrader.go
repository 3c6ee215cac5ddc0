// Package console carries a VM's VNC byte stream (RFB) between the browser's noVNC
// websocket and the provider's console connection: NewUpgrader accepts the websocket,
// Pipe copies bytes both ways and closes both sides with a CloseReason the page can put
// into words, Reject closes a just-accepted websocket that will not get a session.
// Sessions, tickets, RBAC and audit are layered on top of these three.
//
// # Reverse proxies
//
// A proxy in front of Shepherd must pass websockets through for the console path:
//
//   - forward the upgrade: HTTP/1.1 to the upstream and the Upgrade and Connection
//     headers (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade;
//     proxy_set_header Connection "upgrade"). Apache needs mod_proxy_wstunnel or
//     "ProxyPass ... upgrade=websocket"; Traefik, Caddy and HAProxy do it by default.
//   - keep the Origin header and serve Shepherd under its configured public URL:
//     the Origin must equal that URL's scheme://host[:port] exactly, so TLS
//     termination at the proxy means the public URL starts with https://.
//   - let an idle upgraded connection live longer than the ping interval (30 s, see
//     PipeOptions.PingInterval): nginx proxy_read_timeout and proxy_send_timeout
//     (default 60 s), HAProxy "timeout tunnel", cloud load balancers' idle timeout
//     (AWS ALB: 60 s) all need to stay above it, preferably with ≥ 2× margin.
//   - not buffer or compress the stream (nginx does neither for upgraded connections).
package console

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Buffer sizes of an accepted connection. They are held for the connection's whole
// life, so they are small; bulk data bypasses them:
//   - reads: gorilla's bufio.Reader only parses frame headers and small frames; a read
//     into Pipe's 16 KiB input buffer goes straight to the socket when the bufio is empty.
//   - writes: WriteMessage copies at most writeBufferSize bytes of a message into the
//     write buffer and hands the rest to writev, so a small buffer also saves a copy.
//     A fixed 512 B buffer is used instead of Upgrader.WriteBufferPool: the pool would
//     save these 512 B per idle session but costs an allocation per message (gorilla
//     boxes the buffer into an interface on every Put).
const (
	readBufferSize  = 1024
	writeBufferSize = 512
)

// handshakeTimeout bounds writing the 101 response.
const handshakeTimeout = 10 * time.Second

// Subprotocol is the websocket subprotocol noVNC asks for. A client asking for no
// subprotocol is accepted too; one asking only for others (noVNC's old "base64") gets
// none, and browsers then fail the handshake themselves.
const Subprotocol = "binary"

// NewUpgrader returns the upgrader for console websockets. publicURL is Shepherd's
// configured public URL; only requests whose Origin header is exactly its origin
// (scheme, case-insensitive host, port with the default port normalised away) are
// upgraded, anything else, a missing Origin included, gets 403 before the upgrade.
// This is the cross-site websocket hijacking defence: the session cookie alone would let
// any site open a console in the user's name.
//
// Handlers should call the returned upgrader's CheckOrigin themselves before
// consuming a ticket, so that a foreign page cannot burn a user's ticket.
func NewUpgrader(publicURL string) (*websocket.Upgrader, error) {
	want, err := originOf(publicURL, true)
	if err != nil {
		return nil, err
	}
	return &websocket.Upgrader{
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		Subprotocols:     []string{Subprotocol},
		// RFB is mostly already-compressed rectangles; deflate would cost CPU and
		// ~tens of KiB of state per session for little gain.
		EnableCompression: false,
		CheckOrigin: func(r *http.Request) bool {
			got := r.Header.Values("Origin")
			if len(got) != 1 {
				return false
			}
			o, err := originOf(got[0], false)
			return err == nil && o == want
		},
	}, nil
}

// NormalizeOrigin returns the origin (scheme://host[:port], lower case, default port
// dropped) of an absolute http(s) URL, e.g. to validate the public URL at start-up.
func NormalizeOrigin(rawURL string) (string, error) { return originOf(rawURL, true) }

// originOf normalises an origin. withPath allows a path (configured URLs); an Origin
// header never has one, nor user info, query or fragment, so those are refused there.
func originOf(raw string, withPath bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("console: origin must be an http or https URL: " + raw)
	}
	if u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", errors.New("console: origin needs a host and no user info: " + raw)
	}
	if !withPath && ((u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "") {
		return "", errors.New("console: an origin has no path: " + raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port), nil
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	return scheme + "://" + host, nil
}

// Reject closes a websocket that was accepted but will not get a session (ticket
// expired, VM unreachable, ...) with reason's close code. Browsers do not expose the
// HTTP status of a failed handshake to the page, so refusing after the upgrade is the
// only way for the page to tell the user why. It waits up to a second for the browser
// to answer the close frame and then closes the connection.
func Reject(ws *websocket.Conn, reason CloseReason) error {
	deadline := time.Now().Add(closeGrace)
	err := ws.WriteControl(websocket.CloseMessage, closeMessage(reason), deadline)
	if err == nil {
		_ = ws.SetReadDeadline(deadline)
		for {
			// Reading lets gorilla see the browser's close reply; data frames are
			// discarded. Each NextReader call ends with an error at the deadline.
			if _, _, rerr := ws.NextReader(); rerr != nil {
				break
			}
		}
	}
	if cerr := ws.Close(); err == nil {
		err = cerr
	}
	return err
}

func closeMessage(r CloseReason) []byte { return websocket.FormatCloseMessage(r.Code(), r.Message()) }
