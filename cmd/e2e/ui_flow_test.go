package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parc/collector/apiclient"
	parcv1 "parc/proto/parc/v1"
)

// browserCtx starts a fresh headless Chromium (own user-data-dir) and
// returns a chromedp context bounded by timeout.
func browserCtx(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitJS polls a JavaScript expression in the page until it is truthy.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))
}

// evalString evaluates expr (a string) in the page.
func evalString(ctx context.Context, t *testing.T, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// goTo empties the page and changes its fragment (the UI routes on
// hashchange), then waits for the element of the new view.
func goTo(ctx context.Context, t *testing.T, hash, ready string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void]("document.getElementById('main').replaceChildren(); location.hash = "+strconv.Quote(hash)),
		waitJS(fmt.Sprintf("!!document.querySelector(%q)", ready))); err != nil {
		t.Fatalf("go to %s (waiting for %s): %v\npage: %s", hash, ready, err, pageText(ctx))
	}
}

func pageText(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(tctx, chromedp.Evaluate[string]("document.body.innerText"))
	return s
}

// shot saves a full-page screenshot in $PARC_UI_SHOTS (or a temp dir).
func shot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("PARC_UI_SHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noInjection checks that no agent-reported markup became an element and
// that no script of it ran.
func noInjection(ctx context.Context, t *testing.T, where string) {
	t.Helper()
	if title := evalString(ctx, t, "document.title"); title != "Parc" {
		t.Errorf("%s: page title is %q: a script from agent data ran", where, title)
	}
	if n := evalString(ctx, t, `String(document.querySelectorAll("main img, main script, main b, #graph img, #graph script").length)`); n != "0" {
		t.Errorf("%s: %s elements from agent data were injected", where, n)
	}
}

// uiFixture is a collector with one host reported by an agent whose
// strings are hostile, an open incident derived from its health event and
// a change on its disk waiting for approval.
type uiFixture struct {
	c        *collectorProc
	admin    string
	api      *apiclient.Client
	hostID   string
	diskID   string
	swID     string
	change   string
	cmToken  string
	incident string
}

func newUIFixture(t *testing.T) *uiFixture {
	t.Helper()
	f := &uiFixture{c: startCollector(t, "--insecure-dev")}
	now := time.Now()
	sw := []*parcv1.Software{{Name: "pkg" + hostile, Version: "1<b>2</b>", Source: "dpkg"}}
	for i := range 24 {
		sw = append(sw, &parcv1.Software{Name: fmt.Sprintf("lib-%02d", i), Version: "1.0", Source: "dpkg"})
	}
	sendReport(t, f.c.agentAddr, &parcv1.Report{
		AgentId: "ui-flow-agent", BootId: "b1", Sequence: 1, Kind: parcv1.Report_FULL, CollectedAt: now.UnixMilli(),
		Inventory: &parcv1.Inventory{
			System:   &parcv1.System{Hostname: "web-01", OsName: hostile, MachineId: "ui-flow-machine"},
			Disks:    &parcv1.Disks{Items: []*parcv1.Disk{{Name: "sda", Model: "disk" + hostile, Serial: "SER-UI-1", SizeBytes: 500 << 30}}},
			Software: &parcv1.SoftwareList{Items: sw},
		},
		Events: []*parcv1.HealthEvent{{Kind: parcv1.HealthEvent_SERVICE_FAILED, Subject: "svc" + hostile, Message: "exited 1", ObservedAt: now.UnixMilli()}},
	})
	// A second host with the hostile title: two installs of a one-seat licence.
	sendReport(t, f.c.agentAddr, &parcv1.Report{
		AgentId: "ui-flow-agent-2", BootId: "b1", Sequence: 1, Kind: parcv1.Report_FULL, CollectedAt: now.UnixMilli(),
		Inventory: &parcv1.Inventory{
			System:   &parcv1.System{Hostname: "web-02", OsName: "Debian", MachineId: "ui-flow-machine-2"},
			Software: &parcv1.SoftwareList{Items: sw[:1]},
		},
	})
	f.admin = f.c.adminToken(t)
	f.api = apiclient.New("http://"+f.c.apiAddr, f.admin)
	ctx := context.Background()
	if err := f.api.Do(ctx, "POST", "/licences", map[string]any{"name": "Pkg" + hostile, "product": "pkg" + hostile, "metric": "device", "seats": 1}, nil); err != nil {
		t.Fatal(err)
	}
	// A hand-entered asset whose warranty ends in ten days.
	if err := f.api.Do(ctx, "POST", "/assets", map[string]any{"asset_tag": "AT-UI-1", "vendor": "Dell", "serial": "S-UI-1",
		"warranty_end": now.AddDate(0, 0, 10).Format("2006-01-02")}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the licence report to show the over-deployment", func() bool {
		var rep struct {
			Summary struct {
				OverDeployed int `json:"over_deployed"`
			} `json:"summary"`
		}
		return f.api.Get(ctx, "/licences/compliance", &rep) == nil && rep.Summary.OverDeployed == 1
	})

	var host struct {
		CI    struct{ ID string } `json:"ci"`
		Edges []struct {
			Type, Direction, Other string
			OtherName              string `json:"other_name"`
		} `json:"edges"`
	}
	if err := f.api.Get(ctx, "/cis/web-01", &host); err != nil {
		t.Fatal(err)
	}
	f.hostID = host.CI.ID
	for _, e := range host.Edges {
		if e.Type == "contains" && e.Direction == "out" && strings.Contains(e.OtherName, "disk") {
			f.diskID = e.Other
		}
		if e.Type == "installed_on" && strings.HasPrefix(e.OtherName, "pkg") {
			f.swID = e.Other
		}
	}
	if f.diskID == "" || f.swID == "" {
		t.Fatalf("no disk or hostile software on the host: %+v", host.Edges)
	}

	// The health event opens an incident (the linker follows ev/).
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list struct {
			Items []struct{ Number string } `json:"items"`
		}
		if err := f.api.Get(ctx, "/incidents?status=open", &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			f.incident = list.Items[0].Number
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no incident opened for the failed service")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A change on the disk (its host depends on it), submitted by admin.
	var ch struct {
		Number string `json:"number"`
		State  string `json:"state"`
	}
	start := now.Add(24 * time.Hour).UTC().Truncate(time.Minute)
	if err := f.api.Do(ctx, "POST", "/changes", map[string]any{"type": "normal", "title": "Replace disk of web-01", "cis": []string{f.diskID},
		"window": map[string]any{"start": start, "end": start.Add(time.Hour)}, "implementation_plan": "swap", "backout_plan": "swap back"}, &ch); err != nil {
		t.Fatal(err)
	}
	f.change = ch.Number
	if err := f.api.Do(ctx, "POST", "/changes/"+ch.Number+"/submit", nil, &ch); err != nil {
		t.Fatal(err)
	}
	if ch.State != "authorize" {
		t.Fatalf("submitted change is in %s, want authorize", ch.State)
	}

	// A change manager, through the API.
	if err := f.api.Do(ctx, "POST", "/users", map[string]any{"name": "carol", "role": "change_manager"}, nil); err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := f.api.Do(ctx, "POST", "/tokens", map[string]any{"user": "carol"}, &tok); err != nil {
		t.Fatal(err)
	}
	f.cmToken = tok.Token
	return f
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (f *uiFixture) url(hash, token string) string {
	u := "http://" + f.c.apiAddr + "/" + hash
	if token != "" {
		sep := "?"
		if strings.Contains(hash, "?") {
			sep = "&"
		}
		u += sep + "token=" + url.QueryEscape(token)
	}
	return u
}

// TestUIFlow drives the web UI in a real headless Chromium against the
// real collector: dashboard, CI page with its graph, change approval.
func TestUIFlow(t *testing.T) {
	f := newUIFixture(t)
	ctx := browserCtx(t, 60*time.Second)

	t.Run("dashboard shows real counts", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.url("#/", f.admin)),
			waitJS(`document.querySelector("#dash-open-incidents") && document.querySelector("#dash-awaiting")`)); err != nil {
			t.Fatalf("dashboard: %v\n%s", err, pageText(ctx))
		}
		checks := map[string]string{
			`document.querySelector('#dash-classes td[data-class="computer"]').textContent`: "3", // two hosts, one hand-entered asset
			`document.querySelector('#dash-classes td[data-class="software"]').textContent`: "25",
			`document.querySelector('#dash-classes td[data-class="disk"]').textContent`:     "1",
			`document.querySelector("#dash-open-incidents").textContent`:                    "1",
			`document.querySelector("#dash-awaiting").textContent`:                          "1",
			`document.querySelector("#dash-over").textContent`:                              "1",
			`document.querySelector("#dash-due").textContent`:                               "1",
		}
		for expr, want := range checks {
			if got := evalString(ctx, t, expr); got != want {
				t.Errorf("%s = %q, want %q", expr, got, want)
			}
		}
		// The incident's description carries the agent's hostile service name.
		if txt := evalString(ctx, t, `document.querySelector("#dash-incident-list").textContent`); !strings.Contains(txt, "svc<img src=x") {
			t.Errorf("dashboard incident list lacks the hostile subject as text: %q", txt)
		}
		if txt := evalString(ctx, t, `document.querySelector("#card-changes").textContent`); !strings.Contains(txt, f.change) {
			t.Errorf("dashboard does not list %s awaiting approval: %q", f.change, txt)
		}
		noInjection(ctx, t, "dashboard")
		shot(ctx, t, "dashboard")
	})

	t.Run("CI page shows hostile strings as text, graph and impact", func(t *testing.T) {
		goTo(ctx, t, "#/ci/"+url.PathEscape(f.hostID), "#graph")
		if err := chromedp.Do(ctx, waitJS(`document.querySelector("#impact") || document.querySelector("main p.muted + p")`)); err != nil {
			t.Fatal(err)
		}
		if txt := evalString(ctx, t, `document.querySelector("#attrs").textContent`); !strings.Contains(txt, "<img src=x onerror=") {
			t.Errorf("os_name not shown as text: %q", txt)
		}
		// 25 installed titles collapse into one count node; the disk is drawn.
		if txt := evalString(ctx, t, `[...document.querySelectorAll("#graph .node.count")].map(n => n.textContent).join("|")`); !strings.Contains(txt, "25 × software") {
			t.Errorf("graph count node = %q, want 25 × software", txt)
		}
		if txt := evalString(ctx, t, `document.querySelector("#graph").textContent`); !strings.Contains(txt, "web-01 disk sda") || !strings.Contains(txt, "contains") {
			t.Errorf("graph lacks the disk or the edge label: %q", txt)
		}
		if txt := evalString(ctx, t, `document.querySelector("#ci-incidents").textContent`); !strings.Contains(txt, f.incident) {
			t.Errorf("CI page lacks open incident %s: %q", f.incident, txt)
		}
		noInjection(ctx, t, "host page")
		shot(ctx, t, "ci")

		// The software CI's own page draws its hostile name in the centre.
		goTo(ctx, t, "#/ci/"+url.PathEscape(f.swID), "#graph")
		if txt := evalString(ctx, t, `document.querySelector("#graph .centre").textContent`); !strings.Contains(txt, "pkg<img src=x") {
			t.Errorf("graph centre = %q", txt)
		}
		noInjection(ctx, t, "software page")

		// The disk's impact table lists the host that depends on it.
		goTo(ctx, t, "#/ci/"+url.PathEscape(f.diskID), "#impact")
		if txt := evalString(ctx, t, `document.querySelector("#impact").textContent`); !strings.Contains(txt, "web-01") {
			t.Errorf("disk impact lacks web-01: %q", txt)
		}
		noInjection(ctx, t, "disk page")
	})

	t.Run("change impact and approval", func(t *testing.T) {
		goTo(ctx, t, "#/change/"+f.change, "#change-impact")
		if txt := evalString(ctx, t, `document.querySelector("#impact-downstream").textContent`); !strings.Contains(txt, "web-01") || !strings.Contains(txt, "→") {
			t.Errorf("change impact lacks the dependant host with its path: %q", txt)
		}
		if s := evalString(ctx, t, `document.querySelector("#risk-score").textContent`); s == "" {
			t.Error("no risk score")
		}
		// The requester may not approve their own change: the API's error
		// shows in the page.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#approve")),
			waitJS(`document.querySelector("#action-error").textContent.length > 0`)); err != nil {
			t.Fatal(err)
		}
		if txt := evalString(ctx, t, `document.querySelector("#action-error").textContent`); !strings.Contains(txt, "cannot decide") {
			t.Errorf("action error = %q", txt)
		}
		// The change manager approves.
		goTo(ctx, t, "#/changes?token="+url.QueryEscape(f.cmToken), "#changes")
		goTo(ctx, t, "#/change/"+f.change, "#approve")
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#comment"), "ok <b>by me</b>"),
			chromedp.Click(chromedp.CSS("#approve")), waitJS(`!!document.querySelector("#flash")`)); err != nil {
			t.Fatalf("approve: %v\n%s", err, pageText(ctx))
		}
		flash := evalString(ctx, t, `document.querySelector("#flash").textContent`)
		if !strings.Contains(flash, "Approved") && !strings.Contains(flash, "Approval recorded") {
			t.Errorf("flash = %q", flash)
		}
		if txt := evalString(ctx, t, `document.querySelector("#approvals").textContent`); !strings.Contains(txt, "user:carol") || !strings.Contains(txt, "ok <b>by me</b>") {
			t.Errorf("approvals table = %q", txt)
		}
		shot(ctx, t, "change")
		var c struct {
			Approved  bool `json:"approved"`
			Approvals []struct {
				By, Decision, Comment string
			} `json:"approvals"`
			Required struct {
				Quorum int `json:"quorum"`
			} `json:"required"`
		}
		if err := f.api.Get(context.Background(), "/changes/"+f.change, &c); err != nil {
			t.Fatal(err)
		}
		if len(c.Approvals) != 1 || c.Approvals[0].By != "user:carol" || c.Approvals[0].Decision != "approved" || c.Approvals[0].Comment != "ok <b>by me</b>" {
			t.Errorf("approvals in the store = %+v", c.Approvals)
		}
		if c.Required.Quorum <= 1 && !c.Approved {
			t.Errorf("quorum %d met but the change is not approved", c.Required.Quorum)
		}
		if c.Approved != strings.Contains(flash, "Approved") {
			t.Errorf("flash %q disagrees with approved=%v", flash, c.Approved)
		}
	})

	t.Run("incidents, licences and lifecycle views", func(t *testing.T) {
		goTo(ctx, t, "#/incidents?status=open", "#incidents")
		goTo(ctx, t, "#/incident/"+f.incident, "#timeline")
		if txt := evalString(ctx, t, `document.querySelector("#incident-title").textContent`); !strings.Contains(txt, "svc<img src=x") {
			t.Errorf("incident title = %q", txt)
		}
		noInjection(ctx, t, "incident page")
		goTo(ctx, t, "#/licences", "#licences")
		if txt := evalString(ctx, t, `[...document.querySelectorAll("#licences tbody tr")].map(r => [...r.cells].map(c => c.textContent).join("|")).join("\\n")`); !strings.Contains(txt, "Pkg<img src=x") || !strings.Contains(txt, "|1|1|1|0|2|over_deployed|") {
			t.Errorf("licence table = %q, want entitled 1, used 1, over-deployed 1, unused 0, installs 2", txt)
		}
		// The install no seat covers is listed, folded under its title.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#unlicensed details summary")), waitJS(`document.querySelector("#unlicensed details").open`)); err != nil {
			t.Fatalf("expand unlicensed installs: %v\n%s", err, pageText(ctx))
		}
		if txt := evalString(ctx, t, `document.querySelector("#unlicensed").textContent`); !strings.Contains(txt, "pkg<img") || !strings.Contains(txt, "web-0") {
			t.Errorf("unlicensed installs = %q", txt)
		}
		noInjection(ctx, t, "licences page")
		shot(ctx, t, "licences")
		goTo(ctx, t, "#/lifecycle", "#due")
		if txt := evalString(ctx, t, `document.querySelector("#due").textContent`); !strings.Contains(txt, "AT-UI-1") {
			t.Errorf("lifecycle due list = %q", txt)
		}
		// Filters: the incident is P4; nothing is P1.
		goTo(ctx, t, "#/incidents?status=open&priority=4", "#incidents")
		if txt := evalString(ctx, t, `document.querySelector("#incidents").textContent`); !strings.Contains(txt, f.incident) {
			t.Errorf("P4 open incidents = %q", txt)
		}
		goTo(ctx, t, "#/incidents?status=open&priority=1", "#incidents")
		if txt := evalString(ctx, t, `document.querySelector("#incidents").textContent`); strings.Contains(txt, f.incident) {
			t.Errorf("P1 filter lists %s: %q", f.incident, txt)
		}
	})

	t.Run("CI list search and class filter", func(t *testing.T) {
		goTo(ctx, t, "#/cis?class=computer", "#cis")
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#search"), "web-02"), chromedp.Click(chromedp.CSS("#search-go")),
			waitJS(`location.hash.includes("q=web-02") && document.querySelector("#cis") && !document.querySelector("#cis").textContent.includes("web-01")`)); err != nil {
			t.Fatalf("search: %v\n%s", err, pageText(ctx))
		}
		if txt := evalString(ctx, t, `document.querySelector("#cis").textContent`); !strings.Contains(txt, "web-02") {
			t.Errorf("search for web-02 = %q", txt)
		}
		goTo(ctx, t, "#/cis?class=software", "#cis")
		if n := evalString(ctx, t, `String(document.querySelectorAll("#cis tbody tr").length)`); n != "25" {
			t.Errorf("software list has %s rows, want 25", n)
		}
	})
}

// TestUITokenPrompt checks that a 401 shows the token prompt and that the
// token typed there is used.
func TestUITokenPrompt(t *testing.T) {
	c := startCollector(t, "--insecure-dev")
	tok := c.adminToken(t)
	ctx := browserCtx(t, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+c.apiAddr+"/#/?token=not-a-token"), waitJS(`!!document.querySelector("#token")`)); err != nil {
		t.Fatalf("no token prompt after a 401: %v\n%s", err, pageText(ctx))
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), tok), chromedp.Click(chromedp.CSS("#save-token")),
		waitJS(`!!document.querySelector("#dashboard")`)); err != nil {
		t.Fatalf("token not used: %v\n%s", err, pageText(ctx))
	}
	// The page asks who the token belongs to after it has drawn, so the
	// header fills in a moment later than the dashboard.
	if err := chromedp.Do(ctx, waitJS(`document.querySelector("#who").textContent.includes("admin")`)); err != nil {
		t.Errorf("who = %q: %v", evalString(ctx, t, `document.querySelector("#who").textContent`), err)
	}
}
