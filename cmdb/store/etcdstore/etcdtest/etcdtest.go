// Package etcdtest starts real etcd clusters (1 or 3 members) on loopback
// ports for tests. It needs the etcd binary on PATH; without it tests skip,
// unless PARC_REQUIRE_ETCD is set (as in CI), when they fail.
package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing etcd binary
// from a skip into a failure.
const RequireEnv = "PARC_REQUIRE_ETCD"

// ErrNoBinary means the etcd binary is not on PATH.
var ErrNoBinary = errors.New("etcdtest: etcd binary not found on PATH (apt-get install etcd-server)")

// Start starts a cluster of members (1 or 3) in t.TempDir(), waits until it
// is healthy and stops it when t ends. It returns the client endpoints.
func Start(t testing.TB, members int) []string {
	t.Helper()
	SkipIfMissing(t)
	c, err := StartCluster(t.TempDir(), members)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c.Endpoints
}

// SkipIfMissing skips t when the etcd binary is missing and RequireEnv is
// not set, and fails it when RequireEnv is set.
func SkipIfMissing(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("%v, and %s is set", ErrNoBinary, RequireEnv)
		}
		t.Skipf("%v; set %s to fail instead", ErrNoBinary, RequireEnv)
	}
}

// Cluster is a running etcd cluster.
type Cluster struct {
	Endpoints []string
	procs     []*exec.Cmd
	logs      []string
	stopOnce  sync.Once
}

// StartCluster starts a cluster of members with its data under dir and
// waits until every member is healthy. The caller must call Stop; tests use
// Start instead. The processes also die with the test binary (Linux).
func StartCluster(dir string, members int) (*Cluster, error) {
	if members != 1 && members != 3 {
		return nil, fmt.Errorf("etcdtest: %d members, want 1 or 3", members)
	}
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, ErrNoBinary
	}
	ports, err := freePorts(2 * members)
	if err != nil {
		return nil, err
	}
	var peers []string
	for i := range members {
		peers = append(peers, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	c := &Cluster{}
	token := fmt.Sprintf("parc-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	for i := range members {
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		logPath := filepath.Join(dir, fmt.Sprintf("m%d.log", i))
		logf, err := os.Create(logPath)
		if err != nil {
			c.Stop()
			return nil, err
		}
		cmd := exec.Command(bin,
			"--name", fmt.Sprintf("m%d", i),
			"--data-dir", filepath.Join(dir, fmt.Sprintf("m%d", i)),
			"--listen-client-urls", client,
			"--advertise-client-urls", client,
			"--listen-peer-urls", peer,
			"--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(peers, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--heartbeat-interval", "20",
			"--election-timeout", "200",
			"--logger", "zap",
			"--log-outputs", "stderr",
			"--log-level", "warn",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = sysProcAttr()
		if err := cmd.Start(); err != nil {
			logf.Close()
			c.Stop()
			return nil, fmt.Errorf("etcdtest: start etcd: %w", err)
		}
		logf.Close()
		c.procs = append(c.procs, cmd)
		c.logs = append(c.logs, logPath)
		c.Endpoints = append(c.Endpoints, client)
	}
	if err := c.waitHealthy(30 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) waitHealthy(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, ep := range c.Endpoints {
		for {
			if healthy(ctx, ep) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("etcdtest: %s not healthy after %v; log:\n%s", ep, timeout, c.tail())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func healthy(ctx context.Context, ep string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.Contains(buf.String(), `"true"`)
}

func (c *Cluster) tail() string {
	var b strings.Builder
	for _, p := range c.logs {
		data, _ := os.ReadFile(p)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "== %s\n%s\n", p, data)
	}
	return b.String()
}

// Kill kills member i (kill -9) and waits for it to exit: the cluster
// goes on with the others while they keep a quorum.
func (c *Cluster) Kill(i int) error {
	if i < 0 || i >= len(c.procs) {
		return fmt.Errorf("etcdtest: no member %d", i)
	}
	_ = c.procs[i].Process.Kill()
	_ = c.procs[i].Wait()
	return nil
}

// Stop kills the members and waits for them to exit.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for _, p := range c.procs {
			_ = p.Process.Kill()
		}
		for _, p := range c.procs {
			_ = p.Wait()
		}
	})
}

// freePorts reserves n loopback ports by listening and releasing them.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
