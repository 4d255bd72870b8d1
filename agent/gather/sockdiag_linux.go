package gather

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// sockDiag lists TCP listening and established sockets and bound UDP
// sockets through the kernel's sock_diag netlink interface (what `ss` uses).
// The kernel filters by state and answers in binary: on a machine with
// tens of thousands of connections this is several times faster than
// formatting and parsing /proc/net/tcp.
func sockDiag() ([]procSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	var out []procSocket
	buf := make([]byte, 256<<10)
	for _, q := range []struct {
		family, proto uint8
		states        uint32
	}{
		{unix.AF_INET, unix.IPPROTO_TCP, 1<<tcpEstablished | 1<<tcpListen},
		{unix.AF_INET6, unix.IPPROTO_TCP, 1<<tcpEstablished | 1<<tcpListen},
		{unix.AF_INET, unix.IPPROTO_UDP, 1 << udpUnconnected},
		{unix.AF_INET6, unix.IPPROTO_UDP, 1 << udpUnconnected},
	} {
		if out, err = sockDiagDump(fd, buf, q.family, q.proto, q.states, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY

func sockDiagDump(fd int, buf []byte, family, proto uint8, states uint32, out []procSocket) ([]procSocket, error) {
	// struct nlmsghdr (16 bytes) + struct inet_diag_req_v2 (56 bytes).
	req := make([]byte, 16+56)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	req[16], req[17] = family, proto
	binary.NativeEndian.PutUint32(req[20:], states)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return out, fmt.Errorf("sock_diag request: %w", err)
	}
	udp := proto == unix.IPPROTO_UDP
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return out, fmt.Errorf("sock_diag receive: %w", err)
		}
		for off := 0; off+16 <= n; {
			l := int(binary.NativeEndian.Uint32(buf[off:]))
			typ := binary.NativeEndian.Uint16(buf[off+4:])
			if l < 16 || off+l > n {
				return out, fmt.Errorf("sock_diag: bad message length %d: %w", l, ErrMalformed)
			}
			switch typ {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				code := int32(binary.NativeEndian.Uint32(buf[off+16:]))
				return out, fmt.Errorf("sock_diag: %w", unix.Errno(-code))
			}
			if s, ok := parseInetDiagMsg(buf[off+16:off+l], family, udp); ok {
				out = append(out, s)
			}
			off += (l + 3) &^ 3
		}
	}
}

// parseInetDiagMsg decodes a struct inet_diag_msg: family, state, timer,
// retrans, then inet_diag_sockid (ports and addresses in network order),
// expires, rqueue, wqueue, uid, inode.
func parseInetDiagMsg(m []byte, family uint8, udp bool) (procSocket, bool) {
	if len(m) < 72 {
		return procSocket{}, false
	}
	s := procSocket{udp: udp, state: m[1], inode: uint64(binary.NativeEndian.Uint32(m[68:]))}
	sport, dport := binary.BigEndian.Uint16(m[4:]), binary.BigEndian.Uint16(m[6:])
	var src, dst netip.Addr
	if family == unix.AF_INET {
		src, dst = netip.AddrFrom4([4]byte(m[8:12])), netip.AddrFrom4([4]byte(m[24:28]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(m[8:24])).Unmap(), netip.AddrFrom16([16]byte(m[24:40])).Unmap()
	}
	s.local, s.remote = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	if udp && !s.listening() {
		return procSocket{}, false // a connected UDP socket
	}
	return s, true
}
