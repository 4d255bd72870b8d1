//go:build !linux

package gather

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"

	parcv1 "parc/proto/parc/v1"
)

// Sockets lists sockets through gopsutil (GetExtendedTcpTable on Windows,
// lsof on macOS).
func (s *realSource) Sockets(ctx context.Context) (*parcv1.Sockets, error) {
	conns, err := net.ConnectionsWithContext(ctx, "inet")
	if err != nil {
		return nil, fmt.Errorf("gopsutil connections: %w", err)
	}
	names := map[int32]string{}
	name := func(pid int32) string {
		if pid <= 0 {
			return ""
		}
		if n, ok := names[pid]; ok {
			return n
		}
		n := ""
		if p, err := process.NewProcessWithContext(ctx, pid); err == nil {
			n, _ = p.NameWithContext(ctx)
		}
		names[pid] = n
		return n
	}
	out := &parcv1.Sockets{}
	var established []*parcv1.Socket
	for _, c := range conns {
		proto := "tcp"
		if c.Type == 2 { // SOCK_DGRAM
			proto = "udp"
		}
		sock := &parcv1.Socket{Protocol: proto, LocalIp: c.Laddr.IP, LocalPort: c.Laddr.Port,
			RemoteIp: c.Raddr.IP, RemotePort: c.Raddr.Port, Process: name(c.Pid)}
		switch {
		case proto == "tcp" && c.Status == "LISTEN", proto == "udp" && c.Raddr.Port == 0:
			sock.RemoteIp, sock.Pid = "", c.Pid
			out.Listening = append(out.Listening, sock)
		case proto == "tcp" && c.Status == "ESTABLISHED":
			established = append(established, sock)
		}
	}
	out.Connections = normalizeConnections(out.Listening, established)
	return out, nil
}
