package uplink_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"parc/agent/internal/fakecollector"
	"parc/agent/uplink"
	parcv1 "parc/proto/parc/v1"
)

// TestFailoverBetweenCollectors: with a list of collectors, a report that
// cannot reach the one in use goes to another after the stream is re-opened.
func TestFailoverBetweenCollectors(t *testing.T) {
	type srv struct {
		g    *grpc.Server
		c    *fakecollector.Collector
		addr string
	}
	var srvs []*srv
	var targets string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &srv{g: grpc.NewServer(), c: &fakecollector.Collector{}, addr: l.Addr().String()}
		parcv1.RegisterAgentServiceServer(s.g, s.c)
		go s.g.Serve(l)
		t.Cleanup(s.g.Stop)
		srvs = append(srvs, s)
		if targets != "" {
			targets += ","
		}
		targets += s.addr
	}
	c, err := uplink.Dial(uplink.Config{Target: targets})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	deliver := func(seq uint64) error {
		st, err := c.Open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		_, err = st.Deliver(ctx, &parcv1.Report{AgentId: "a", BootId: "b", Sequence: seq, Kind: parcv1.Report_HEARTBEAT})
		return err
	}
	if err := deliver(1); err != nil {
		t.Fatal(err)
	}
	first := 0
	if len(srvs[1].c.Reports()) == 1 {
		first = 1
	}
	srvs[first].g.Stop()
	// The agent retries on its own schedule; a few attempts suffice.
	var derr error
	for range 50 {
		if derr = deliver(2); derr == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if derr != nil {
		t.Fatalf("no failover to the other collector: %v", derr)
	}
	if got := srvs[1-first].c.Reports(); len(got) != 1 || got[0].GetSequence() != 2 {
		t.Fatalf("the other collector got %v, want report 2", got)
	}
}
