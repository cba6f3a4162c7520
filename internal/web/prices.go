package web

import (
	"context"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/prices"
)

// CatalogStore reads the operator's price catalog.
type CatalogStore interface {
	FindCatalog(ctx context.Context) ([]orgbase.Price, error)
}

// handlePriceIndex shows the price list: the operator's catalog, which is
// the same for every organization.
func (s *Server) handlePriceIndex(c echo.Context) error {
	list, err := s.orgs.FindCatalog(c.Request().Context())
	if err != nil {
		return err
	}
	m := prices.Build(list)
	return s.renderPage(c, http.StatusOK, "Prices", "prices", func(sh layout.Shell) templ.Component { return prices.Page(sh, m) })
}
