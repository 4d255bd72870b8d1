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
