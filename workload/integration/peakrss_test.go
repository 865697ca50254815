package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Why not wait4's ru_maxrss: Linux keeps a process's peak RSS across exec, so a
// child started from this test binary reports the test binary's own peak
// (about 42 MiB here) whenever its own is smaller — every figure read the same
// 42.12 MiB. The kernel's high-water mark of the child's own address space is
// VmHWM in /proc/<pid>/status, valid from the moment cmd.Start returns (Go's
// Start waits for the exec). It only grows, so sampling it and keeping the
// last reading loses at most what the child gains in its final interval.

// peakRSSInterval is how often the child's VmHWM is read.
const peakRSSInterval = 10 * time.Millisecond

// peakRSS samples a started child's VmHWM until stop is called.
type peakRSS struct {
	pid  int
	peak atomic.Int64 // bytes
	done chan struct{}
	quit chan struct{}
}

// watchPeakRSS starts sampling cmd, which must have been started.
func watchPeakRSS(cmd *exec.Cmd) *peakRSS {
	w := &peakRSS{pid: cmd.Process.Pid, done: make(chan struct{}), quit: make(chan struct{})}
	w.sample()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(peakRSSInterval)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-tick.C:
				w.sample()
			}
		}
	}()
	return w
}

func (w *peakRSS) sample() {
	hwm, err := vmHWM(w.pid)
	if err != nil {
		return // exited (a zombie has no VmHWM) or gone: the last reading stands
	}
	if hwm > w.peak.Load() {
		w.peak.Store(hwm)
	}
}

// stop ends sampling and returns the peak seen, in bytes.
func (w *peakRSS) stop() int64 {
	close(w.quit)
	<-w.done
	return w.peak.Load()
}

// vmHWM reads the peak resident set of pid's current address space.
func vmHWM(pid int) (int64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read the status of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM of process %d: %w", pid, err)
		}
		return kib << 10, nil
	}
	return 0, fmt.Errorf("process %d has no VmHWM (exited)", pid)
}

// holdEnv makes a re-exec of this test binary touch that many MiB, hold them
// briefly and exit (see init in resources_bench_test.go).
const holdEnv = "EDW_PEAK_RSS_HOLD_MIB"

func holdMemory(mib int) {
	buf := make([]byte, mib<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	time.Sleep(300 * time.Millisecond)
	if buf[len(buf)-4096] != 1 {
		os.Exit(2)
	}
}

// TestPeakRSSIsTheChildsOwn: the resource benchmark's peak memory is the
// measured process's, not inherited from the test binary that started it.
// A child that holds 8 MiB must read far below this test binary's own peak
// after it holds 96 MiB itself, and one that holds 96 MiB must read at least that.
func TestPeakRSSIsTheChildsOwn(t *testing.T) {
	// Make this binary's own peak large, as the benchmark's is after its setup.
	ballast := make([]byte, 96<<20)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hold     int
		min, max int64 // MiB
	}{{hold: 8, min: 8, max: 60}, {hold: 160, min: 160, max: 240}} {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), holdEnv+"="+strconv.Itoa(c.hold))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w := watchPeakRSS(cmd)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child holding %d MiB: %v", c.hold, err)
		}
		peak := w.stop() >> 20
		if peak < c.min || peak > c.max {
			t.Errorf("a child holding %d MiB read a peak of %d MiB, want %d..%d MiB (this binary holds 96 MiB of ballast)", c.hold, peak, c.min, c.max)
		} else {
			t.Logf("a child holding %d MiB read a peak of %d MiB", c.hold, peak)
		}
	}
	if ballast[4096] != 1 {
		t.Fatal("ballast lost")
	}
}
