package gather

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	parcv1 "parc/proto/parc/v1"
)

// TCP states of /proc/net/tcp (include/net/tcp_states.h); UDP sockets use
// TCP_CLOSE (7) for "bound, not connected".
const (
	tcpEstablished = 0x01
	tcpListen      = 0x0A
	udpUnconnected = 0x07
)

type procSocket struct {
	udp           bool
	state         byte
	local, remote netip.AddrPort
	inode         uint64
}

func (s procSocket) listening() bool {
	if s.udp {
		return s.state == udpUnconnected && s.remote.Port() == 0
	}
	return s.state == tcpListen
}

func (s procSocket) established() bool { return !s.udp && s.state == tcpEstablished }

// socketsGatherer lists listening sockets (TCP LISTEN, bound unconnected
// UDP) and established TCP connections from /proc/net/{tcp,tcp6,udp,udp6},
// and names the owning process by mapping socket inodes found in
// /proc/<pid>/fd. Without root only the agent's own user's processes can be
// mapped; the others keep an empty process name.
//
// Connections are reduced the way normalizeConnections does (inbound keep
// the local port, outbound the remote one, duplicates collapse, no pid),
// here on compact structs before any message is built: a busy server has
// tens of thousands of connections that collapse to a handful of entries.
func socketsGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	var all []procSocket
	var errs []error
	var err error
	if env.Live() {
		all, err = sockDiag()
		if err != nil {
			env.Logger.Debug("sock_diag failed; reading /proc/net", "err", err)
			all = nil
		}
	}
	if all == nil {
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
			socks, err := parseProcNet(p[0] == 'u', b, all)
			if err != nil {
				errs = append(errs, fmt.Errorf("/proc/net/%s: %w", p, err))
			}
			all = socks
		}
		if missing == 4 {
			return nil, ErrNotPresent
		}
	}
	owners := socketOwners(env, all)
	out := &parcv1.Sockets{}
	listen := map[uint16]bool{}
	for _, s := range all {
		if s.listening() {
			o := owners[s.inode]
			if !s.udp {
				listen[s.local.Port()] = true
			}
			out.Listening = append(out.Listening, &parcv1.Socket{Protocol: protoName(s.udp), LocalIp: s.local.Addr().String(),
				LocalPort: uint32(s.local.Port()), Process: o.name, Pid: o.pid})
		}
	}
	type connKey struct {
		local, remote         netip.Addr
		localPort, remotePort uint16
		process               string
	}
	keyOf := func(s procSocket) connKey {
		k := connKey{local: s.local.Addr(), remote: s.remote.Addr()}
		if listen[s.local.Port()] {
			k.localPort = s.local.Port()
		} else {
			k.remotePort = s.remote.Port()
		}
		return k
	}
	// Connections whose owner was not found (not ours to read, or past a
	// process's fd scan cap) are named after their listener (inbound) or
	// after the one process seen with the same outbound key.
	listenerName := map[uint16]string{}
	for _, l := range out.Listening {
		if l.Protocol == "tcp" && l.Process != "" {
			listenerName[uint16(l.LocalPort)] = l.Process
		}
	}
	outboundName := map[connKey]string{}
	for _, s := range all {
		if o, ok := owners[s.inode]; ok && s.established() {
			k := keyOf(s)
			if n, seen := outboundName[k]; seen && n != o.name {
				outboundName[k] = "" // ambiguous
			} else {
				outboundName[k] = o.name
			}
		}
	}
	seen := map[connKey]bool{}
	for _, s := range all {
		if !s.established() {
			continue
		}
		k := keyOf(s)
		if o, ok := owners[s.inode]; ok {
			k.process = o.name
		} else if k.localPort != 0 {
			k.process = listenerName[k.localPort]
		} else {
			k.process = outboundName[k]
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out.Connections = append(out.Connections, &parcv1.Socket{Protocol: "tcp", LocalIp: k.local.String(), LocalPort: uint32(k.localPort),
			RemoteIp: k.remote.String(), RemotePort: uint32(k.remotePort), Process: k.process})
	}
	return &parcv1.Inventory{Sockets: out}, errors.Join(errs...)
}

func protoName(udp bool) string {
	if udp {
		return "udp"
	}
	return "tcp"
}

// parseProcNet appends to dst the listening and established sockets of a
// /proc/net/{tcp,udp}[6] file. Other states (TIME_WAIT, SYN_SENT, …) are
// skipped while parsing. It allocates nothing per line.
func parseProcNet(udp bool, b []byte, dst []procSocket) ([]procSocket, error) {
	bad := 0
	first := true
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if first { // header
			first = false
			continue
		}
		var f [10][]byte
		n := 0
		for rest := line; n < len(f); n++ {
			rest = bytes.TrimLeft(rest, " ")
			if len(rest) == 0 {
				break
			}
			end := bytes.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			f[n], rest = rest[:end], rest[end:]
		}
		if n == 0 {
			continue
		}
		if n < len(f) {
			bad++
			continue
		}
		state, err := strconv.ParseUint(string(f[3]), 16, 8)
		if err != nil {
			bad++
			continue
		}
		s := procSocket{udp: udp, state: byte(state)}
		if !s.listening() && !s.established() && !(udp && state == udpUnconnected) {
			continue
		}
		var ok1, ok2 bool
		s.local, ok1 = parseHexAddr(f[1])
		s.remote, ok2 = parseHexAddr(f[2])
		if !ok1 || !ok2 {
			bad++
			continue
		}
		if !s.listening() && !s.established() {
			continue // a connected UDP socket
		}
		if s.inode, err = strconv.ParseUint(string(f[9]), 10, 64); err != nil {
			bad++
			continue
		}
		dst = append(dst, s)
	}
	if bad > 0 {
		return dst, fmt.Errorf("%d unparsable lines: %w", bad, ErrMalformed)
	}
	return dst, nil
}

// parseHexAddr decodes "0100007F:0016": the address as 32-bit words in
// host byte order (little-endian here), the port big-endian hex.
func parseHexAddr(s []byte) (netip.AddrPort, bool) {
	colon := bytes.IndexByte(s, ':')
	if colon != 8 && colon != 32 {
		return netip.AddrPort{}, false
	}
	var raw [16]byte
	for i := 0; i < colon/2; i++ {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return netip.AddrPort{}, false
		}
		// Byte i of the text is byte (i/4)*4 + 3 - i%4 of the address.
		raw[(i/4)*4+3-i%4] = hi<<4 | lo
	}
	var port uint16
	for _, c := range s[colon+1:] {
		v, ok := unhex(c)
		if !ok {
			return netip.AddrPort{}, false
		}
		port = port<<4 | uint16(v)
	}
	var addr netip.Addr
	if colon == 8 {
		addr = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		addr = netip.AddrFrom16(raw).Unmap()
	}
	return netip.AddrPortFrom(addr, port), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

type owner struct {
	name string
	pid  int32
}

// socketOwners maps the inodes of socks to the lowest pid holding them.
// /proc/<pid>/fd is read by a few workers with readlinkat into a reused
// buffer: on a server with ten thousand connections this loop is most of
// the inventory's cost.
func socketOwners(env *Env, socks []procSocket) map[uint64]owner {
	want := make(map[uint64]bool, len(socks))
	for _, s := range socks {
		if s.inode != 0 {
			want[s.inode] = true
		}
	}
	out := map[uint64]owner{}
	if len(want) == 0 {
		return out
	}
	proc := env.Path("/proc")
	d, err := os.Open(proc)
	if err != nil {
		return out
	}
	pids, _ := d.Readdirnames(-1)
	d.Close()
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			buf := make([]byte, 64)
			for p := range work {
				pid, _ := strconv.Atoi(p)
				found := ownedSockets(filepath.Join(proc, p, "fd"), want, buf)
				if len(found) == 0 {
					continue
				}
				o := owner{readString(filepath.Join(proc, p, "comm")), int32(pid)}
				mu.Lock()
				for _, ino := range found {
					if cur, ok := out[ino]; !ok || o.pid < cur.pid {
						out[ino] = o
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range pids {
		if p[0] >= '0' && p[0] <= '9' {
			work <- p
		}
	}
	close(work)
	wg.Wait()
	return out
}

// maxFDScan caps the descriptors read per process. A process holding more
// (a proxy with 20,000 connections) has its first maxFDScan examined; its
// other connections are named by socketsGatherer's inference (listener for
// inbound, same outbound key), which keeps one huge process from costing
// hundreds of milliseconds of readlinks.
const maxFDScan = 2048

// ownedSockets returns the wanted socket inodes open in an fd directory.
func ownedSockets(fdDir string, want map[uint64]bool, buf []byte) []uint64 {
	f, err := os.Open(fdDir)
	if err != nil {
		return nil // gone, or not ours to read
	}
	defer f.Close()
	names, _ := f.Readdirnames(maxFDScan)
	dirfd := int(f.Fd())
	var found []uint64
	for _, n := range names {
		l, err := unix.Readlinkat(dirfd, n, buf)
		if err != nil || l < len("socket:[0]") || string(buf[:8]) != "socket:[" {
			continue
		}
		var ino uint64
		for _, c := range buf[8 : l-1] {
			ino = ino*10 + uint64(c-'0')
		}
		if want[ino] {
			found = append(found, ino)
		}
	}
	return found
}
