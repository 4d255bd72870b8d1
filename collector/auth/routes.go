package auth

import (
	"net/http"
	"strings"
	"time"

	"parc/collector/api"
)

// Routes returns the API routes of users and tokens.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/users", Name: "user.list", Handler: s.listUsersRoute},
		{Method: "POST", Path: "/api/v1/users", Name: "user.create", Handler: s.createUserRoute},
		{Method: "PATCH", Path: "/api/v1/users/{name}", Name: "user.update", Handler: s.updateUserRoute},
		{Method: "GET", Path: "/api/v1/tokens", Name: "token.list", Handler: s.listTokensRoute},
		{Method: "POST", Path: "/api/v1/tokens", Name: "token.create", Handler: s.createTokenRoute},
		{Method: "DELETE", Path: "/api/v1/tokens/{id}", Name: "token.revoke", Handler: s.revokeTokenRoute},
		{Method: "GET", Path: "/api/v1/whoami", Name: "auth.whoami", Handler: s.whoamiRoute},
	}
}

func (s *Service) listUsersRoute(w http.ResponseWriter, r *http.Request) error {
	us, err := s.Users(r.Context())
	if err != nil {
		return err
	}
	if us == nil {
		us = []User{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"items": us})
	return nil
}

func (s *Service) createUserRoute(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name    string `json:"name"`
		Role    Role   `json:"role"`
		Service bool   `json:"service"`
	}
	if err := api.ReadJSON(r, &req); err != nil {
		return err
	}
	u, err := s.CreateUser(r.Context(), api.Principal(r.Context()), req.Name, req.Role, req.Service)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Service) updateUserRoute(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Role     *Role `json:"role"`
		Disabled *bool `json:"disabled"`
	}
	if err := api.ReadJSON(r, &req); err != nil {
		return err
	}
	u, err := s.UpdateUser(r.Context(), api.Principal(r.Context()), r.PathValue("name"), UserUpdate(req))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, u)
	return nil
}

// TokenView is a token as the API shows it.
type TokenView struct {
	TokenRecord
	// Token is the secret, in the answer to its creation only.
	Token string `json:"token,omitempty"`
}

func (s *Service) createTokenRoute(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		User string `json:"user"`
		TTL  string `json:"ttl"`
		Note string `json:"note"`
	}
	if err := api.ReadJSON(r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return api.BadRequest("ttl: %v", err)
		}
		ttl = d
	}
	if req.User == "" {
		_, req.User, _ = strings.Cut(api.Principal(r.Context()), ":")
	}
	t, rec, err := s.CreateToken(r.Context(), api.Principal(r.Context()), req.User, ttl, req.Note)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, TokenView{TokenRecord: rec, Token: t.String()})
	return nil
}

func (s *Service) listTokensRoute(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Tokens(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []TokenRecord{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"items": ts})
	return nil
}

func (s *Service) revokeTokenRoute(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.RevokeToken(r.Context(), api.Principal(r.Context()), id); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
	return nil
}

func (s *Service) whoamiRoute(w http.ResponseWriter, r *http.Request) error {
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	u, t, err := s.Authenticate(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"principal": u.Principal(), "user": u.Name, "role": u.Role, "token_id": t.ID})
	return nil
}
