package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.LogLevel != "info" || c.RiverMaxWorkers != 10 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.BaseURL != "http://127.0.0.1:8080" {
		t.Fatalf("base url = %q", c.BaseURL)
	}
	if c.SessionIdleTimeout != 30*time.Minute || c.SessionMaxAge != 24*time.Hour {
		t.Fatalf("session timeouts = %v %v", c.SessionIdleTimeout, c.SessionMaxAge)
	}
}

func TestEnvOverridesFileOverridesDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shepherd.yaml")
	if err := os.WriteFile(path, []byte("log_level: debug\naddr: 0.0.0.0:9000\nlocal_login: false\ndb_max_conns: 12\nsession_idle_timeout: 45m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"SHEPHERD_CONFIG": path, "SHEPHERD_ADDR": "127.0.0.1:7000"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" {
		t.Errorf("file did not override default: %q", c.LogLevel)
	}
	if c.Addr != "127.0.0.1:7000" {
		t.Errorf("env did not override file: %q", c.Addr)
	}
	if c.LocalLogin || c.DBMaxConns != 12 || c.SessionIdleTimeout != 45*time.Minute {
		t.Errorf("typed YAML values not applied: %+v", c)
	}
}

func TestBadSettingsNameTheKey(t *testing.T) {
	cases := map[string]map[string]string{
		"SHEPHERD_ADDR":                 {"SHEPHERD_ADDR": "nope"},
		"SHEPHERD_LOG_LEVEL":            {"SHEPHERD_LOG_LEVEL": "loud"},
		"SHEPHERD_ENCRYPTION_KEY":       {"SHEPHERD_ENCRYPTION_KEY": "c2hvcnQ="},
		"SHEPHERD_SESSION_SECRET":       {"SHEPHERD_SESSION_SECRET": "!!!"},
		"SHEPHERD_SESSION_IDLE_TIMEOUT": {"SHEPHERD_SESSION_IDLE_TIMEOUT": "soon"},
		"DATABASE_URL":                  {"DATABASE_URL": "mysql://x"},
		"SHEPHERD_OIDC_CLIENT_ID":       {"SHEPHERD_OIDC_ISSUER": "https://idp.example.com"},
		"SHEPHERD_RIVER_MAX_WORKERS":    {"SHEPHERD_RIVER_MAX_WORKERS": "0"},
		"SHEPHERD_DEV_MODE":             {"SHEPHERD_DEV_MODE": "maybe"},
		"SHEPHERD_CONFIG":               {"SHEPHERD_CONFIG": "/does/not/exist.yaml"},
		"SHEPHERD_WORKER_DEAD_AFTER":    {"SHEPHERD_WORKER_HEARTBEAT": "10s"},
		"SHEPHERD_WORKER_HEARTBEAT":     {"SHEPHERD_WORKER_HEARTBEAT": "0s"},
	}
	for key, e := range cases {
		_, err := Load(env(e))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != key {
			t.Errorf("%s: got %v, want an error naming %s", key, err, key)
		}
	}
}

func TestUnknownFileKeyIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("adress: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(env(map[string]string{"SHEPHERD_CONFIG": path}))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "adress" {
		t.Fatalf("got %v", err)
	}
}

func TestKeysDecoded(t *testing.T) {
	key := "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=" // 32 bytes
	c, err := Load(env(map[string]string{"SHEPHERD_ENCRYPTION_KEY": key, "SHEPHERD_SESSION_SECRET": key}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EncryptionKeyBytes) != 32 || len(c.SessionSecretBytes) != 32 {
		t.Fatal("keys not decoded")
	}
}

func TestReferenceCoversEverySetting(t *testing.T) {
	for _, s := range Reference() {
		if s.Env == "" || s.Doc == "" {
			t.Errorf("setting without env name or doc: %+v", s)
		}
	}
}

// A listen address on all interfaces never becomes the redirect URI: serving needs
// SHEPHERD_BASE_URL then. Loopback (make run) keeps deriving it.
func TestServingURLOnAllInterfacesNeedsBaseURL(t *testing.T) {
	for addr, refused := range map[string]bool{"0.0.0.0:8080": true, "[::]:8080": true, ":8080": true,
		"127.0.0.1:8080": false, "[::1]:8080": false, "shepherd.local:8080": false} {
		c, err := Load(env(map[string]string{"SHEPHERD_ADDR": addr}))
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		err = c.CheckServingURL()
		var fe *FieldError
		if refused != (err != nil) || (err != nil && (!errors.As(err, &fe) || fe.Key != "SHEPHERD_BASE_URL")) {
			t.Errorf("%s: %v, want refused=%v naming SHEPHERD_BASE_URL", addr, err, refused)
		}
		c, err = Load(env(map[string]string{"SHEPHERD_ADDR": addr, "SHEPHERD_BASE_URL": "https://shepherd.example.com/"}))
		if err != nil || c.CheckServingURL() != nil || c.BaseURL != "https://shepherd.example.com" {
			t.Errorf("%s with a base URL: %v %q", addr, err, c.BaseURL)
		}
	}
}
