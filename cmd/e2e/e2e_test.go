package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parc/collector/apiclient"
)

// bins holds the binaries built once for the package's tests.
var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parc-e2e-bin")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/parc-agent", "./cmd/parc-collector", "./cmd/parc")
	cmd.Dir = "../.."
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	bins = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// collectorProc is a running parc-collector.
type collectorProc struct {
	cmd       *exec.Cmd
	data      string
	agentAddr string
	apiAddr   string
	log       string
}

// startCollector runs the real collector binary on free loopback ports.
// A port picked free may be taken before the collector binds it (other
// tests, etcd members): the collector then exits with "address already in
// use" and is started again on new ports, at most three times.
func startCollector(t testing.TB, extra ...string) *collectorProc {
	t.Helper()
	c := &collectorProc{}
	for attempt := 1; ; attempt++ {
		c.data, c.agentAddr, c.apiAddr = t.TempDir(), freeAddr(t), freeAddr(t)
		exited := c.launch(t, extra)
		if c.ready(exited) {
			return c
		}
		b, _ := os.ReadFile(c.log)
		if attempt < 3 && bytes.Contains(b, []byte("address already in use")) {
			t.Logf("collector start %d lost a port race, starting again:\n%s", attempt, b)
			continue
		}
		t.Fatalf("collector not ready:\n%s", b)
	}
}

// launch starts the collector on c's addresses, stopped when the test
// ends; the channel closes when the process exits.
func (c *collectorProc) launch(t testing.TB, extra []string) <-chan struct{} {
	t.Helper()
	c.log = filepath.Join(t.TempDir(), "collector.log")
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--data", c.data, "--agent-addr", c.agentAddr, "--api-addr", c.apiAddr}, extra...)
	cmd := exec.Command(filepath.Join(bins, "parc-collector"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.cmd = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	log := c.log
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("collector log:\n%s", b)
		}
	})
	return exited
}

// readyClient bounds each readiness probe: whoever took a port the
// collector lost may accept and never answer.
var readyClient = &http.Client{Timeout: 2 * time.Second}

// ready waits up to 30 s for the collector's readyz, and gives up at once
// when the process exits.
func (c *collectorProc) ready(exited <-chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		res, err := readyClient.Get("http://" + c.apiAddr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// adminToken returns the API token the collector wrote on first start.
func (c *collectorProc) adminToken(t *testing.T) string {
	t.Helper()
	path := filepath.Join(c.data, "admin.token")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("first start wrote no admin token: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins, name), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dpkgCount is how many packages `dpkg-query -W` lists as installed.
func dpkgCount(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}\n").Output()
	if err != nil {
		t.Skipf("no dpkg on this machine: %v", err)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if l == "installed" {
			n++
		}
	}
	return n
}

// TestAgentReportsThisMachine runs the real agent against the real
// collector over loopback and checks the host CI and its software.
func TestAgentReportsThisMachine(t *testing.T) {
	want := dpkgCount(t)
	c := startCollector(t)
	run(t, "parc-agent", "--collector", c.agentAddr, "--enroll-token", c.enrollToken(t), "--state-dir", t.TempDir(), "--once")

	hostname, _ := os.Hostname()
	tok := c.adminToken(t)
	api := apiclient.New("http://"+c.apiAddr, tok)
	var view struct {
		CI struct {
			ID    string `json:"id"`
			Class string `json:"class"`
		} `json:"ci"`
		Edges []struct {
			Type      string            `json:"type"`
			Direction string            `json:"direction"`
			Attrs     map[string]string `json:"attrs"`
		} `json:"edges"`
	}
	if err := api.Get(context.Background(), "/cis/"+hostname, &view); err != nil {
		t.Fatalf("host CI %s: %v", hostname, err)
	}
	if view.CI.Class != "computer" {
		t.Errorf("class = %q", view.CI.Class)
	}
	installed, contains := 0, 0
	for _, e := range view.Edges {
		switch e.Type {
		case "installed_on":
			installed++
			if e.Attrs["version"] == "" {
				t.Errorf("installed_on without a version: %v", e.Attrs)
			}
		case "contains":
			contains++
		}
	}
	if installed != want {
		t.Errorf("host has %d installed software titles, dpkg-query -W lists %d installed packages", installed, want)
	}
	if contains == 0 {
		t.Error("host contains no components (cpu, disks, NICs)")
	}

	// The CLI reads the same thing.
	out := run(t, "parc", "--api", "http://"+c.apiAddr, "--token", tok, "ci", "list", "--class", "computer")
	if !strings.Contains(out, hostname) {
		t.Errorf("parc ci list does not show %s:\n%s", hostname, out)
	}
	out = run(t, "parc", "--api", "http://"+c.apiAddr, "--token", tok, "ci", "show", hostname, "-o", "json")
	if !strings.Contains(out, `"installed_on"`) {
		t.Errorf("parc ci show -o json lacks installed_on edges")
	}
	out = run(t, "parc", "--api", "http://"+c.apiAddr, "--token", tok, "ci", "history", hostname)
	if !strings.Contains(out, "created") {
		t.Errorf("parc ci history lacks the creation:\n%s", out)
	}
}
