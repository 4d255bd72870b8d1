package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestApplyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.conf")
	os.WriteFile(p, []byte(`# parc-agent
collector = collector.example.com:7443
state_dir = /var/lib/parc-agent
full_interval = 12h
heartbeat_interval = "5m"   # quoted is fine
jitter = 0.2
spool_max_bytes = 32MiB
fs_threshold_percent = 85
smart = false
`), 0o600)
	cfg := DefaultConfig()
	if err := cfg.ApplyFile(p); err != nil {
		t.Fatal(err)
	}
	if cfg.Collector != "collector.example.com:7443" || cfg.FullInterval != 12*time.Hour ||
		cfg.HeartbeatInterval != 5*time.Minute || cfg.Jitter != 0.2 || cfg.SpoolMaxBytes != 32<<20 ||
		cfg.FSThresholdPercent != 85 || cfg.SMART || cfg.StateDir != "/var/lib/parc-agent" {
		t.Errorf("cfg = %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestApplyFileReportsEveryBadLine(t *testing.T) {
	cfg := DefaultConfig()
	err := cfg.apply([]byte("colector = x\nfull_interval = soon\njust words\n"), "agent.conf")
	for _, want := range []string{`agent.conf:1: unknown key "colector"`, "agent.conf:2: full_interval", "agent.conf:3: want key = value"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestValidateRejectsNonsense(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Collector, cfg.StateDir = "c:1", "/tmp/x"
	cfg.Jitter, cfg.SpoolMaxBytes, cfg.HeartbeatInterval = 2, 10, 0
	err := cfg.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
	for _, want := range []string{"jitter", "spool_max_bytes", "heartbeat_interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not mention %s", err, want)
		}
	}
}

func TestJitterAndBackoffStayInBounds(t *testing.T) {
	for range 1000 {
		if d := jittered(time.Minute, 0.1); d < 54*time.Second || d > 66*time.Second {
			t.Fatalf("jittered = %v", d)
		}
		if d := backoff(3, time.Second, time.Minute); d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("backoff(3) = %v", d)
		}
		if d := backoff(30, time.Second, time.Minute); d < 30*time.Second || d > time.Minute {
			t.Fatalf("backoff(30) = %v", d)
		}
	}
}
