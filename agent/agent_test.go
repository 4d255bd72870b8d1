package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parc/agent/gather"
	"parc/agent/internal/fakecollector"
	parcv1 "parc/proto/parc/v1"
)

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
