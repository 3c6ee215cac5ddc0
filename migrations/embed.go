// Package migrations holds the versioned SQL of the application schema.
//
// Files are named NNNN_description.sql and applied in lexical order, each in its own
// transaction. They are generated from the Ent schema (`make migration NAME=...`),
// reviewed, and then edited by hand where Ent cannot express something (triggers,
// grants). Never edit a file that has been released; add a new one.
package migrations

import "embed"

//go:embed *.sql
var FS embed.FS
