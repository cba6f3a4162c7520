package web

import (
	"context"
	_ "embed"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// The usage API (SPEC §6): JSON over HTTP, authenticated by a workspace API
// key (Authorization: Bearer obk_…), no session and no CSRF. Every error is
// {"error": {"code": …, "message": …, …}} with a stable code; the OpenAPI
// document (api_openapi.json, served at /api/openapi.json) describes it and
// a test checks real responses against it.

// APIStore is what the usage API needs.
type APIStore interface {
	AuthenticateAPIKey(ctx context.Context, secret string) (*store.APIKeyAuth, error)
	TouchAPIKey(ctx context.Context, keyID int64) error
	ChargeBatch(ctx context.Context, orgID int64, reqs []orgbase.ChargeRequest) ([]store.ChargeOutcome, error)
	FindMemberIDsByEmail(ctx context.Context, orgID int64, emails []string) (map[string]int64, error)
	FindWorkspaceByID(ctx context.Context, orgID, id int64) (*orgbase.Workspace, error)
	WorkspaceBalanceReport(ctx context.Context, orgID, workspaceID int64) (*store.Balance, error)
	UsageReport(ctx context.Context, orgID int64, path string, from, to time.Time, group store.UsageGroup) ([]store.UsageRow, error)
}

//go:embed api_openapi.json
var openAPIDoc []byte

// apiRoutes registers the usage API.
func (s *Server) apiRoutes(e *echo.Echo) {
	e.GET("/api/openapi.json", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=300")
		return c.Blob(http.StatusOK, "application/json", openAPIDoc)
	})
	v1 := e.Group("/api/v1", s.apiAuth)
	v1.POST("/usage", s.handleAPIUsageCreate)
	v1.GET("/usage", s.handleAPIUsageIndex)
	v1.GET("/balance", s.handleAPIBalance)
	e.RouteNotFound("/api/*", func(echo.Context) error { return echo.ErrNotFound })
}

// apiError is the JSON error body's inner object.
type apiError struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Field     string         `json:"field,omitempty"`
	Workspace *apiWorkspace  `json:"workspace,omitempty"`
	Member    string         `json:"member,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	status    int
}

type apiWorkspace struct {
	ID   int64  `json:"id,string"`
	Name string `json:"name"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func writeAPIError(c echo.Context, e *apiError) error {
	if e.status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="orgbase"`)
	}
	return c.JSON(e.status, map[string]*apiError{"error": e})
}

// isAPIPath reports whether the request belongs to the JSON API, whose
// errors are JSON even when Echo raises them (404, 405, 413).
func isAPIPath(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/api/") }

// apiErrorFromHTTP turns an error Echo raised (or any unexpected one) into
// the API's JSON form.
func (s *Server) apiErrorFromHTTP(err error, c echo.Context) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &apiError{status: 404, Code: "not_found", Message: "There is no such API endpoint. See /api/openapi.json."}
		case http.StatusMethodNotAllowed:
			return &apiError{status: 405, Code: "method_not_allowed", Message: "This endpoint does not accept that method."}
		case http.StatusRequestEntityTooLarge:
			return &apiError{status: 413, Code: "request_too_large", Message: "The body is larger than " + bodyLimit + "B; send fewer events per request."}
		}
		if he.Code >= 400 && he.Code < 500 {
			return &apiError{status: he.Code, Code: "invalid_request", Message: http.StatusText(he.Code)}
		}
	}
	if de := new(orgbase.Error); errors.As(err, &de) && de.Code != orgbase.EINTERNAL {
		return chargeError(err)
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	s.log.ErrorContext(c.Request().Context(), "api internal error", slog.String("request_id", rid), slog.String("error", err.Error()))
	return &apiError{status: 500, Code: "internal", Message: "Something went wrong on our side; retry with the same idempotency key. Request id " + rid + "."}
}

type apiAuthKey struct{}

// apiAuth authenticates the bearer key and puts it on the context.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := bearerSecret(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			return writeAPIError(c, &apiError{status: 401, Code: "unauthorized",
				Message: "Send a workspace API key: Authorization: Bearer obk_…"})
		}
		auth, err := s.api.AuthenticateAPIKey(c.Request().Context(), secret)
		if err != nil {
			if orgbase.ErrorCode(err) == orgbase.EUNAUTHORIZED {
				return writeAPIError(c, &apiError{status: 401, Code: "unauthorized", Message: orgbase.ErrorMessage(err)})
			}
			return err
		}
		if err := s.api.TouchAPIKey(c.Request().Context(), auth.Key.ID); err != nil {
			s.log.WarnContext(c.Request().Context(), "api key last-used stamp failed", slog.String("error", err.Error()))
		}
		c.Set("apiKey", auth)
		return next(c)
	}
}

// bearerSecret reads the secret of an Authorization header "Bearer <secret>"
// (the scheme in any case, the secret trimmed); ok is false for any other
// header. The secret's shape is checked later (orgbase.LooksLikeAPIKey).
func bearerSecret(h string) (secret string, ok bool) {
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", false
	}
	return secret, true
}

func apiKeyOf(c echo.Context) *store.APIKeyAuth { return c.Get("apiKey").(*store.APIKeyAuth) }

// chargeError maps a refusal of the charging service to the API's error.
func chargeError(err error) *apiError {
	var short *orgbase.InsufficientCredits
	var limit *orgbase.LimitReached
	var conflict *orgbase.IdempotencyConflict
	switch {
	case errors.As(err, &short):
		return &apiError{status: 402, Code: "insufficient_credits", Message: short.Message(),
			Workspace: &apiWorkspace{ID: short.WorkspaceID, Name: short.AccountName},
			Details:   map[string]any{"balance": short.Balance, "amount": short.Amount}}
	case errors.As(err, &limit):
		e := &apiError{status: 402, Code: "limit_reached", Message: limit.Message(),
			Details: map[string]any{"scope": limit.Scope, "limit": limit.Limit, "used": limit.Used, "amount": limit.Amount, "period": limit.Period}}
		if limit.Scope == orgbase.LimitWorkspace {
			e.Workspace = &apiWorkspace{ID: limit.WorkspaceID, Name: limit.WorkspaceName}
		} else {
			e.Member = limit.MemberName
		}
		return e
	case errors.As(err, &conflict):
		return &apiError{status: 409, Code: "idempotency_conflict", Field: "idempotency_key",
			Message: "This idempotency key was already used for a different charge; use a new key for a new event."}
	}
	field := ""
	for k := range orgbase.ErrorFields(err) {
		if field == "" || k < field {
			field = k
		}
	}
	msg := orgbase.ErrorMessage(err)
	switch orgbase.ErrorCode(err) {
	case orgbase.EINVALID:
		return &apiError{status: 422, Code: "invalid_request", Message: msg, Field: field}
	case orgbase.ENOTFOUND:
		return &apiError{status: 404, Code: "not_found", Message: msg, Field: field}
	case orgbase.EFORBIDDEN:
		return &apiError{status: 403, Code: "forbidden", Message: msg, Field: field}
	case orgbase.ECONFLICT:
		return &apiError{status: 409, Code: "conflict", Message: msg, Field: field}
	case orgbase.EUNAUTHORIZED:
		return &apiError{status: 401, Code: "unauthorized", Message: msg}
	}
	return nil
}

// apiEventResult is the answer to one charged event.
type apiEventResult struct {
	Status      string          `json:"status"` // "accepted" or "refused"
	EventID     int64           `json:"event_id,omitempty"`
	Workspace   int64           `json:"workspace,omitempty,string"`
	Credits     orgbase.Credits `json:"credits"`
	BalanceLeft orgbase.Credits `json:"balance_left"`
	Replayed    bool            `json:"replayed"`
}

// apiBatchItem is one event's answer in a batch: the accepted result's
// fields, or the refusal's error (a nil embedded pointer adds no fields).
type apiBatchItem struct {
	Index  int    `json:"index"`
	Status string `json:"status"` // hides apiEventResult's
	*apiEventResult
	Error *apiError `json:"error,omitempty"`
}

func (s *Server) handleAPIUsageCreate(c echo.Context) error {
	auth := apiKeyOf(c)
	ctx := c.Request().Context()
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, apiMaxBody+1))
	if err != nil {
		return err
	}
	if len(body) > apiMaxBody {
		return writeAPIError(c, &apiError{status: 413, Code: "request_too_large", Message: "The body is too large; send fewer events per request."})
	}
	events, batch, ferr := decodeUsage(body)
	if ferr != nil {
		return writeAPIError(c, &apiError{status: 422, Code: "invalid_request", Message: ferr.Message, Field: ferr.Field})
	}
	emails := make([]string, 0, len(events))
	seen := make(map[string]bool, 4)
	for _, ev := range events {
		if !seen[ev.User] {
			seen[ev.User] = true
			emails = append(emails, ev.User)
		}
	}
	users, err := s.api.FindMemberIDsByEmail(ctx, auth.OrgID, emails)
	if err != nil {
		return err
	}
	results := make([]apiBatchItem, len(events))
	reqs := make([]orgbase.ChargeRequest, 0, len(events))
	at := make([]int, 0, len(events)) // reqs[k] is events[at[k]]
	for i, ev := range events {
		results[i].Index = i
		uid, ok := users[ev.User]
		if !ok {
			results[i].Error = &apiError{status: 404, Code: "not_found", Field: "user", Message: ev.User + " is not a member of this organization."}
			continue
		}
		wsID := ev.WorkspaceID
		if wsID == 0 {
			wsID = auth.Workspace.ID
		}
		reqs = append(reqs, orgbase.ChargeRequest{WorkspaceID: wsID, UserID: uid, Tool: ev.Tool, Model: ev.Model, Units: ev.Units,
			Credits: ev.Credits, IdempotencyKey: ev.IdempotencyKey, Metadata: ev.Metadata, Within: auth.Workspace.ID})
		at = append(at, i)
	}
	// One event: through the organization's queue, batched with concurrent
	// ones. A batch: one store.ChargeBatch. Each event is accepted or
	// refused on its own.
	var outcomes []store.ChargeOutcome
	switch {
	case len(reqs) == 1 && !batch:
		res, err := s.chargeOne(ctx, auth.OrgID, reqs[0]) // coalesced with concurrent ones (api_queue.go)
		outcomes = []store.ChargeOutcome{{Result: res, Err: err}}
	case len(reqs) > 0:
		if outcomes, err = s.api.ChargeBatch(ctx, auth.OrgID, reqs); err != nil {
			return err // a database failure: 500, nothing of the batch was written
		}
	}
	accepted := 0
	for k, o := range outcomes {
		i := at[k]
		if o.Err != nil {
			ae := chargeError(o.Err)
			if ae == nil {
				return o.Err // a database failure: 500, nothing of this event was written
			}
			results[i].Error = ae
			continue
		}
		accepted++
		res := o.Result
		results[i].apiEventResult = &apiEventResult{Status: "accepted", EventID: res.EventID, Workspace: reqs[k].WorkspaceID,
			Credits: res.Charged, BalanceLeft: res.BalanceLeft, Replayed: res.Replayed}
	}
	if accepted > 0 {
		s.alertSoon(auth.OrgID) // thresholds of limits and balances (debounced, in the background)
	}
	for i := range results {
		results[i].Status = "accepted"
		if results[i].Error != nil {
			results[i].Status = "refused"
		}
	}
	if !batch {
		if results[0].Error != nil {
			return writeAPIError(c, results[0].Error)
		}
		return c.JSON(http.StatusOK, results[0].apiEventResult)
	}
	return c.JSON(http.StatusOK, map[string]any{"results": results, "accepted": accepted, "refused": len(results) - accepted})
}

// apiWorkspaceParam resolves ?workspace= within the key's subtree (the
// key's own workspace by default). 404 for anything else.
func (s *Server) apiWorkspaceParam(c echo.Context) (*orgbase.Workspace, *apiError, error) {
	auth := apiKeyOf(c)
	id, ae := apiWorkspaceID(c.QueryParam("workspace"))
	if ae != nil {
		return nil, ae, nil
	}
	if id == 0 {
		return auth.Workspace, nil, nil
	}
	ws, err := s.api.FindWorkspaceByID(c.Request().Context(), auth.OrgID, id)
	if orgbase.ErrorCode(err) == orgbase.ENOTFOUND || (err == nil && !orgbase.IsWithin(ws.Path, auth.Workspace.Path)) {
		return nil, &apiError{status: 404, Code: "not_found", Field: "workspace", Message: "Workspace not found."}, nil
	}
	return ws, nil, err
}

// apiWorkspaceID reads ?workspace=: 0 when absent (the key's workspace),
// else a positive id; 422 on the field otherwise.
func apiWorkspaceID(v string) (int64, *apiError) {
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, &apiError{status: 422, Code: "invalid_request", Field: "workspace", Message: "A workspace id, e.g. 42."}
	}
	return id, nil
}

type apiLimit struct {
	Workspace apiWorkspace    `json:"workspace"`
	Limit     orgbase.Credits `json:"limit"`
	Used      orgbase.Credits `json:"used"`
	Remaining orgbase.Credits `json:"remaining"`
}

func (s *Server) handleAPIBalance(c echo.Context) error {
	ws, ae, err := s.apiWorkspaceParam(c)
	if ae != nil {
		return writeAPIError(c, ae)
	}
	if err != nil {
		return err
	}
	b, err := s.api.WorkspaceBalanceReport(c.Request().Context(), ws.OrgID, ws.ID)
	if err != nil {
		return err
	}
	mode := "shared"
	if b.Funding.Kind == orgbase.AccountWorkspace && b.Funding.WorkspaceID != nil && *b.Funding.WorkspaceID == ws.ID {
		mode = "budget"
	}
	limits := make([]apiLimit, 0, len(b.Limits))
	for _, l := range b.Limits {
		limits = append(limits, apiLimit{Workspace: apiWorkspace{ID: l.WorkspaceID, Name: l.Name}, Limit: l.Limit, Used: l.Used, Remaining: l.Remaining()})
	}
	var fundWS int64
	if b.Funding.WorkspaceID != nil {
		fundWS = *b.Funding.WorkspaceID
	}
	return c.JSON(http.StatusOK, map[string]any{
		"workspace": apiWorkspace{ID: ws.ID, Name: ws.Name},
		"mode":      mode,
		"funding":   map[string]any{"name": b.Funding.Name, "workspace": apiWorkspace{ID: fundWS, Name: b.Funding.Name}, "balance": b.Funding.Balance},
		"limits":    limits,
		"period":    b.Period,
		"available": b.Available,
	})
}

// maxReportDays bounds a usage report's date range.
const maxReportDays = 366

// decodeUsageReportQuery reads from, to and group_by of GET /api/v1/usage
// as of now: days written YYYY-MM-DD (UTC), to defaulting to today and from
// to 29 days before to, from on or after store.MinReportDay and not after
// to, at most maxReportDays apart; group_by one of the four groups (day by
// default). A refusal is a 422 naming the field.
func decodeUsageReportQuery(q url.Values, now time.Time) (from, to time.Time, group store.UsageGroup, ae *apiError) {
	today := now.UTC().Truncate(24 * time.Hour)
	bad := func(field, msg string) (time.Time, time.Time, store.UsageGroup, *apiError) {
		return time.Time{}, time.Time{}, "", &apiError{status: 422, Code: "invalid_request", Field: field, Message: msg}
	}
	day := func(name string, def time.Time) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		t, err := time.Parse(time.DateOnly, v)
		return t, err == nil && t.Format(time.DateOnly) >= store.MinReportDay
	}
	to, ok := day("to", today)
	if !ok {
		return bad("to", "A date written YYYY-MM-DD (UTC), from "+store.MinReportDay+" on.")
	}
	from, ok = day("from", to.AddDate(0, 0, -29))
	if !ok || from.Format(time.DateOnly) < store.MinReportDay {
		return bad("from", "A date written YYYY-MM-DD (UTC), from "+store.MinReportDay+" on.")
	}
	switch {
	case from.After(to):
		return bad("from", "from must be on or before to.")
	case to.Sub(from) > maxReportDays*24*time.Hour:
		return bad("from", "Ask for at most 366 days at a time.")
	}
	group = store.UsageGroup(q.Get("group_by"))
	if group == "" {
		group = store.GroupByDay
	}
	switch group {
	case store.GroupByDay, store.GroupByTool, store.GroupByCategory, store.GroupByMember:
	default:
		return bad("group_by", "Group by day, tool, category or member.")
	}
	return from, to, group, nil
}

func (s *Server) handleAPIUsageIndex(c echo.Context) error {
	ws, ae, err := s.apiWorkspaceParam(c)
	if ae != nil {
		return writeAPIError(c, ae)
	}
	if err != nil {
		return err
	}
	from, to, group, ae := decodeUsageReportQuery(c.QueryParams(), s.now())
	if ae != nil {
		return writeAPIError(c, ae)
	}
	rows, err := s.api.UsageReport(c.Request().Context(), ws.OrgID, ws.Path, from, to, group)
	if err != nil {
		return err
	}
	type row struct {
		Key     string          `json:"key"`
		Credits orgbase.Credits `json:"credits"`
		Events  int64           `json:"events"`
	}
	out := make([]row, len(rows))
	var total orgbase.Credits
	var events int64
	for i, r := range rows {
		out[i] = row{Key: r.Key, Credits: r.Credits, Events: r.Events}
		total += r.Credits
		events += r.Events
	}
	return c.JSON(http.StatusOK, map[string]any{
		"workspace": apiWorkspace{ID: ws.ID, Name: ws.Name},
		"from":      from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "group_by": group,
		"rows": out, "total": map[string]any{"credits": total, "events": events},
	})
}
