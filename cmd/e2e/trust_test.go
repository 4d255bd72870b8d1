package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parc/collector/apiclient"
)

// parc runs the CLI against c with its first-start admin token.
func (c *collectorProc) parc(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "parc", append([]string{"--api", "http://" + c.apiAddr, "--token", c.adminToken(t)}, args...)...)
}

// enrollToken creates a one-use enrollment token with the CLI; the token
// is the last line of its output.
func (c *collectorProc) enrollToken(t *testing.T) string {
	t.Helper()
	out := strings.TrimSpace(c.parc(t, "enroll-token", "create", "--ttl", "10m", "--uses", "1"))
	lines := strings.Split(out, "\n")
	return lines[len(lines)-1]
}

// TestEnrollOverMTLS runs the real binaries: an admin creates a token with
// the CLI, the agent enrolls with it and reports over mTLS, restarts with
// its state directory alone, shows up in `parc agent list`, is revoked,
// and its next connection fails at once. The audit log has it all.
func TestEnrollOverMTLS(t *testing.T) {
	c := startCollector(t)
	state := t.TempDir()
	run(t, "parc-agent", "--collector", c.agentAddr, "--enroll-token", c.enrollToken(t), "--state-dir", state, "--once")
	for _, f := range []string{"agent.key", "agent.crt", "ca.crt"} {
		st, err := os.Stat(filepath.Join(state, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("state dir %s: %v %v, want mode 0600", f, st, err)
		}
	}
	idb, _ := os.ReadFile(filepath.Join(state, "agent-id"))
	id := strings.TrimSpace(string(idb))

	// Restart with the state dir alone (no token).
	run(t, "parc-agent", "--collector", c.agentAddr, "--state-dir", state, "--once")

	hostname, _ := os.Hostname()
	api := apiclient.New("http://"+c.apiAddr, c.adminToken(t))
	var view struct {
		CI struct{ ID string } `json:"ci"`
	}
	if err := api.Get(context.Background(), "/cis/"+hostname, &view); err != nil {
		t.Fatalf("host CI: %v", err)
	}
	list := c.parc(t, "agent", "list")
	if !strings.Contains(list, id) || !strings.Contains(list, "enrolled") || !strings.Contains(list, "0.1") {
		t.Errorf("parc agent list lacks %s with status and version:\n%s", id, list)
	}

	// A used-up token enrolls nobody.
	tok := c.enrollToken(t)
	run(t, "parc-agent", "--collector", c.agentAddr, "--enroll-token", tok, "--state-dir", t.TempDir(), "--once")
	out, err := exec.Command(filepath.Join(bins, "parc-agent"), "--collector", c.agentAddr, "--enroll-token", tok,
		"--state-dir", t.TempDir(), "--once").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Unauthenticated") {
		t.Errorf("second use of a one-use token: err %v\n%s", err, out)
	}

	c.parc(t, "agent", "revoke", id)
	start := time.Now()
	out, err = exec.Command(filepath.Join(bins, "parc-agent"), "--collector", c.agentAddr, "--state-dir", state,
		"--once", "--timeout", "5s").CombinedOutput()
	if err == nil {
		t.Fatalf("a revoked agent still reports:\n%s", out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("revoked agent took %s to be refused", d)
	}
	if !strings.Contains(string(out), "PermissionDenied") && !strings.Contains(string(out), "revoked") {
		t.Errorf("revoked agent's error does not say why:\n%s", out)
	}

	aud := c.parc(t, "audit", "--limit", "1000")
	for _, want := range []string{"enroll_token.create", "agent.enroll", "ingest.report", "agent.revoke", "user:admin"} {
		if !strings.Contains(aud, want) {
			t.Errorf("parc audit lacks %s:\n%s", want, aud)
		}
	}
	if out := c.parc(t, "audit", "--action", "agent.revoke", "-o", "json"); !strings.Contains(out, "agent/"+id) {
		t.Errorf("parc audit --action agent.revoke:\n%s", out)
	}
}

// TestAPIRefusesWithoutToken: the API answers 401 without a token and 403
// to a role that may not call a route.
func TestAPIRefusesWithoutToken(t *testing.T) {
	c := startCollector(t)
	if err := apiclient.New("http://"+c.apiAddr, "").Get(context.Background(), "/cis", nil); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Errorf("no token: %v, want 401", err)
	}
	c.parc(t, "user", "create", "vera", "--role", "viewer")
	out := strings.TrimSpace(c.parc(t, "token", "create", "--user", "vera"))
	viewer := out[strings.LastIndex(out, "\n")+1:]
	api := apiclient.New("http://"+c.apiAddr, viewer)
	if err := api.Get(context.Background(), "/cis", nil); err != nil {
		t.Errorf("viewer reads: %v", err)
	}
	if err := api.Do(context.Background(), "POST", "/enroll-tokens", map[string]any{}, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("viewer creates an enrollment token: %v, want 403", err)
	}
	// The CLI picks the token from PARC_TOKEN.
	cmd := exec.Command(filepath.Join(bins, "parc"), "--api", "http://"+c.apiAddr, "ci", "list")
	cmd.Env = append(os.Environ(), "PARC_TOKEN="+viewer, "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("parc with PARC_TOKEN: %v\n%s", err, out)
	}
}
