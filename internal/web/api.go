package web

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// APIStore is what the usage API needs (SPEC §6).
type APIStore interface {
	AuthenticateAPIKey(ctx context.Context, secret string) (*store.APIKeyAuth, error)
	TouchAPIKey(ctx context.Context, keyID int64) error
	Charge(ctx context.Context, orgID int64, req orgbase.ChargeRequest) (*orgbase.ChargeResult, error)
}

// apiRoutes registers the usage API.
func (s *Server) apiRoutes(e *echo.Echo) {
}
