package uplink_test

import (
	"context"
	"errors"
	"testing"

	"parc/agent/internal/fakecollector"
	"parc/agent/uplink"
	parcv1 "parc/proto/parc/v1"
)

func TestDeliverWaitsForAck(t *testing.T) {
	srv := fakecollector.Start(t)
	c, err := uplink.Dial(uplink.Config{Target: fakecollector.Target, DialOptions: srv.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	st, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		ack, err := st.Deliver(ctx, &parcv1.Report{AgentId: "a", BootId: "b", Sequence: seq, Kind: parcv1.Report_HEARTBEAT})
		if err != nil {
			t.Fatalf("deliver %d: %v", seq, err)
		}
		if ack.Sequence != seq || ack.BootId != "b" {
			t.Fatalf("ack = %v, want b/%d", ack, seq)
		}
	}
	if got := len(srv.Reports()); got != 3 {
		t.Fatalf("collector got %d reports, want 3", got)
	}
	if sub, str := srv.Paths(); sub != 3 || str != 0 {
		t.Fatalf("%d reports by Submit, %d on a stream: want all by Submit", sub, str)
	}
}

// A collector that predates Submit gets the reports on a Report stream,
// and the client remembers it for the next Stream.
func TestDeliverFallsBackToStream(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.NoSubmit = true
	c, err := uplink.Dial(uplink.Config{Target: fakecollector.Target, DialOptions: srv.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for seq := uint64(1); seq <= 4; seq++ {
		st, err := c.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ack, err := st.Deliver(ctx, &parcv1.Report{AgentId: "a", BootId: "b", Sequence: seq, Kind: parcv1.Report_HEARTBEAT}); err != nil || ack.Sequence != seq {
			t.Fatalf("deliver %d: %v, %v", seq, ack, err)
		}
		st.Close()
	}
	if sub, str := srv.Paths(); sub != 0 || str != 4 {
		t.Fatalf("%d reports by Submit, %d on a stream: want all on streams", sub, str)
	}
}

func TestDeliverFailsWhenCollectorDown(t *testing.T) {
	srv := fakecollector.Start(t)
	srv.Stop()
	c, err := uplink.Dial(uplink.Config{Target: fakecollector.Target, DialOptions: srv.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	st, err := c.Open(ctx)
	if err == nil {
		_, err = st.Deliver(ctx, &parcv1.Report{BootId: "b", Sequence: 1})
		st.Close()
	}
	if err == nil {
		t.Fatal("delivery to a stopped collector succeeded")
	}
}

func TestDialNeedsTarget(t *testing.T) {
	if _, err := uplink.Dial(uplink.Config{}); !errors.Is(err, uplink.ErrNoTarget) {
		t.Fatalf("err = %v, want ErrNoTarget", err)
	}
}
