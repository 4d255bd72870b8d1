package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"parc/agent/gather"
	"parc/agent/internal/fakecollector"
	parcv1 "parc/proto/parc/v1"
)

// machine is a fake machine whose software list tests change while the
// agent runs.
type machine struct {
	mu       sync.Mutex
	software []string
	fsUsed   uint64
}

func (m *machine) set(sw ...string) {
	m.mu.Lock()
	m.software = sw
	m.mu.Unlock()
}

func (m *machine) gatherers() map[string]gather.Gatherer {
	return map[string]gather.Gatherer{
		"system": gather.Func(func(context.Context, *gather.Env) (*parcv1.Inventory, error) {
			return &parcv1.Inventory{System: &parcv1.System{Hostname: "web01", OsName: "Debian GNU/Linux"}}, nil
		}),
		"software": gather.Func(func(context.Context, *gather.Env) (*parcv1.Inventory, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			l := &parcv1.SoftwareList{}
			for _, n := range m.software {
				l.Items = append(l.Items, &parcv1.Software{Name: n, Version: "1", Source: "dpkg"})
			}
			return &parcv1.Inventory{Software: l}, nil
		}),
		"filesystems": gather.Func(func(context.Context, *gather.Env) (*parcv1.Inventory, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			return &parcv1.Inventory{Filesystems: &parcv1.Filesystems{Items: []*parcv1.Filesystem{
				{Device: "/dev/vda1", MountPoint: "/", Type: "ext4", SizeBytes: 1000, UsedBytes: m.fsUsed}}}}, nil
		}),
	}
}

// staticGatherers returns gatherers that report a fixed machine whose
// software list can be changed between runs.
func staticGatherers(software *[]string) map[string]gather.Gatherer {
	return map[string]gather.Gatherer{
		"system": gather.Func(func(context.Context, *gather.Env) (*parcv1.Inventory, error) {
			return &parcv1.Inventory{System: &parcv1.System{Hostname: "web01", OsName: "Debian GNU/Linux"}}, nil
		}),
		"software": gather.Func(func(context.Context, *gather.Env) (*parcv1.Inventory, error) {
			l := &parcv1.SoftwareList{}
			for _, n := range *software {
				l.Items = append(l.Items, &parcv1.Software{Name: n, Version: "1", Source: "dpkg"})
			}
			return &parcv1.Inventory{Software: l}, nil
		}),
	}
}

func testConfig(t *testing.T, srv *fakecollector.Server, software *[]string) Config {
	cfg := DefaultConfig()
	cfg.Collector = fakecollector.Target
	cfg.StateDir = t.TempDir()
	cfg.DialOptions = srv.DialOptions()
	cfg.Gatherers = staticGatherers(software)
	return cfg
}

func TestOnceSendsOneFullReport(t *testing.T) {
	srv := fakecollector.Start(t)
	sw := []string{"bash", "curl"}
	cfg := testConfig(t, srv, &sw)
	cfg.Once = true
	if err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	got := srv.Reports()
	if len(got) != 2 {
		t.Fatalf("got %d reports, want 2", len(got))
	}
	for _, r := range got {
		if r.Kind != parcv1.Report_FULL || r.Sequence != 1 || r.Inventory.GetSystem().GetHostname() != "web01" {
			t.Errorf("report = kind %v seq %d, want FULL 1 with the system", r.Kind, r.Sequence)
		}
		if len(r.SectionHashes) != 11 {
			t.Errorf("report has %d section hashes, want 11", len(r.SectionHashes))
		}
	}
	if got[0].AgentId == "" || got[0].AgentId != got[1].AgentId {
		t.Errorf("agent ids %q, %q: want one persisted id", got[0].AgentId, got[1].AgentId)
	}
	if got[0].BootId == got[1].BootId {
		t.Errorf("boot id %q reused across process starts", got[0].BootId)
	}
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, agentIDFile))
	if err != nil || strings.TrimSpace(string(b)) != got[0].AgentId {
		t.Errorf("state dir holds %q (%v), want %q", b, err, got[0].AgentId)
	}
}

func TestOnceFailsWhenUnreachable(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.Stop()
	sw := []string{"bash"}
	cfg := testConfig(t, srv, &sw)
	cfg.Once = true
	cfg.Timeout = 300 * time.Millisecond
	err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestValidateSaysWhatIsMissing(t *testing.T) {
	cfg := DefaultConfig()
	err := cfg.Validate()
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "--collector") || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("err = %v", err)
	}
}

// runDaemon runs the agent in the background until the test ends.
func runDaemon(t *testing.T, cfg Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestDeltasAndHeartbeats: FULL first, HEARTBEATs under 1 KiB while nothing
// changes (a little filesystem growth included), then a DELTA with only
// the changed section, then heartbeats again.
func TestDeltasAndHeartbeats(t *testing.T) {
	srv := fakecollector.Start(t)
	m := &machine{software: []string{"bash", "curl"}, fsUsed: 500}
	cfg := testConfig(t, srv, nil)
	cfg.Gatherers = m.gatherers()
	cfg.HeartbeatInterval = 5 * time.Millisecond
	cfg.SMART = false
	stop := runDaemon(t, cfg)
	ctx := waitCtx(t)
	srv.Wait(ctx, 3)
	m.mu.Lock()
	m.fsUsed = 503 // 50.3 %: same whole percent, no delta
	m.mu.Unlock()
	n := len(srv.Wait(ctx, 5))
	m.set("bash", "curl", "nginx")
	srv.Wait(ctx, n+3)
	stop()

	got := srv.Reports()
	if got[0].Kind != parcv1.Report_FULL || got[0].Inventory.GetSoftware() == nil {
		t.Fatalf("first report is %v, want FULL with every section", got[0].Kind)
	}
	deltas := 0
	for i, r := range got {
		if r.Sequence != uint64(i+1) || r.BootId != got[0].BootId {
			t.Fatalf("report %d has sequence %d boot %s", i, r.Sequence, r.BootId)
		}
		switch r.Kind {
		case parcv1.Report_HEARTBEAT:
			if r.Inventory != nil {
				t.Errorf("heartbeat %d carries an inventory", r.Sequence)
			}
			if size := proto.Size(r); size >= 1024 {
				t.Errorf("heartbeat %d is %d bytes, want < 1024", r.Sequence, size)
			}
		case parcv1.Report_DELTA:
			deltas++
			if r.Inventory.GetSystem() != nil || r.Inventory.GetFilesystems() != nil || len(r.Inventory.GetSoftware().GetItems()) != 3 {
				t.Errorf("delta %d = %v, want only the software section", r.Sequence, r.Inventory)
			}
		case parcv1.Report_FULL:
			if i > 0 {
				t.Errorf("unexpected FULL at %d", r.Sequence)
			}
		}
		if len(r.SectionHashes) != 11 {
			t.Errorf("report %d has %d section hashes", r.Sequence, len(r.SectionHashes))
		}
	}
	if deltas != 1 {
		t.Errorf("got %d deltas, want 1", deltas)
	}
	if last := got[len(got)-1]; last.SectionHashes["software"] == got[0].SectionHashes["software"] ||
		last.SectionHashes["system"] != got[0].SectionHashes["system"] {
		t.Errorf("section hashes did not follow the change: %v vs %v", last.SectionHashes, got[0].SectionHashes)
	}
}

// TestOfflineSpoolReplaysInOrder: reports made while the collector is down
// are spooled and replayed in order, without gaps or repeats, once it is
// back.
func TestOfflineSpoolReplaysInOrder(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.Stop()
	m := &machine{software: []string{"a"}}
	cfg := testConfig(t, srv, nil)
	cfg.Gatherers = m.gatherers()
	cfg.HeartbeatInterval = 2 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 20*time.Millisecond
	cfg.SMART = false
	stop := runDaemon(t, cfg)
	spoolDir := filepath.Join(cfg.StateDir, "spool")
	ctx := waitCtx(t)
	for i := 0; i < 6; i++ { // FULL, then five changes: DELTAs pile up
		for spooled(t, spoolDir) < i+1 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		m.set("a", fmt.Sprint("pkg", i))
	}
	if len(srv.Reports()) != 0 {
		t.Fatal("a stopped collector received reports")
	}
	srv.Up()
	srv.Wait(ctx, 6)
	for spooled(t, spoolDir) > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stop()
	got := srv.Reports()
	if got[0].Kind != parcv1.Report_FULL {
		t.Fatalf("first replayed report is %v", got[0].Kind)
	}
	for i, r := range got {
		if r.Sequence != uint64(i+1) {
			t.Fatalf("report %d has sequence %d: replay out of order or repeated", i, r.Sequence)
		}
	}
}

func spooled(t *testing.T, dir string) int {
	des, _ := os.ReadDir(dir)
	n := 0
	for _, d := range des {
		if strings.HasSuffix(d.Name(), ".report") {
			n++
		}
	}
	return n
}

// TestRestartReplaysPreviousBoot: a --once run that could not reach the
// collector leaves its report spooled; the next run sends it first, then
// its own.
func TestRestartReplaysPreviousBoot(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.Stop()
	sw := []string{"bash"}
	cfg := testConfig(t, srv, &sw)
	cfg.Once = true
	cfg.Timeout = 200 * time.Millisecond
	if err := Run(context.Background(), cfg); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("first run: %v", err)
	}
	srv.Up()
	cfg.Timeout = 10 * time.Second
	if err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	got := srv.Reports()
	if len(got) != 2 || got[0].BootId == got[1].BootId || got[0].Sequence != 1 || got[1].Sequence != 1 {
		t.Fatalf("got %d reports %v, want the old boot's FULL then the new one's", len(got), got)
	}
	if n := spooled(t, filepath.Join(cfg.StateDir, "spool")); n != 0 {
		t.Fatalf("%d reports left in the spool after both were acknowledged", n)
	}
}

// TestResyncAsksForFull: an Ack with resync makes the next report FULL.
func TestResyncAsksForFull(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.ResyncAt = 2
	m := &machine{software: []string{"a"}}
	cfg := testConfig(t, srv, nil)
	cfg.Gatherers = m.gatherers()
	cfg.HeartbeatInterval = 2 * time.Millisecond
	cfg.SMART = false
	stop := runDaemon(t, cfg)
	srv.Wait(waitCtx(t), 4)
	stop()
	got := srv.Reports()
	if got[0].Kind != parcv1.Report_FULL || got[1].Kind == parcv1.Report_FULL {
		t.Fatalf("kinds %v %v, want FULL then not FULL", got[0].Kind, got[1].Kind)
	}
	for _, r := range got[2:] {
		if r.Kind == parcv1.Report_FULL {
			return
		}
	}
	t.Fatalf("no FULL report after the resync ack of sequence 2")
}

// TestFullSpoolDropsOldestAndResends: with the collector away and a spool
// too small for the backlog, the oldest reports are dropped, the drop is
// announced in a later report's errors, and a FULL report follows so the
// collector can rebuild what it missed.
func TestFullSpoolDropsOldestAndResends(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.Stop()
	big := make([]string, 2000) // ~40 KiB per software section
	for i := range big {
		big[i] = fmt.Sprintf("package-with-a-long-name-%04d", i)
	}
	m := &machine{software: big}
	cfg := testConfig(t, srv, nil)
	cfg.Gatherers = m.gatherers()
	cfg.HeartbeatInterval = 2 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 5*time.Millisecond
	cfg.SpoolMaxBytes = 100 << 10
	cfg.SMART = false
	stop := runDaemon(t, cfg)
	spoolDir := filepath.Join(cfg.StateDir, "spool")
	ctx := waitCtx(t)
	for i := 0; i < 5; i++ {
		for spooled(t, spoolDir) < 1 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		m.set(append(slices.Clone(big), fmt.Sprint("extra", i))...)
		time.Sleep(20 * time.Millisecond)
	}
	first := filepath.Join(spoolDir, fmt.Sprintf("%020d.report", 1))
	for ctx.Err() == nil {
		if _, err := os.Stat(first); err != nil {
			break // the oldest report was dropped
		}
		time.Sleep(time.Millisecond)
	}
	srv.Up()
	var sawDrop, sawFull bool
	for !(sawDrop && sawFull) && ctx.Err() == nil {
		for _, r := range srv.Wait(ctx, 1) {
			for _, e := range r.Errors {
				if e.Gatherer == "spool" && strings.Contains(e.Message, "dropped") {
					sawDrop = true
				}
			}
			sawFull = sawFull || (r.Kind == parcv1.Report_FULL && r.Sequence > 1)
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	got := srv.Reports()
	if !sawDrop || !sawFull {
		t.Fatalf("drop announced %v, later FULL %v (%d received)", sawDrop, sawFull, len(got))
	}
	if got[0].Sequence == 1 {
		t.Errorf("the oldest report (sequence 1) was replayed, want it dropped")
	}
	for i := 1; i < len(got); i++ {
		if got[i].Sequence <= got[i-1].Sequence {
			t.Fatalf("sequence %d after %d", got[i].Sequence, got[i-1].Sequence)
		}
	}
}

// TestRunsNeverOverlap: with a gather slower than the heartbeat interval,
// cycles still run one at a time.
func TestRunsNeverOverlap(t *testing.T) {
	srv := fakecollector.Start(t)
	var mu sync.Mutex
	running, maxRunning, runs := 0, 0, 0
	cfg := testConfig(t, srv, nil)
	cfg.Gatherers = map[string]gather.Gatherer{
		"slow": gather.Func(func(context.Context, *gather.Env) (*parcv1.Inventory, error) {
			mu.Lock()
			running++
			runs++
			maxRunning = max(maxRunning, running)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			running--
			mu.Unlock()
			return &parcv1.Inventory{System: &parcv1.System{Hostname: "h"}}, nil
		}),
	}
	cfg.HeartbeatInterval = time.Microsecond
	cfg.FullInterval = time.Microsecond // every run is due a FULL too
	cfg.SMART = false
	stop := runDaemon(t, cfg)
	srv.Wait(waitCtx(t), 5)
	stop()
	if maxRunning != 1 {
		t.Fatalf("%d gathers ran at once (of %d)", maxRunning, runs)
	}
}

// TestSoftwareChanges: to a collector that applies them, a software change
// goes as the packages that changed, on top of the hash it was last sent;
// when a collector that does not apply them takes such a report (spooled
// before the switch), the agent restates everything in a FULL report.
func TestSoftwareChanges(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.SetSoftwareChanges(true)
	m := &machine{software: []string{"bash", "curl", "less", "vim"}, fsUsed: 500}
	cfg := testConfig(t, srv, nil)
	cfg.Gatherers = m.gatherers()
	cfg.HeartbeatInterval = 5 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 20*time.Millisecond
	cfg.SMART = false
	stop := runDaemon(t, cfg)
	ctx := waitCtx(t)
	n := len(srv.Wait(ctx, 3))
	m.set("bash", "curl", "less", "nginx", "vim")
	got := srv.Wait(ctx, n+2)
	var d *parcv1.Report
	for _, r := range got {
		if r.Kind == parcv1.Report_DELTA {
			d = r
			break
		}
	}
	if d == nil {
		t.Fatal("no delta after a software change")
	}
	c := d.GetSoftwareChanges()
	if c == nil || d.Inventory.GetSoftware() != nil || len(c.Set) != 1 || c.Set[0].Name != "nginx" || len(c.Removed) != 0 {
		t.Fatalf("delta = changes %v, section %v; want nginx set", c, d.Inventory.GetSoftware())
	}
	if c.Base != got[0].SectionHashes["software"] || d.SectionHashes["software"] == c.Base {
		t.Errorf("changes apply to %s, want the FULL report's %s", c.Base, got[0].SectionHashes["software"])
	}

	// A collector that does not apply package changes takes over.
	srv.Stop()
	m.set("bash", "curl", "less", "nginx")
	spoolDir := filepath.Join(cfg.StateDir, "spool")
	for !spooledChanges(spoolDir) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	srv.SetSoftwareChanges(false)
	before := len(srv.Reports())
	srv.Up()
	var full bool
	for !full && ctx.Err() == nil {
		for _, r := range srv.Wait(ctx, len(srv.Reports())+1)[before:] {
			full = full || r.Kind == parcv1.Report_FULL
		}
	}
	stop()
	var sawChanges bool
	for _, r := range srv.Reports()[before:] {
		if r.GetSoftwareChanges() != nil {
			sawChanges = true
		}
		if r.Kind == parcv1.Report_FULL && !sawChanges {
			t.Fatal("FULL report before the changes it restates")
		}
	}
	if !sawChanges || !full {
		t.Errorf("spooled changes delivered %v, FULL report after them %v", sawChanges, full)
	}
}

// spooledChanges reports whether a spooled report carries package changes.
func spooledChanges(dir string) bool {
	des, _ := os.ReadDir(dir)
	for _, d := range des {
		b, err := os.ReadFile(filepath.Join(dir, d.Name()))
		var r parcv1.Report
		if err == nil && strings.HasSuffix(d.Name(), ".report") && proto.Unmarshal(b, &r) == nil && r.SoftwareChanges != nil {
			return true
		}
	}
	return false
}
