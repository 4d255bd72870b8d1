package spool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

func report(seq uint64) *parcv1.Report {
	return &parcv1.Report{AgentId: "a", BootId: "b", Sequence: seq, Kind: parcv1.Report_HEARTBEAT,
		SectionHashes: map[string]string{"system": strings.Repeat("0", 32)}}
}

func TestReplayInOrderAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if _, _, err := s.Put(report(seq)); err != nil {
			t.Fatal(err)
		}
	}
	idx, r, err := s.Peek()
	if err != nil || r.Sequence != 1 {
		t.Fatalf("peek = %v, %v", r, err)
	}
	if err := s.Remove(idx); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for {
		idx, r, err := s2.Peek()
		if errors.Is(err, ErrEmpty) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Sequence)
		if err := s2.Remove(idx); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(got) != "[2 3 4 5]" {
		t.Fatalf("replayed %v, want [2 3 4 5]", got)
	}
	if idx, _, _ := s2.Put(report(6)); idx != 6 {
		t.Fatalf("index after reopen = %d, want 6 (after the last one spooled)", idx)
	}
}

func TestCapDropsOldestFirstAndCounts(t *testing.T) {
	one := int64(len(mustMarshal(t, report(1))))
	s, err := Open(t.TempDir(), 3*one)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for seq := uint64(1); seq <= 5; seq++ {
		_, dropped, err := s.Put(report(seq))
		if err != nil {
			t.Fatal(err)
		}
		total += dropped
	}
	if total != 2 || s.Dropped() != 2 || s.Len() != 3 {
		t.Fatalf("dropped %d (counter %d), len %d; want 2, 2, 3", total, s.Dropped(), s.Len())
	}
	if _, r, _ := s.Peek(); r.Sequence != 3 {
		t.Fatalf("oldest left is %d, want 3", r.Sequence)
	}
	if _, _, err := s.Put(&parcv1.Report{AgentId: strings.Repeat("x", int(4*one))}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized put: %v", err)
	}
}

func TestCorruptFileIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, 1<<20)
	idx, _, _ := s.Put(report(1))
	s.Put(report(2))
	os.WriteFile(s.path(idx), []byte("\xff\xff\xff"), 0o600)
	os.WriteFile(dir+"/.tmp-123", []byte("torn"), 0o600)
	s, _ = Open(dir, 1<<20)
	if _, r, err := s.Peek(); err != nil || r.Sequence != 2 || s.Dropped() != 1 {
		t.Fatalf("peek = %v, %v, dropped %d", r, err, s.Dropped())
	}
	if _, err := os.Stat(dir + "/.tmp-123"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("temporary file survived Open")
	}
}

func mustMarshal(t *testing.T, r *parcv1.Report) []byte {
	b, err := (protoMarshal)(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const childEnv = "PARC_SPOOL_KILL_CHILD"

// TestMain lets the kill -9 test re-execute this test binary as the child
// that writes to the spool.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		killChild(dir)
		return
	}
	os.Exit(m.Run())
}

// killChild puts reports forever and acknowledges (removes) the oldest one
// after every third put, printing each step only after it returned.
func killChild(dir string) {
	s, err := Open(dir, 64<<20)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for seq := uint64(1); ; seq++ {
		idx, _, err := s.Put(report(seq))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("put", idx, seq)
		if seq%3 == 0 {
			idx, _, err := s.Peek()
			if err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println("acking", idx)
			if err := s.Remove(idx); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println("acked", idx)
		}
	}
}

// TestKill9LosesNothingUnacknowledged SIGKILLs a child process in the middle
// of putting and removing reports, then checks that every report whose Put
// returned and that was not acknowledged is still there, in order, and no
// acknowledged one is.
func TestKill9LosesNothingUnacknowledged(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	put := map[uint64]uint64{} // idx → seq
	acking, acked := map[uint64]bool{}, map[uint64]bool{}
	handle := func(line string) {
		f := strings.Fields(line)
		switch f[0] {
		case "put":
			idx, _ := strconv.ParseUint(f[1], 10, 64)
			seq, _ := strconv.ParseUint(f[2], 10, 64)
			put[idx] = seq
		case "acking", "acked":
			idx, _ := strconv.ParseUint(f[1], 10, 64)
			if f[0] == "acking" {
				acking[idx] = true
			} else {
				acked[idx] = true
			}
		default:
			t.Fatalf("child: %s", line)
		}
	}
	sc := bufio.NewScanner(out)
	for len(put) < 300 && sc.Scan() {
		handle(sc.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Read what the child printed before it died, then reap it.
	for sc.Scan() {
		if l := sc.Text(); strings.Count(l, " ") > 0 && !strings.HasSuffix(l, " ") {
			handle(l)
		}
	}
	cmd.Wait()

	s, err := Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	left := map[uint64]bool{}
	var last uint64
	for {
		idx, r, err := s.Peek()
		if errors.Is(err, ErrEmpty) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if idx <= last {
			t.Fatalf("index %d after %d: out of order", idx, last)
		}
		last = idx
		if seq, ok := put[idx]; ok && seq != r.Sequence {
			t.Fatalf("index %d holds sequence %d, want %d", idx, r.Sequence, seq)
		}
		if acked[idx] {
			t.Fatalf("acknowledged report %d is still spooled", idx)
		}
		left[idx] = true
		s.Remove(idx)
	}
	for idx := range put {
		if !acking[idx] && !left[idx] {
			t.Fatalf("report %d was put, never acknowledged, and is lost", idx)
		}
	}
	if s.Dropped() != 0 {
		t.Fatalf("%d corrupt reports after kill -9", s.Dropped())
	}
	t.Logf("child put %d, acked %d; %d left after kill -9", len(put), len(acked), len(left))
}

var protoMarshal = func(r *parcv1.Report) ([]byte, error) { return proto.Marshal(r) }
