package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	parcv1 "parc/proto/parc/v1"
)

// fleet simulates agents over real gRPC against a list of collectors, the
// way parc-agent does: one Report stream at a time, each report resent
// until it is acknowledged, moving to the next collector of the list when
// the current one fails. Every report carries a filesystem_full condition
// that is still failing, so the collector counts each applied report in
// the condition's record and audits it: a report applied twice or lost
// shows in the store.
type fleet struct {
	addrs   []string // agent ports of the collectors
	agents  int
	reports int // per agent; the first is FULL, the others DELTA
	// packages is the number of software packages in the FULL report.
	packages int
	prefix   string // agent ids are prefix-NNNN
	// first is the first sequence sent (0 means 1); sequence 1 is FULL.
	first uint64

	acked     atomic.Int64 // acknowledged reports
	finished  atomic.Int64 // agents whose every report is acknowledged
	failovers atomic.Int64 // streams that failed and were re-opened on the next collector
}

func (f *fleet) agentID(i int) string { return fmt.Sprintf("%s-%04d", f.prefix, i) }

func (f *fleet) report(i int, seq uint64) *parcv1.Report {
	id := f.agentID(i)
	r := &parcv1.Report{
		AgentId: id, BootId: "boot-" + id, Sequence: seq, Kind: parcv1.Report_DELTA,
		CollectedAt: time.Now().UnixMilli(), AgentVersion: "sim",
		Events: []*parcv1.HealthEvent{{Kind: parcv1.HealthEvent_FILESYSTEM_FULL, Subject: "/var",
			Message: fmt.Sprintf("96%% used (report %d)", seq), Value: 96}},
	}
	if seq == 1 {
		r.Kind = parcv1.Report_FULL
		r.Inventory = simInventory(id, i, f.packages)
	}
	return r
}

// simInventory is a plausible full inventory of a Debian server with n
// packages (names shared across hosts, as in a real fleet).
func simInventory(id string, i, n int) *parcv1.Inventory {
	inv := &parcv1.Inventory{
		System: &parcv1.System{Hostname: id, Fqdn: id + ".sim.example", OsName: "Debian GNU/Linux", OsVersion: "13",
			OsFamily: "debian", Kernel: "6.12.0-1-amd64", Arch: "x86_64", MachineId: fmt.Sprintf("%032x", i+1)},
		Firmware: &parcv1.Firmware{SystemVendor: "Sim Computers", ProductName: "S-100", Serial: fmt.Sprintf("SIM%08d", i),
			Uuid: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), BiosVendor: "SimBIOS", BiosVersion: "1.0"},
		Cpu:    &parcv1.CPU{Model: "Sim CPU @ 2.4GHz", Vendor: "GenuineSim", Sockets: 1, Cores: 8, Threads: 16, Mhz: 2400},
		Memory: &parcv1.Memory{TotalBytes: 32 << 30},
		Disks: &parcv1.Disks{Items: []*parcv1.Disk{{Name: "sda", Model: "SimDisk", Serial: fmt.Sprintf("D%08d", i),
			SizeBytes: 512 << 30, Type: "ssd"}}},
		Filesystems: &parcv1.Filesystems{Items: []*parcv1.Filesystem{{Device: "/dev/sda1", MountPoint: "/var", Type: "ext4",
			SizeBytes: 100 << 30, UsedBytes: 96 << 30}}},
		Nics: &parcv1.NICs{Items: []*parcv1.NIC{{Name: "eth0", Mac: fmt.Sprintf("00:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			SpeedMbps: 10000, Addresses: []string{fmt.Sprintf("10.%d.%d.%d/16", i>>16&0xff, i>>8&0xff, i&0xff)}}}},
	}
	if n > 0 {
		sw := &parcv1.SoftwareList{}
		for p := range n {
			sw.Items = append(sw.Items, &parcv1.Software{Name: fmt.Sprintf("libsim-package-%04d", p),
				Version: fmt.Sprintf("%d.%d.%d-%d+deb13u1", p%7, p%13, p%29, 1+p%3), Arch: "amd64",
				Publisher: "Debian Sim Maintainers <sim@example.org>", Source: "dpkg", InstallDate: 1700000000 + int64(p)})
		}
		inv.Software = sw
	}
	return inv
}

// run streams every agent's reports until all are acknowledged or ctx
// ends. Agent i starts on collector i mod len(addrs).
func (f *fleet) run(ctx context.Context) error {
	conns := make([]*grpc.ClientConn, len(f.addrs))
	for i, a := range f.addrs {
		cc, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
		if err != nil {
			return err
		}
		defer cc.Close()
		conns[i] = cc
	}
	var wg sync.WaitGroup
	errs := make(chan error, f.agents)
	for i := range f.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.runAgent(ctx, i, conns); err != nil {
				errs <- fmt.Errorf("agent %s: %w", f.agentID(i), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (f *fleet) runAgent(ctx context.Context, i int, conns []*grpc.ClientConn) error {
	cur := i % len(conns)
	var open *agentStream
	defer func() { open.close() }()
	for seq := max(f.first, 1); seq < max(f.first, 1)+uint64(f.reports); seq++ {
		r := f.report(i, seq)
		for {
			if ctx.Err() != nil {
				return fmt.Errorf("report %d never acknowledged: %w", seq, ctx.Err())
			}
			if open == nil {
				s, err := openStream(ctx, conns[cur])
				if err != nil {
					cur = f.failover(cur, len(conns))
					continue
				}
				open = s
			}
			if _, err := deliver(open.s, r); err == nil {
				break
			}
			// The stream broke (collector died, store unavailable, ...):
			// re-send the same report on the next collector. It may have
			// been applied already; then the collector recognises the
			// replay and acknowledges it without writing.
			open.close()
			open = nil
			cur = f.failover(cur, len(conns))
		}
		f.acked.Add(1)
	}
	f.finished.Add(1)
	return nil
}

type agentStream struct {
	s      parcv1.AgentService_ReportClient
	cancel context.CancelFunc
}

func openStream(ctx context.Context, cc *grpc.ClientConn) (*agentStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := parcv1.NewAgentServiceClient(cc).Report(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &agentStream{s: s, cancel: cancel}, nil
}

func (a *agentStream) close() {
	if a != nil {
		_ = a.s.CloseSend()
		a.cancel()
	}
}

func (f *fleet) failover(cur, n int) int {
	f.failovers.Add(1)
	time.Sleep(20*time.Millisecond + rand.N(80*time.Millisecond))
	return (cur + 1) % n
}

func deliver(s parcv1.AgentService_ReportClient, r *parcv1.Report) (*parcv1.Ack, error) {
	if err := s.Send(r); err != nil {
		return nil, err
	}
	ack, err := s.Recv()
	if err != nil {
		return nil, err
	}
	if ack.GetBootId() != r.GetBootId() || ack.GetSequence() != r.GetSequence() {
		return ack, fmt.Errorf("ack %s/%d for report %s/%d", ack.GetBootId(), ack.GetSequence(), r.GetBootId(), r.GetSequence())
	}
	return ack, nil
}
