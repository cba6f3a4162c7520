// Package static holds the files served under /static/: the built CSS, the
// vendored htmx and chart library, our small scripts, fonts and images. They
// are committed, so building the server needs no Node.
package static

import "embed"

// FS is the static file tree.
//
//go:embed css js vendor fonts img
var FS embed.FS
