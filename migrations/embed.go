// Package migrations holds the versioned SQL migrations, one folder per
// dialect, embedded into the binary and applied with goose.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
