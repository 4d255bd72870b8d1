package e2e

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	agentenroll "parc/agent/enroll"
	"parc/agent/uplink"
	"parc/cmdb/reconcile"
	"parc/cmdb/store/teststore"
	"parc/collector/agentsvc"
	"parc/collector/enroll"
	parcv1 "parc/proto/parc/v1"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestAgentEnrollsAndRenews runs the agent's enrollment code against the
// collector's over real gRPC and TLS on loopback: enroll with a pinned
// token, renew once two thirds of the certificate's life have passed,
// report with the renewed certificate, and reload it from the state dir.
func TestAgentEnrollsAndRenews(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	st := teststore.Open(t)
	ca, err := enroll.NewCA(clk.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	svc := enroll.New(enroll.Config{Store: st, CA: ca, Now: clk.Now, CertValidity: 3 * time.Hour})
	gs := grpc.NewServer(svc.ServerOptions("127.0.0.1")...)
	parcv1.RegisterAgentServiceServer(gs, svc.Wrap(agentsvc.New(agentsvc.Config{
		Engine: reconcile.New(st, reconcile.Config{}), Identify: svc.Identify, Admit: svc.Admit, Now: clk.Now})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	defer gs.Stop()
	ctx := context.Background()
	tok, _, err := svc.CreateToken(ctx, "user:test", time.Hour, 1, "")
	if err != nil {
		t.Fatal(err)
	}

	cfg := agentenroll.Config{Collector: ln.Addr().String(), StateDir: filepath.Join(t.TempDir(), "state"),
		Token: tok.String(), Hostname: "renew-host", Version: "test", Now: clk.Now}
	id, err := agentenroll.Load(ctx, cfg)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	first := id.NotAfter()
	if id.NeedsRenewal(clk.Now()) {
		t.Fatal("a fresh certificate needs renewal")
	}
	clk.Add(2*time.Hour + time.Minute)
	if !id.NeedsRenewal(clk.Now()) {
		t.Fatal("a certificate with under a third of its life left does not need renewal")
	}
	if err := id.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if !id.NotAfter().After(first) {
		t.Errorf("renewed certificate expires %v, the first %v", id.NotAfter(), first)
	}

	c, err := uplink.Dial(uplink.Config{Target: cfg.Collector, Credentials: id.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &parcv1.Report{AgentId: id.AgentID, BootId: "b", Sequence: 1, Kind: parcv1.Report_FULL,
		Inventory: &parcv1.Inventory{System: &parcv1.System{Hostname: "renew-host"}}}
	if _, err := s.Deliver(ctx, r); err != nil {
		t.Fatalf("report with the renewed certificate: %v", err)
	}
	s.Close()

	// Restart: the state dir alone, no token.
	cfg.Token = ""
	again, err := agentenroll.Load(ctx, cfg)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if again.AgentID != id.AgentID || !again.NotAfter().Equal(id.NotAfter()) {
		t.Errorf("reloaded %s/%v, want %s/%v", again.AgentID, again.NotAfter(), id.AgentID, id.NotAfter())
	}
	// A state dir without identity and no token is an error that says what to do.
	cfg.StateDir = t.TempDir()
	if _, err := agentenroll.Load(ctx, cfg); err != agentenroll.ErrNotEnrolled {
		t.Errorf("no identity, no token: %v", err)
	}
}

// TestAgentRefusesCollectorOutsideThePin: a token pinning another CA makes
// enrollment fail on the agent's side before the token is sent.
func TestAgentRefusesCollectorOutsideThePin(t *testing.T) {
	st := teststore.Open(t)
	ca, _ := enroll.NewCA(time.Now())
	other, _ := enroll.NewCA(time.Now())
	svc := enroll.New(enroll.Config{Store: st, CA: ca})
	gs := grpc.NewServer(svc.ServerOptions("127.0.0.1")...)
	parcv1.RegisterAgentServiceServer(gs, svc.Wrap(&parcv1.UnimplementedAgentServiceServer{}))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go gs.Serve(ln)
	defer gs.Stop()
	// A token minted by a collector with another CA.
	otherSvc := enroll.New(enroll.Config{Store: teststore.Open(t), CA: other})
	tok, _, err := otherSvc.CreateToken(context.Background(), "user:test", time.Hour, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := st.Rev(context.Background())
	_, err = agentenroll.Load(context.Background(), agentenroll.Config{Collector: ln.Addr().String(),
		StateDir: t.TempDir(), Token: tok.String()})
	if err == nil {
		t.Fatal("the agent enrolled with a collector its token does not pin")
	}
	if after, _ := st.Rev(context.Background()); after != before {
		t.Error("the refused enrollment wrote")
	}
}
