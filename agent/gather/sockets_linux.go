package gather

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	parcv1 "parc/proto/parc/v1"
)

// TCP states of /proc/net/tcp (include/net/tcp_states.h).
const (
	tcpEstablished = "01"
	tcpListen      = "0A"
	udpUnconnected = "07"
)

type procSocket struct {
	proto         string
	local, remote netip.AddrPort
	state         string
	inode         string
}

// socketsGatherer lists listening sockets (TCP LISTEN, bound unconnected
// UDP) and established TCP connections from /proc/net/{tcp,tcp6,udp,udp6},
// and names the owning process by mapping socket inodes found in
// /proc/<pid>/fd. Without root only the agent's own user's processes can be
// mapped; the others keep an empty process name.
//
// Connections are reduced by normalizeConnections.
func socketsGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	var all []procSocket
	var errs []error
	missing := 0
	for _, p := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(env.Path("/proc/net/" + p))
		if errors.Is(err, fs.ErrNotExist) {
			missing++
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read /proc/net/%s: %w", p, err))
			continue
		}
		socks, err := parseProcNet(strings.TrimSuffix(p, "6"), string(b))
		if err != nil {
			errs = append(errs, fmt.Errorf("/proc/net/%s: %w", p, err))
		}
		all = append(all, socks...)
	}
	if missing == 4 {
		return nil, ErrNotPresent
	}
	owners := socketOwners(env, all)
	out := &parcv1.Sockets{}
	var conns []*parcv1.Socket
	for _, s := range all {
		o := owners[s.inode]
		switch {
		case (s.proto == "tcp" && s.state == tcpListen) || (s.proto == "udp" && s.state == udpUnconnected && s.remote.Port() == 0):
			out.Listening = append(out.Listening, &parcv1.Socket{Protocol: s.proto, LocalIp: s.local.Addr().String(),
				LocalPort: uint32(s.local.Port()), Process: o.name, Pid: o.pid})
		case s.proto == "tcp" && s.state == tcpEstablished:
			conns = append(conns, &parcv1.Socket{Protocol: "tcp", LocalIp: s.local.Addr().String(), LocalPort: uint32(s.local.Port()),
				RemoteIp: s.remote.Addr().String(), RemotePort: uint32(s.remote.Port()), Process: o.name})
		}
	}
	out.Connections = normalizeConnections(out.Listening, conns)
	return &parcv1.Inventory{Sockets: out}, errors.Join(errs...)
}

func parseProcNet(proto, s string) ([]procSocket, error) {
	var out []procSocket
	bad := 0
	for i, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // header
		}
		if len(f) < 10 {
			bad++
			continue
		}
		local, err1 := parseHexAddr(f[1])
		remote, err2 := parseHexAddr(f[2])
		if err1 != nil || err2 != nil {
			bad++
			continue
		}
		out = append(out, procSocket{proto: proto, local: local, remote: remote, state: strings.ToUpper(f[3]), inode: f[9]})
	}
	if bad > 0 {
		return out, fmt.Errorf("%d unparsable lines: %w", bad, ErrMalformed)
	}
	return out, nil
}

// parseHexAddr decodes "0100007F:0016": the address in host byte order
// 32-bit words (little-endian here), the port big-endian hex.
func parseHexAddr(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, ErrMalformed
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, ErrMalformed
	}
	for w := 0; w < len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, ErrMalformed
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

type owner struct {
	name string
	pid  int32
}

// socketOwners maps the inodes of socks to the lowest pid holding them.
// /proc is scanned by a few workers and the scan stops once every inode is
// accounted for: /proc readlinks are the slowest part of the inventory.
func socketOwners(env *Env, socks []procSocket) map[string]owner {
	want := map[string]bool{}
	for _, s := range socks {
		if s.inode != "0" {
			want[s.inode] = true
		}
	}
	out := map[string]owner{}
	if len(want) == 0 {
		return out
	}
	proc := env.Path("/proc")
	des, err := os.ReadDir(proc)
	if err != nil {
		return out
	}
	var mu sync.Mutex
	pids := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for p := range pids {
				pid, _ := strconv.Atoi(p)
				fdDir := filepath.Join(proc, p, "fd")
				fds, err := os.ReadDir(fdDir)
				if err != nil {
					continue // gone, or not ours to read
				}
				var name string
				for _, fd := range fds {
					l, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
					if err != nil || !strings.HasPrefix(l, "socket:[") {
						continue
					}
					ino := l[len("socket:[") : len(l)-1]
					if !want[ino] {
						continue
					}
					if name == "" {
						name = readString(filepath.Join(proc, p, "comm"))
					}
					mu.Lock()
					if o, ok := out[ino]; !ok || int32(pid) < o.pid {
						out[ino] = owner{name, int32(pid)}
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, de := range des {
		if _, err := strconv.Atoi(de.Name()); err != nil {
			continue
		}
		mu.Lock()
		done := len(out) == len(want)
		mu.Unlock()
		if done {
			break
		}
		pids <- de.Name()
	}
	close(pids)
	wg.Wait()
	return out
}
