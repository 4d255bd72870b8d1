package gather

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

// TestSocketOwnerInference: connections whose descriptor was not found get
// the listener's name (inbound) or the name seen with the same outbound
// key; anything else stays unnamed.
func TestSocketOwnerInference(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		p = filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		p = filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/net/tcp", `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0
   1: 0100000A:01BB 0900000A:C351 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0
   2: 0100000A:EE48 0700000A:0599 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0
   3: 0100000A:EE49 0700000A:0599 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0
   4: 0100000A:EE4A 0800000A:1F90 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0
`)
	write("proc/10/comm", "nginx\n")
	link("proc/10/fd/3", "socket:[1]")
	write("proc/20/comm", "app\n")
	link("proc/20/fd/4", "socket:[3]")
	inv, err := socketsGatherer(context.Background(), &Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	Normalize(inv)
	var want parcv1.Sockets
	prototext.Unmarshal([]byte(`
listening: {protocol: "tcp" local_ip: "0.0.0.0" local_port: 443 process: "nginx" pid: 10}
connections: {protocol: "tcp" local_ip: "10.0.0.1" remote_ip: "10.0.0.7" remote_port: 1433 process: "app"}
connections: {protocol: "tcp" local_ip: "10.0.0.1" remote_ip: "10.0.0.8" remote_port: 8080}
connections: {protocol: "tcp" local_ip: "10.0.0.1" local_port: 443 remote_ip: "10.0.0.9" process: "nginx"}
`), &want)
	if !proto.Equal(inv.Sockets, &want) {
		t.Errorf("sockets =\n%v\nwant\n%v", prototext.Format(inv.Sockets), prototext.Format(&want))
	}
}
