// Package secrets provides the process keys and AES-256-GCM sealing of secrets at rest.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/systemsecret"
)

// Keys are the two process-wide secrets.
type Keys struct {
	Encryption []byte // 32 bytes, AES-256-GCM
	Session    []byte // signs session cookies
}

const (
	encryptionKeyID = "ENCRYPTION_KEY"
	sessionKeyID    = "SESSION_SECRET"
)

// Ensure returns the configured keys, or loads them from the database, generating and
// storing them at first start. Replicas racing here converge on the first stored value.
func Ensure(ctx context.Context, client *ent.Client, encryption, session []byte, logger *slog.Logger) (Keys, error) {
	var k Keys
	var err error
	if k.Encryption, err = ensureOne(ctx, client, encryptionKeyID, encryption, 32, logger); err != nil {
		return k, err
	}
	if k.Session, err = ensureOne(ctx, client, sessionKeyID, session, 32, logger); err != nil {
		return k, err
	}
	return k, nil
}

func ensureOne(ctx context.Context, client *ent.Client, id string, configured []byte, size int, logger *slog.Logger) ([]byte, error) {
	if len(configured) > 0 {
		return configured, nil
	}
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	err := client.SystemSecret.Create().SetID(id).SetValue(fresh).OnConflictColumns(systemsecret.FieldID).DoNothing().Exec(ctx)
	// DO NOTHING returns no row when another replica stored the key first.
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store generated %s: %w", id, err)
	}
	row, err := client.SystemSecret.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", id, err)
	}
	logger.Warn("using a key generated at first start and stored in the database; set it explicitly for production",
		"key", "SHEPHERD_"+id)
	return row.Value, nil
}

// Box seals and opens secrets with AES-256-GCM and a fresh random nonce per value.
type Box struct{ aead cipher.AEAD }

// NewBox builds a Box from a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, errors.New("encryption key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; the result is base64(nonce || ciphertext).
func (b *Box) Seal(plaintext []byte) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, plaintext, nil)), nil
}

// Open decrypts a value made by Seal; tampering or a wrong key fails.
func (b *Box) Open(sealed string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, errors.New("sealed value is malformed")
	}
	n := b.aead.NonceSize()
	out, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return nil, errors.New("sealed value cannot be opened (wrong key or tampered)")
	}
	return out, nil
}
