package auth

import (
	"database/sql"
	"errors"
)

// isNoRows: an upsert with DO NOTHING reports sql.ErrNoRows when the row already existed.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
