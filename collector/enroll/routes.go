package enroll

import (
	"net/http"
	"time"

	"parc/collector/api"
)

// Routes returns the API routes of enrollment and the agent registry.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/enroll-tokens", Name: "enroll_token.create", Handler: s.createTokenRoute},
		{Method: "GET", Path: "/api/v1/enroll-tokens", Name: "enroll_token.list", Handler: s.listTokensRoute},
		{Method: "DELETE", Path: "/api/v1/enroll-tokens/{id}", Name: "enroll_token.revoke", Handler: s.revokeTokenRoute},
		{Method: "GET", Path: "/api/v1/agents", Name: "agent.list", Handler: s.listAgentsRoute},
		{Method: "POST", Path: "/api/v1/agents/{id}/revoke", Name: "agent.revoke", Handler: s.revokeAgentRoute},
		{Method: "GET", Path: "/api/v1/ca", Name: "ca.get", Handler: s.caRoute},
	}
}

// TokenView is an enrollment token as the API shows it.
type TokenView struct {
	TokenRecord
	State string `json:"state"`
	// Token is the secret token, in the answer to its creation only.
	Token string `json:"token,omitempty"`
}

func (s *Service) createTokenRoute(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		TTL  string `json:"ttl"`
		Uses int    `json:"uses"`
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
	t, rec, err := s.CreateToken(r.Context(), api.Principal(r.Context()), ttl, req.Uses, req.Note)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, TokenView{TokenRecord: rec, State: rec.State(s.cfg.Now()), Token: t.String()})
	return nil
}

func (s *Service) listTokensRoute(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Tokens(r.Context())
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	out := make([]TokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, TokenView{TokenRecord: t, State: t.State(now)})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
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

func (s *Service) listAgentsRoute(w http.ResponseWriter, r *http.Request) error {
	as, err := s.Agents(r.Context())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"items": as})
	return nil
}

func (s *Service) revokeAgentRoute(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.RevokeAgent(r.Context(), api.Principal(r.Context()), id); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"agent_id": id, "revoked": true})
	return nil
}

func (s *Service) caRoute(w http.ResponseWriter, r *http.Request) error {
	ca := s.cfg.CA
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"subject": ca.Cert.Subject.String(), "not_after": ca.Cert.NotAfter.UTC(),
		"sha256": hexPin(ca.Pin()), "pem": string(ca.PEM()),
	})
	return nil
}
