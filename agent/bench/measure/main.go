// Command measure is the helper of agent/bench/bench.sh. It is not part of
// the agent binary.
//
//	measure compare -n 7 -- CMD A... --- CMD B...   median wall time and peak RSS of A and B, run alternately
//	measure idle -pid PID -seconds 20               RSS and CPU of a running process over a window
//	measure collector                               a collector that acknowledges every report; prints its address
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	parcv1 "parc/proto/parc/v1"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: measure compare|idle|collector ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "compare":
		err = compare(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "collector":
		err = collector()
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

type sample struct {
	wall   time.Duration
	rssKiB int64
}

// runOnce runs argv with output discarded and returns its wall time and
// peak RSS (ru_maxrss of the child from wait4: the largest of the process
// and the descendants it waited for).
func runOnce(argv []string) (sample, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	cmd.Stdout, cmd.Stderr = devnull, devnull
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{wall, ru.Maxrss}, nil
}

func median[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

type stats struct {
	name       string
	walls      []time.Duration
	rss        []int64
	medianWall time.Duration
	medianRSS  int64
	maxRSS     int64
}

func compare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	n := fs.Int("n", 7, "runs of each command")
	maxWall := fs.Float64("max-wall-ratio", 0.1, "target: A's median wall time at most this fraction of B's")
	maxRSS := fs.Float64("max-rss-ratio", 0.5, "target: A's peak RSS at most this fraction of B's")
	fs.Parse(args)
	rest := fs.Args()
	i := slices.Index(rest, "---")
	if i <= 0 || i == len(rest)-1 {
		return fmt.Errorf("want CMD A... --- CMD B...")
	}
	cmds := [][]string{rest[:i], rest[i+1:]}
	st := []*stats{{name: strings.Join(cmds[0], " ")}, {name: strings.Join(cmds[1], " ")}}
	// One warm-up run each (page cache, dentries), then alternate A, B so
	// that load from elsewhere on the machine hits both alike.
	for c := range cmds {
		if _, err := runOnce(cmds[c]); err != nil {
			return err
		}
	}
	for range *n {
		for c := range cmds {
			s, err := runOnce(cmds[c])
			if err != nil {
				return err
			}
			st[c].walls = append(st[c].walls, s.wall)
			st[c].rss = append(st[c].rss, s.rssKiB)
		}
	}
	for _, s := range st {
		s.medianWall, s.medianRSS, s.maxRSS = median(s.walls), median(s.rss), slices.Max(s.rss)
		fmt.Printf("%-40s median wall %7.3f s  peak RSS median %6.1f MiB (max %6.1f MiB)  over %d runs\n",
			s.name, s.medianWall.Seconds(), float64(s.medianRSS)/1024, float64(s.maxRSS)/1024, *n)
	}
	wr := st[0].medianWall.Seconds() / st[1].medianWall.Seconds()
	rr := float64(st[0].medianRSS) / float64(st[1].medianRSS)
	fmt.Printf("wall time ratio %.3f (target <= %.3f): %s\n", wr, *maxWall, verdict(wr <= *maxWall))
	fmt.Printf("peak RSS ratio  %.3f (target <= %.3f): %s\n", rr, *maxRSS, verdict(rr <= *maxRSS))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// idle samples VmRSS twice a second and reads utime+stime at both ends.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process to watch")
	secs := fs.Int("seconds", 20, "window")
	maxMiB := fs.Float64("max-rss-mib", 20, "target: RSS at most this")
	fs.Parse(args)
	cpu0, err := cpuTicks(*pid)
	if err != nil {
		return err
	}
	start := time.Now()
	var maxKiB, lastKiB int64
	for time.Since(start) < time.Duration(*secs)*time.Second {
		kib, err := rssKiB(*pid)
		if err != nil {
			return err
		}
		maxKiB, lastKiB = max(maxKiB, kib), kib
		time.Sleep(500 * time.Millisecond)
	}
	cpu1, err := cpuTicks(*pid)
	if err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()
	cpuSec := float64(cpu1-cpu0) / 100 // USER_HZ
	fmt.Printf("idle agent RSS max %.1f MiB, last %.1f MiB over %.0f s (target <= %.0f MiB): %s\n",
		float64(maxKiB)/1024, float64(lastKiB)/1024, elapsed, *maxMiB, verdict(float64(maxKiB)/1024 <= *maxMiB))
	fmt.Printf("idle agent CPU %.2f s over %.0f s = %.2f%% of one core (no busy loop: < 1%%): %s\n",
		cpuSec, elapsed, 100*cpuSec/elapsed, verdict(100*cpuSec/elapsed < 1))
	return nil
}

func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st, nil
}

type ackAll struct {
	parcv1.UnimplementedAgentServiceServer
}

func (ackAll) Report(s parcv1.AgentService_ReportServer) error {
	for {
		r, err := s.Recv()
		if err != nil {
			return nil
		}
		if err := s.Send(&parcv1.Ack{BootId: r.BootId, Sequence: r.Sequence}); err != nil {
			return err
		}
	}
}

func collector() error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(lis.Addr().String())
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(16 << 20))
	parcv1.RegisterAgentServiceServer(srv, ackAll{})
	return srv.Serve(lis)
}
