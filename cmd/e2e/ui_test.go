package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"parc/collector/apiclient"
	parcv1 "parc/proto/parc/v1"
)

// chromium returns the path of a headless-capable Chromium, or skips (CI
// installs it and sets PARC_REQUIRE_CHROMIUM, which turns the skip into a
// failure).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PARC_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium is not installed")
	}
	t.Skip("chromium is not installed")
	return ""
}

// dumpDOM loads url in headless Chromium and returns the DOM after the
// page's scripts ran.
func dumpDOM(t *testing.T, browser, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out)
}

// sendReport streams one full report to the collector over real gRPC.
func sendReport(t *testing.T, addr string, r *parcv1.Report, opts ...grpc.DialOption) {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := parcv1.NewAgentServiceClient(conn).Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(r); err != nil {
		t.Fatal(err)
	}
	ack, err := stream.Recv()
	if err != nil {
		t.Fatalf("report not acknowledged: %v", err)
	}
	if ack.GetSequence() != r.GetSequence() {
		t.Fatalf("ack for %d, sent %d", ack.GetSequence(), r.GetSequence())
	}
	_ = stream.CloseSend()
}

const hostile = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`

// TestUIEscapesAgentStrings renders a CI whose name and attributes are
// hostile HTML in a real Chromium and checks they appear as text.
func TestUIEscapesAgentStrings(t *testing.T) {
	browser := chromium(t)
	c := startCollector(t, "--insecure-dev")
	sendReport(t, c.agentAddr, &parcv1.Report{
		AgentId: "ui-test-agent", BootId: "b1", Sequence: 1, Kind: parcv1.Report_FULL,
		CollectedAt: time.Now().UnixMilli(),
		Inventory: &parcv1.Inventory{
			System:   &parcv1.System{Hostname: "evil-host", OsName: hostile, MachineId: "ui-test-machine"},
			Software: &parcv1.SoftwareList{Items: []*parcv1.Software{{Name: "pkg" + hostile, Version: "1<b>2</b>"}}},
		},
	})
	tok := c.adminToken(t)
	api := apiclient.New("http://"+c.apiAddr, tok)
	var v struct {
		CI struct{ ID string } `json:"ci"`
	}
	if err := api.Get(context.Background(), "/cis/evil-host", &v); err != nil {
		t.Fatal(err)
	}

	dom := dumpDOM(t, browser, "http://"+c.apiAddr+"/#/ci/"+url.PathEscape(v.CI.ID)+"?token="+tok)
	if !strings.Contains(dom, `id="ci-name"`) || !strings.Contains(dom, "evil-host") {
		t.Fatalf("CI page did not render:\n%s", dom)
	}
	if !strings.Contains(dom, "<title>Parc</title>") {
		t.Error("a script from agent data changed the page title")
	}
	if strings.Contains(dom, `<img src="x"`) || strings.Contains(dom, "<script>document.title") {
		t.Errorf("agent-reported HTML was parsed into the page:\n%s", dom)
	}
	if !strings.Contains(dom, "&lt;img src=x") {
		t.Errorf("hostile string not shown as text:\n%s", dom)
	}

	list := dumpDOM(t, browser, "http://"+c.apiAddr+"/#/?class=computer&token="+tok)
	if !strings.Contains(list, `id="cis"`) || !strings.Contains(list, "evil-host") {
		t.Errorf("CI list did not render the host:\n%s", list)
	}
}
