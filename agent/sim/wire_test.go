package sim

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

// wireServer answers Submit by the report's agent id: "fail" with an
// error status, "slow" after a pause; others with an Ack of the report's
// sequence and, in BootId, the length of its AgentVersion.
type wireServer struct {
	parcv1.UnimplementedAgentServiceServer
	pause time.Duration
}

func (s wireServer) Submit(ctx context.Context, r *parcv1.Report) (*parcv1.Ack, error) {
	switch r.GetAgentId() {
	case "fail":
		return nil, status.Error(codes.InvalidArgument, "report refused: ünïcode 100% bad")
	case "slow":
		time.Sleep(s.pause)
	}
	return &parcv1.Ack{Sequence: r.GetSequence(), BootId: fmt.Sprint(len(r.GetAgentVersion()))}, nil
}

// portOptions are the agent port's connection settings that shape what
// the client sees (collector/agentsvc.ConnOptions; the agent tree does not
// import the collector): fixed 256 KiB windows, 16 KiB frames.
func portOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ReadBufferSize(0), grpc.WriteBufferSize(8 << 10),
		grpc.InitialWindowSize(256 << 10), grpc.InitialConnWindowSize(256 << 10)}
}

// serveWire serves wireServer with the agent port's connection settings
// plus opts on loopback TCP.
func serveWire(t *testing.T, s wireServer, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(portOptions(), opts...)...)
	parcv1.RegisterAgentServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// submit sends a report of agent's with an AgentVersion of size bytes.
func submit(t *testing.T, w *wireConn, agent string, seq uint64, size int) (*parcv1.Ack, error) {
	t.Helper()
	r := &parcv1.Report{AgentId: agent, Sequence: seq, AgentVersion: strings.Repeat("v", size)}
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.Submit(context.Background(), b)
	if err != nil {
		return nil, err
	}
	ack := new(parcv1.Ack)
	if err := proto.Unmarshal(out, ack); err != nil {
		t.Fatal(err)
	}
	return ack, nil
}

// TestWireSubmit sends reports from empty to larger than the collector's
// windows (so the client waits for its window updates) and checks each
// acknowledgement, then an error status.
func TestWireSubmit(t *testing.T) {
	addr := serveWire(t, wireServer{})
	w, err := dialWire(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	seq := uint64(0)
	// Past a frame (16 KiB), the connection's first window (64 KiB) and a
	// stream's (256 KiB).
	for _, n := range []int{0, 1, 16 << 10, 100 << 10, 3, 3 << 20, 0} {
		seq++
		ack, err := submit(t, w, "a", seq, n)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if ack.GetSequence() != seq || ack.GetBootId() != fmt.Sprint(n) {
			t.Fatalf("%d bytes: ack %v, want sequence %d and %d bytes", n, ack, seq, n)
		}
	}
	_, err = submit(t, w, "fail", 99, 1)
	if s, ok := status.FromError(err); !ok || s.Code() != codes.InvalidArgument || s.Message() != "report refused: ünïcode 100% bad" {
		t.Fatalf("refused report: %v, want InvalidArgument with the collector's message", err)
	}
	// The connection is still good after a refused report.
	if ack, err := submit(t, w, "a", 100, 2); err != nil || ack.GetSequence() != 100 {
		t.Fatalf("after a refused report: %v, %v", ack, err)
	}
}

// TestWireAnswersPings holds a call longer than the collector's keepalive
// allows without an answer to its ping: the client answers while it waits,
// so the call succeeds on the same connection.
func TestWireAnswersPings(t *testing.T) {
	addr := serveWire(t, wireServer{pause: 2500 * time.Millisecond},
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Second, Timeout: 500 * time.Millisecond}))
	w, err := dialWire(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c := w.c
	if ack, err := submit(t, w, "slow", 1, 10); err != nil || ack.GetSequence() != 1 {
		t.Fatalf("slow call: %v, %v", ack, err)
	}
	if w.c != c {
		t.Fatal("the slow call was sent again on a new connection: the pings went unanswered")
	}
}

// TestWireRedials lets the collector close idle connections: every report
// is acknowledged, on a new connection when the collector said goodbye to
// the one before.
func TestWireRedials(t *testing.T) {
	addr := serveWire(t, wireServer{}, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 100 * time.Millisecond}))
	dials := 0
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		dials++
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	w, err := dialWire(context.Background(), addr, dial)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for seq := uint64(1); seq <= 4; seq++ {
		if ack, err := submit(t, w, "a", seq, 5); err != nil || ack.GetSequence() != seq {
			t.Fatalf("report %d: %v, %v", seq, ack, err)
		}
		time.Sleep(400 * time.Millisecond) // idle: the collector closes it
	}
	if dials < 2 {
		t.Fatalf("%d dial for 4 reports, each after the collector closed the idle connection", dials)
	}
}

// closingListener lets a test cut every connection it accepted, as a
// collector that went away would.
type closingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *closingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *closingListener) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// TestWireResends cuts the connection between reports, without a GOAWAY:
// the next report fails on it and goes again on a new one.
func TestWireResends(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := &closingListener{Listener: tcp}
	srv := grpc.NewServer(portOptions()...)
	parcv1.RegisterAgentServiceServer(srv, wireServer{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	w, err := dialWire(context.Background(), tcp.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		c := w.c
		if ack, err := submit(t, w, "a", seq, 100); err != nil || ack.GetSequence() != seq {
			t.Fatalf("report %d: %v, %v", seq, ack, err)
		}
		if seq > 1 && w.c == c {
			t.Fatalf("report %d: acknowledged on the connection that was cut", seq)
		}
		lis.cut()
		time.Sleep(50 * time.Millisecond) // the close reaches the client
	}
}

// TestWireDialError reports a collector that is not there.
func TestWireDialError(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := dialWire(ctx, addr, nil); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial to a closed port: %v, want connection refused", err)
	}
}

// TestWireHeaderCompression checks that calls after the first send their
// constant headers as references, as grpc-go's client does, so that the
// collector holds one copy of them per connection.
func TestWireHeaderCompression(t *testing.T) {
	w := &wireConn{addr: "collector.example:7443"}
	w.enc = hpack.NewEncoder(&w.hbuf)
	dl := time.Now().Add(callTimeout)
	d := hpack.NewDecoder(4096, nil) // the collector's side
	var sizes []int
	for range 3 {
		block := w.headers(dl)
		sizes = append(sizes, len(block))
		fields, err := d.DecodeFull(block)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, f := range fields {
			got[f.Name] = f.Value
		}
		if got[":path"] != submitPath || got[":authority"] != w.addr || got["content-type"] != "application/grpc" || !strings.HasSuffix(got["grpc-timeout"], "u") {
			t.Fatalf("headers %v", got)
		}
	}
	if sizes[1] >= sizes[0]/2 || sizes[2] >= sizes[0]/2 {
		t.Fatalf("header blocks of %v bytes: the later ones should mostly refer to the first", sizes)
	}
}
