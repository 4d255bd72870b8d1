package gather

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	parcv1 "parc/proto/parc/v1"
)

// servicesGatherer lists systemd service units with their state, where
// systemd is the running init (/run/systemd/system exists). It asks
// `systemctl list-units --output=json` (systemd 246+) and falls back to the
// plain table of older versions. D-Bus is not used.
func servicesGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	if !exists(env.Path("/run/systemd/system")) {
		return nil, ErrNotPresent
	}
	if _, err := env.Runner.LookPath("systemctl"); err != nil {
		return nil, fmt.Errorf("systemd runs but systemctl is missing: %w", err)
	}
	args := []string{"list-units", "--type=service", "--all", "--no-pager", "--output=json"}
	out, err := env.Runner.Output(ctx, "systemctl", args...)
	if err == nil {
		if items, perr := parseSystemctlJSON(out); perr == nil {
			return &parcv1.Inventory{Services: &parcv1.Services{Items: items}}, nil
		}
	}
	out, err = env.Runner.Output(ctx, "systemctl", "list-units", "--type=service", "--all", "--no-pager", "--plain", "--no-legend")
	if err != nil {
		return nil, fmt.Errorf("systemctl list-units: %w", err)
	}
	items, perr := parseSystemctlPlain(string(out))
	return &parcv1.Inventory{Services: &parcv1.Services{Items: items}}, perr
}

func parseSystemctlJSON(b []byte) ([]*parcv1.Service, error) {
	var units []struct {
		Unit        string `json:"unit"`
		Active      string `json:"active"`
		Sub         string `json:"sub"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(b, &units); err != nil {
		return nil, fmt.Errorf("systemctl json: %w: %w", err, ErrMalformed)
	}
	var out []*parcv1.Service
	for _, u := range units {
		if u.Unit == "" {
			continue
		}
		out = append(out, &parcv1.Service{Name: u.Unit, Description: u.Description, State: u.Active, SubState: u.Sub})
	}
	return out, nil
}

// parseSystemctlPlain reads "UNIT LOAD ACTIVE SUB DESCRIPTION…" lines.
func parseSystemctlPlain(s string) ([]*parcv1.Service, error) {
	var out []*parcv1.Service
	bad := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimLeft(line, "●* ")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 4 {
			bad++
			continue
		}
		out = append(out, &parcv1.Service{Name: f[0], State: f[2], SubState: f[3], Description: strings.Join(f[4:], " ")})
	}
	if bad > 0 {
		return out, fmt.Errorf("systemctl: %d unparsable lines: %w", bad, ErrMalformed)
	}
	return out, nil
}
