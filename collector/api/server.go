package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"parc/cmdb"
)

// Route is one API method: its HTTP method and path pattern, and the name
// that the permission table knows it by.
type Route struct {
	Method  string
	Path    string
	Name    string
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// Authorizer decides whether a request may call a route. It is the one
// seam through which authentication plugs in.
type Authorizer interface {
	// Authorize returns the acting principal's name, ErrUnauthenticated or
	// ErrPermission.
	Authorize(r *http.Request, route string) (string, error)
}

// AllowAll authorizes every request as "anonymous" (development only).
type AllowAll struct{}

// Authorize implements Authorizer.
func (AllowAll) Authorize(*http.Request, string) (string, error) { return "anonymous", nil }

// Config wires the API.
type Config struct {
	Graph  *cmdb.Graph
	Auth   Authorizer
	Logger *slog.Logger
	// MaxBody caps request bodies (default 1 MiB).
	MaxBody int64
	// Extra routes registered by modules.
	Extra []Route
}

// Server is the REST API.
type Server struct {
	cfg Config
}

// New returns the API server.
func New(cfg Config) *Server {
	if cfg.Auth == nil {
		cfg.Auth = AllowAll{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	return &Server{cfg: cfg}
}

// Routes returns every route of the API.
func (s *Server) Routes() []Route {
	rs := []Route{
		{"GET", "/api/v1/cis", "ci.list", s.listCIs},
		{"GET", "/api/v1/cis/{ref}", "ci.get", s.getCI},
		{"GET", "/api/v1/cis/{ref}/history", "ci.history", s.ciHistory},
		{"GET", "/api/v1/openapi.json", "api.openapi", s.openAPI},
	}
	rs = append(rs, s.auditRoutes()...)
	return append(rs, s.cfg.Extra...)
}

// Handler returns the http.Handler serving every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	return mux
}

func (s *Server) wrap(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, err := s.cfg.Auth.Authorize(r, rt.Name)
		if err != nil {
			writeError(w, err)
			return
		}
		if r.ContentLength > s.cfg.MaxBody {
			writeError(w, fmt.Errorf("%w: %d bytes, the limit is %d", errTooLarge, r.ContentLength, s.cfg.MaxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		if err := rt.Handler(w, r.WithContext(withPrincipal(r.Context(), who))); err != nil {
			if StatusOf(err) >= 500 {
				s.cfg.Logger.Error("api call failed", "route", rt.Name, "err", err)
			}
			writeError(w, err)
		}
	}
}

func (s *Server) listCIs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("%w: limit must be 1..1000", errBadRequest)
		}
		limit = n
	}
	items, next, err := s.cfg.Graph.List(r.Context(), cmdb.ListOptions{Class: q.Get("class"), After: q.Get("after"), Limit: limit})
	if err != nil {
		return err
	}
	if items == nil {
		items = []*cmdb.CI{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
	return nil
}

// CIView is a CI with its relationships in both directions.
type CIView struct {
	CI    *cmdb.CI    `json:"ci"`
	Edges []cmdb.Edge `json:"edges"`
}

func (s *Server) getCI(w http.ResponseWriter, r *http.Request) error {
	ci, err := s.cfg.Graph.Resolve(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	edges, err := s.cfg.Graph.Edges(r.Context(), ci.ID)
	if err != nil {
		return err
	}
	if edges == nil {
		edges = []cmdb.Edge{}
	}
	writeJSON(w, http.StatusOK, CIView{CI: ci, Edges: edges})
	return nil
}

func (s *Server) ciHistory(w http.ResponseWriter, r *http.Request) error {
	ci, err := s.cfg.Graph.Resolve(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	h, err := s.cfg.Graph.History(r.Context(), ci.ID, cmdb.HistoryOptions{})
	if err != nil {
		return err
	}
	if h == nil {
		h = []cmdb.HistoryEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ci": ci.ID, "items": h})
	return nil
}
