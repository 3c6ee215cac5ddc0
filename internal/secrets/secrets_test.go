package secrets_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/secrets"
	"kv-shepherd.io/shepherd/internal/testdb"
)

func newClient(t *testing.T) *ent.Client {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() }) // before testdb closes the pool
	return store.Ent
}

func TestEnsureGeneratesAndPersistsKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := newClient(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	k1, err := secrets.Ensure(ctx, client, nil, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1.Encryption) != 32 || len(k1.Session) != 32 {
		t.Fatalf("generated key sizes %d, %d; want 32", len(k1.Encryption), len(k1.Session))
	}
	if bytes.Equal(k1.Encryption, k1.Session) || bytes.Equal(k1.Encryption, make([]byte, 32)) {
		t.Error("generated keys are equal or zero")
	}
	if !strings.Contains(logs.String(), "SHEPHERD_ENCRYPTION_KEY") || !strings.Contains(logs.String(), "SHEPHERD_SESSION_SECRET") {
		t.Errorf("no warning about generated keys:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), base64.StdEncoding.EncodeToString(k1.Encryption)) {
		t.Error("the log contains the key")
	}
	if n := client.SystemSecret.Query().CountX(ctx); n != 2 {
		t.Errorf("%d stored keys, want 2", n)
	}

	k2, err := secrets.Ensure(ctx, client, nil, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.Encryption, k2.Encryption) || !bytes.Equal(k1.Session, k2.Session) {
		t.Error("second Ensure returned different keys: they were not persisted")
	}
	if n := client.SystemSecret.Query().CountX(ctx); n != 2 {
		t.Errorf("%d stored keys after the second Ensure, want 2", n)
	}
}

func TestEnsureConcurrentReplicasConverge(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	const replicas = 4
	keys := make([]secrets.Keys, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = secrets.Ensure(t.Context(), client, nil, nil, slog.New(slog.DiscardHandler))
		}()
	}
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i].Encryption, keys[0].Encryption) || !bytes.Equal(keys[i].Session, keys[0].Session) {
			t.Errorf("replica %d got different keys", i)
		}
	}
}

func TestEnsureConfiguredKeysWin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := newClient(t)
	enc, sess := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	var logs bytes.Buffer

	k, err := secrets.Ensure(ctx, client, enc, sess, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Encryption, enc) || !bytes.Equal(k.Session, sess) {
		t.Error("Ensure did not return the configured keys")
	}
	if n := client.SystemSecret.Query().CountX(ctx); n != 0 {
		t.Errorf("configured keys were stored (%d rows)", n)
	}
	if logs.Len() != 0 {
		t.Errorf("warned although keys are configured:\n%s", logs.String())
	}

	// One configured: only the other is generated and stored.
	k, err = secrets.Ensure(ctx, client, enc, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Encryption, enc) || len(k.Session) != 32 || bytes.Equal(k.Session, sess) {
		t.Errorf("keys = %x / %x", k.Encryption, k.Session)
	}
	rows := client.SystemSecret.Query().AllX(ctx)
	if len(rows) != 1 || rows[0].ID != "SESSION_SECRET" {
		t.Errorf("stored %d rows, want only SESSION_SECRET", len(rows))
	}

	// Configuration overrides a stored, generated key.
	k, err = secrets.Ensure(ctx, client, enc, sess, slog.New(slog.DiscardHandler))
	if err != nil || !bytes.Equal(k.Session, sess) {
		t.Errorf("configured session secret did not win over the stored one: %v", err)
	}
}

func newBox(t *testing.T, fill byte) *secrets.Box {
	t.Helper()
	b, err := secrets.NewBox(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBoxRoundTrip(t *testing.T) {
	t.Parallel()
	box := newBox(t, 7)
	for _, plain := range [][]byte{[]byte("kubeconfig: very secret"), {}, bytes.Repeat([]byte{0xff}, 4096)} {
		sealed, err := box.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) > 0 && strings.Contains(sealed, string(plain)) {
			t.Error("sealed value contains the plaintext")
		}
		got, err := box.Open(sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Open(Seal(%.20q)) = %.20q, %v", plain, got, err)
		}
	}
}

func TestBoxSealUsesRandomNonce(t *testing.T) {
	t.Parallel()
	box := newBox(t, 7)
	a, err := box.Seal([]byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := box.Seal([]byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two seals of one plaintext are identical")
	}
}

func TestBoxRejectsTamperingAndWrongKey(t *testing.T) {
	t.Parallel()
	box := newBox(t, 7)
	sealed, err := box.Seal([]byte("secret value"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(sealed)
	for i := range raw {
		cp := bytes.Clone(raw)
		cp[i] ^= 0x01
		if _, err := box.Open(base64.StdEncoding.EncodeToString(cp)); err == nil {
			t.Fatalf("Open accepted a value with byte %d flipped", i)
		}
	}
	if _, err := box.Open(base64.StdEncoding.EncodeToString(raw[:len(raw)-1])); err == nil {
		t.Error("Open accepted a truncated value")
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ="} {
		if _, err := box.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if _, err := newBox(t, 8).Open(sealed); err == nil {
		t.Error("a different key opened the value")
	}
}

func TestNewBoxKeySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := secrets.NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox accepted a %d-byte key", n)
		}
	}
	if _, err := secrets.NewBox(make([]byte, 32)); err != nil {
		t.Errorf("NewBox refused a 32-byte key: %v", err)
	}
}
