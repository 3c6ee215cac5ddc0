package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DiscoveryResult is what "Test discovery" found at a provider, or why it failed.
type DiscoveryResult struct {
	OK bool
	// Problem says in words what is wrong (empty when OK).
	Problem       string
	Issuer        string
	Authorization string
	Token         string
	UserInfo      string
	EndSession    string
	JWKS          string
	// Keys are the usable signing keys in the JWKS ("RSA RS256 kid=…").
	Keys []string
	// Skipped counts keys in the JWKS Shepherd cannot verify with (encryption keys,
	// other algorithms).
	Skipped int
}

// CheckIssuerURL refuses issuers Shepherd must not talk to: anything but https, except
// plain http to a loopback address in development mode.
func CheckIssuerURL(raw string, devMode bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "Enter the provider's issuer URL, for example https://login.example.com/realms/acme."
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "The issuer URL has no query or fragment: copy it exactly as the provider shows it."
	}
	if u.Scheme == "http" {
		if !devMode || !isLoopback(u.Hostname()) {
			return "The issuer must use HTTPS (plain HTTP is allowed only for a provider on this machine, in development mode)."
		}
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Discover fetches the provider's discovery document and its JWKS and reports what it
// found. Each failure is one clear sentence; nothing is stored.
func Discover(ctx context.Context, client *http.Client, issuer string, devMode bool) DiscoveryResult {
	if p := CheckIssuerURL(issuer, devMode); p != "" {
		return DiscoveryResult{Problem: p}
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	var doc struct {
		Issuer        string `json:"issuer"`
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		UserInfo      string `json:"userinfo_endpoint"`
		JWKS          string `json:"jwks_uri"`
		EndSession    string `json:"end_session_endpoint"`
	}
	if p := getJSON(ctx, client, wellKnown, "discovery document", &doc); p != "" {
		return DiscoveryResult{Problem: p}
	}
	r := DiscoveryResult{Issuer: doc.Issuer, Authorization: doc.Authorization, Token: doc.Token, UserInfo: doc.UserInfo,
		EndSession: doc.EndSession, JWKS: doc.JWKS}
	if doc.Issuer != issuer {
		r.Problem = fmt.Sprintf("The provider says its issuer is %q, not %q. They must be identical", doc.Issuer, issuer)
		if strings.TrimSuffix(doc.Issuer, "/") == strings.TrimSuffix(issuer, "/") {
			r.Problem += " — they differ only in the trailing slash, which counts"
		}
		r.Problem += ": copy the provider's issuer exactly."
		return r
	}
	if doc.Authorization == "" || doc.Token == "" || doc.JWKS == "" {
		r.Problem = "The discovery document lacks an authorization, token or JWKS address, so sign-in cannot work with this provider."
		return r
	}
	var jwks struct {
		Keys []struct {
			Kty string `json:"kty"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if p := getJSON(ctx, client, doc.JWKS, "key set (JWKS)", &jwks); p != "" {
		r.Problem = p
		return r
	}
	for _, k := range jwks.Keys {
		usable := (k.Use == "" || k.Use == "sig") &&
			((k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256")) || (k.Kty == "EC" && (k.Alg == "" || k.Alg == "ES256")))
		if !usable {
			r.Skipped++
			continue
		}
		alg := k.Alg
		if alg == "" {
			alg = map[string]string{"RSA": "RS256", "EC": "ES256"}[k.Kty]
		}
		desc := k.Kty + " " + alg
		if k.Kid != "" {
			desc += " (key id " + k.Kid + ")"
		}
		r.Keys = append(r.Keys, desc)
	}
	if len(r.Keys) == 0 {
		r.Problem = fmt.Sprintf("The provider's key set at %s has no key Shepherd can verify sign-ins with (RSA with RS256 or EC with ES256, for signing); it has %d other key(s).",
			doc.JWKS, r.Skipped)
		return r
	}
	r.OK = true
	return r
}

// getJSON fetches a small JSON document and says in words why it could not.
func getJSON(ctx context.Context, client *http.Client, addr, what string, into any) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return fmt.Sprintf("The %s address %q is not a usable URL.", what, addr)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("The provider did not answer in time when Shepherd fetched its %s at %s.", what, addr)
		}
		return fmt.Sprintf("Shepherd could not reach the provider to fetch its %s at %s: %v.", what, addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Sprintf("The provider's %s at %s could not be read: %v.", what, addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("The provider answered %q for its %s at %s: is the issuer URL right?", resp.Status, what, addr)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Sprintf("What the provider sent at %s is not a %s (%v): is the issuer URL right?", addr, what, err)
	}
	return ""
}
