package health

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	parcv1 "parc/proto/parc/v1"
)

// Runner runs smartctl; gather.Runner satisfies it.
type Runner interface {
	LookPath(name string) (string, error)
	Output(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Monitor finds problems and reports their transitions. It is not safe for
// concurrent use.
type Monitor struct {
	// FSThresholdPercent is the filesystem usage at or above which a
	// FILESYSTEM_FULL event is raised.
	FSThresholdPercent float64
	// Runner runs smartctl; nil disables SMART checks.
	Runner Runner

	open map[key]*parcv1.HealthEvent
}

type key struct {
	kind    parcv1.HealthEvent_Kind
	subject string
}

// Check returns the events of inv observed at now: problems not open
// before, and recoveries of open ones no longer seen.
func (m *Monitor) Check(ctx context.Context, inv *parcv1.Inventory, now time.Time) []*parcv1.HealthEvent {
	if m.open == nil {
		m.open = map[key]*parcv1.HealthEvent{}
	}
	found := map[key]*parcv1.HealthEvent{}
	for _, e := range m.problems(ctx, inv) {
		e.ObservedAt = now.UnixMilli()
		found[key{e.Kind, e.Subject}] = e
	}
	var out []*parcv1.HealthEvent
	for k, e := range found {
		if _, ok := m.open[k]; !ok {
			out = append(out, e)
		}
	}
	for k, e := range m.open {
		if _, ok := found[k]; !ok {
			out = append(out, &parcv1.HealthEvent{Kind: k.kind, Subject: k.subject, Ok: true,
				Message: "recovered: " + e.Message, ObservedAt: now.UnixMilli()})
		}
	}
	m.open = found
	slices.SortFunc(out, func(a, b *parcv1.HealthEvent) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.Subject, b.Subject))
	})
	return out
}

// Reset forgets the open problems, so the next Check reports every current
// problem again (after a FULL resync).
func (m *Monitor) Reset() { m.open = nil }

func (m *Monitor) problems(ctx context.Context, inv *parcv1.Inventory) []*parcv1.HealthEvent {
	var out []*parcv1.HealthEvent
	for _, fs := range inv.GetFilesystems().GetItems() {
		if fs.SizeBytes == 0 {
			continue
		}
		pct := float64(fs.UsedBytes) * 100 / float64(fs.SizeBytes)
		if pct >= m.FSThresholdPercent {
			out = append(out, &parcv1.HealthEvent{Kind: parcv1.HealthEvent_FILESYSTEM_FULL, Subject: fs.MountPoint,
				Value:   float64(int(pct*10)) / 10,
				Message: fmt.Sprintf("%s is %.1f%% full (threshold %.0f%%)", fs.MountPoint, pct, m.FSThresholdPercent)})
		}
	}
	for _, s := range inv.GetServices().GetItems() {
		if s.State == "failed" {
			out = append(out, &parcv1.HealthEvent{Kind: parcv1.HealthEvent_SERVICE_FAILED, Subject: s.Name,
				Message: fmt.Sprintf("unit %s failed (%s)", s.Name, s.SubState)})
		}
	}
	if m.Runner != nil {
		if _, err := m.Runner.LookPath("smartctl"); err == nil {
			for _, d := range inv.GetDisks().GetItems() {
				if e := m.smart(ctx, d.Name); e != nil {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// smart asks smartctl for the disk's overall health. smartctl's exit
// status is a bit mask that is non-zero for many benign reasons, so only
// the JSON output is read.
func (m *Monitor) smart(ctx context.Context, disk string) *parcv1.HealthEvent {
	dev := "/dev/" + disk
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := m.Runner.Output(ctx, "smartctl", "-H", "-j", dev)
	failed, ok := ParseSmartctl(out)
	if !ok || !failed {
		return nil
	}
	return &parcv1.HealthEvent{Kind: parcv1.HealthEvent_DISK_FAILURE, Subject: disk,
		Message: fmt.Sprintf("%s: SMART overall-health self-assessment FAILED", dev)}
}

// ParseSmartctl reads `smartctl -H -j` output. ok is false when it carries
// no verdict (no SMART support, permission denied, not a disk).
func ParseSmartctl(out []byte) (failed, ok bool) {
	var v struct {
		SmartStatus *struct {
			Passed *bool `json:"passed"`
		} `json:"smart_status"`
	}
	if json.Unmarshal(out, &v) != nil || v.SmartStatus == nil || v.SmartStatus.Passed == nil {
		return false, false
	}
	return !*v.SmartStatus.Passed, true
}
