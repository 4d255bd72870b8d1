package gather

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	parcv1 "parc/proto/parc/v1"
)

// liveInventory gathers this machine once for the live tests.
func liveInventory(t *testing.T) *parcv1.Inventory {
	t.Helper()
	if os.Getenv("PARC_SKIP_LIVE") != "" {
		t.Skip("PARC_SKIP_LIVE set")
	}
	res := Run(context.Background(), &Env{Root: "/", Source: NewSource("/"), Runner: ExecRunner{}}, Default())
	for _, e := range res.Errors {
		t.Logf("gather error (allowed on a live machine): %s: %s", e.Gatherer, e.Message)
	}
	return res.Inventory
}

func countSource(inv *parcv1.Inventory, source string) int {
	n := 0
	for _, sw := range inv.GetSoftware().GetItems() {
		if sw.Source == source {
			n++
		}
	}
	return n
}

func commandLines(t *testing.T, name string, args ...string) ([]string, bool) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		return nil, false
	}
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines, true
}

// TestLiveSoftwareCountMatchesPackageManagers compares the number of
// packages per source with what each package manager present says.
func TestLiveSoftwareCountMatchesPackageManagers(t *testing.T) {
	inv := liveInventory(t)
	checked := 0
	// dpkg: `dpkg-query -W` lists every package the database knows that is
	// not "not-installed", which includes removed packages whose config
	// files remain (rc) and half-installed or unpacked ones. The agent
	// reports installed packages only, i.e. those whose
	// ${db:Status-Status} is "installed" (Want may be install or hold), so
	// that is what is counted here. On a machine without rc packages both
	// counts are equal.
	if lines, ok := commandLines(t, "dpkg-query", "-W", "-f=${db:Status-Status}\n"); ok {
		want := 0
		for _, l := range lines {
			if l == "installed" {
				want++
			}
		}
		if got := countSource(inv, "dpkg"); got != want {
			t.Errorf("dpkg: agent reports %d packages, dpkg-query %d installed (of %d listed)", got, want, len(lines))
		}
		checked++
	}
	// rpm: `rpm -qa`, less the gpg-pubkey pseudo-packages (keys).
	if lines, ok := commandLines(t, "rpm", "-qa"); ok && exists("/var/lib/rpm") {
		want := 0
		for _, l := range lines {
			if !strings.HasPrefix(l, "gpg-pubkey-") {
				want++
			}
		}
		if got := countSource(inv, "rpm"); got != want {
			t.Errorf("rpm: agent %d, rpm -qa %d", got, want)
		}
		checked++
	}
	if lines, ok := commandLines(t, "apk", "info"); ok {
		if got := countSource(inv, "apk"); got != len(lines) {
			t.Errorf("apk: agent %d, apk info %d", got, len(lines))
		}
		checked++
	}
	if lines, ok := commandLines(t, "snap", "list"); ok && len(lines) > 0 {
		if got := countSource(inv, "snap"); got != len(lines)-1 {
			t.Errorf("snap: agent %d, snap list %d", got, len(lines)-1)
		}
		checked++
	}
	if lines, ok := commandLines(t, "flatpak", "list", "--system", "--columns=application"); ok {
		if got := countSource(inv, "flatpak"); got != len(lines) {
			t.Errorf("flatpak: agent %d, flatpak list %d", got, len(lines))
		}
		checked++
	}
	if checked == 0 {
		t.Skip("no package manager on this machine")
	}
}

// TestLiveMACsMatchIPLink compares interface names and MACs with `ip -o
// link` (all-zero MACs, e.g. loopback, excluded on both sides).
func TestLiveMACsMatchIPLink(t *testing.T) {
	lines, ok := commandLines(t, "ip", "-o", "link")
	if !ok {
		t.Skip("no ip command")
	}
	want := map[string]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		name, _, _ = strings.Cut(name, "@")
		for i, w := range f {
			if strings.HasPrefix(w, "link/") && i+1 < len(f) && f[i+1] != "00:00:00:00:00:00" && strings.Count(f[i+1], ":") == 5 {
				want[name] = strings.ToLower(f[i+1])
			}
		}
	}
	got := map[string]string{}
	for _, n := range liveInventory(t).GetNics().GetItems() {
		if n.Mac != "" && n.Mac != "00:00:00:00:00:00" {
			got[n.Name] = n.Mac
		}
	}
	if len(want) == 0 {
		t.Skip("ip link shows no MAC")
	}
	for name, mac := range want {
		if got[name] != mac {
			t.Errorf("%s: agent MAC %q, ip link %q", name, got[name], mac)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("agent reports %s (%s), ip link does not", name, got[name])
		}
	}
}

// TestLiveMemoryTotalMatchesMeminfo compares with /proc/meminfo MemTotal.
func TestLiveMemoryTotalMatchesMeminfo(t *testing.T) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	var want uint64
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			want = kb * 1024
		}
	}
	if got := liveInventory(t).GetMemory().GetTotalBytes(); got != want {
		t.Errorf("memory total %d, /proc/meminfo MemTotal %d", got, want)
	}
}

// TestLiveSystemAndSockets compares the system facts with uname and
// hostname, the filesystems with the root mount, and the listening TCP
// ports with `ss -ltn`.
func TestLiveSystemAndSockets(t *testing.T) {
	inv := liveInventory(t)
	host, _ := os.Hostname()
	if got := inv.GetSystem().GetHostname(); got != host {
		t.Errorf("hostname %q, os.Hostname %q", got, host)
	}
	if lines, ok := commandLines(t, "uname", "-r"); ok && inv.GetSystem().GetKernel() != lines[0] {
		t.Errorf("kernel %q, uname -r %q", inv.GetSystem().GetKernel(), lines[0])
	}
	root := false
	for _, f := range inv.GetFilesystems().GetItems() {
		root = root || (f.MountPoint == "/" && f.SizeBytes > 0)
	}
	if !root {
		t.Errorf("no measured root filesystem in %v", inv.GetFilesystems())
	}
	lines, ok := commandLines(t, "ss", "-Hltn")
	if !ok {
		return
	}
	want := map[string]bool{}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 4 {
			want[f[3][strings.LastIndexByte(f[3], ':')+1:]] = true
		}
	}
	got := map[string]bool{}
	for _, s := range inv.GetSockets().GetListening() {
		if s.Protocol == "tcp" {
			got[strconv.Itoa(int(s.LocalPort))] = true
		}
	}
	// Sockets open and close while both look; only a port seen by both
	// sides' snapshots can be compared strictly, so count disagreements.
	missing := 0
	for p := range want {
		if !got[p] {
			missing++
			t.Logf("ss lists port %s, the agent does not", p)
		}
	}
	if missing > len(want)/4 {
		t.Errorf("%d of %d listening ports missing", missing, len(want))
	}
}
