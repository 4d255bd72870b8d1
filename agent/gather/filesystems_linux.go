package gather

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	parcv1 "parc/proto/parc/v1"
)

// pseudoFS are filesystem types that hold no user data.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "tmpfs": true,
	"cgroup": true, "cgroup2": true, "securityfs": true, "debugfs": true,
	"tracefs": true, "pstore": true, "bpf": true, "configfs": true, "fusectl": true,
	"hugetlbfs": true, "mqueue": true, "autofs": true, "binfmt_misc": true,
	"nsfs": true, "ramfs": true, "efivarfs": true, "rpc_pipefs": true,
	"selinuxfs": true, "squashfs": true, "overlay_internal": true, "nfsd": true,
	"fuse.gvfsd-fuse": true, "fuse.portal": true, "fuse.lxcfs": true,
}

// statfsTimeout bounds one statfs call: a hung network mount must not stall
// the inventory.
const statfsTimeout = 2 * time.Second

// filesystemsGatherer lists mounted filesystems from /proc/self/mountinfo,
// skipping pseudo filesystems and further mounts of a device already listed
// (bind mounts), and measures each with statfs.
func filesystemsGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	b, err := os.ReadFile(env.Path("/proc/self/mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	mounts, perr := parseMountinfo(string(b))
	var errs []error
	if perr != nil {
		errs = append(errs, perr)
	}
	var items []*parcv1.Filesystem
	for _, m := range mounts {
		measure := env.Statfs
		if measure == nil {
			measure = statfs
		}
		total, used, err := measure(env.Path(m.MountPoint))
		if err != nil {
			errs = append(errs, fmt.Errorf("statfs %s: %w", m.MountPoint, err))
		}
		m.SizeBytes, m.UsedBytes = total, used
		items = append(items, m)
	}
	return &parcv1.Inventory{Filesystems: &parcv1.Filesystems{Items: items}}, errors.Join(errs...)
}

func parseMountinfo(s string) ([]*parcv1.Filesystem, error) {
	var out []*parcv1.Filesystem
	seen := map[string]bool{}
	bad := 0
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			bad++
			continue
		}
		devno, root, mp := f[2], unescapeMount(f[3]), unescapeMount(f[4])
		fstype, source := g[0], unescapeMount(g[1])
		if pseudoFS[fstype] || strings.HasPrefix(mp, "/proc/") || strings.HasPrefix(mp, "/sys/") {
			continue
		}
		// A device mounted twice, or a file bind-mounted (Docker's
		// /etc/hosts), is listed once: at its first mount of the whole tree.
		if seen[devno] || (root != "/" && fstype != "btrfs") {
			continue
		}
		seen[devno] = true
		out = append(out, &parcv1.Filesystem{Device: source, MountPoint: mp, Type: fstype})
	}
	if bad > 0 {
		return out, fmt.Errorf("mountinfo: %d unparsable lines: %w", bad, ErrMalformed)
	}
	return out, nil
}

// unescapeMount decodes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func statfs(path string) (total, used uint64, err error) {
	type res struct {
		st  unix.Statfs_t
		err error
	}
	ch := make(chan res, 1)
	go func() {
		var r res
		r.err = unix.Statfs(path, &r.st)
		ch <- r
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return 0, 0, r.err
		}
		bs := uint64(r.st.Bsize)
		return r.st.Blocks * bs, (r.st.Blocks - r.st.Bfree) * bs, nil
	case <-time.After(statfsTimeout):
		return 0, 0, errors.New("statfs timed out")
	}
}
