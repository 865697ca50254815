// Package proc starts the lab's processes so that none can outlive the test: each
// runs in its own process group, dies with the test process (PR_SET_PDEATHSIG),
// and is stopped by PID — SIGTERM, then SIGKILL after a grace period.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is one started command.
type Process struct {
	Name string
	Log  string // path of its combined stdout and stderr

	cmd  *exec.Cmd
	done chan struct{}
	err  error
	once sync.Once
}

// Spec says what to run.
type Spec struct {
	Name string
	Path string
	Args []string
	Env  []string // appended to a minimal environment (PATH, HOME)
	// Log is the file stdout and stderr go to; Output, when set, receives them too.
	Log    string
	Output io.Writer
	// NetNS, when set, runs the command inside that network namespace
	// (ip netns exec NAME …).
	NetNS string
}

// Start runs the spec. The process is killed by the kernel if the test process dies.
func Start(spec Spec) (*Process, error) {
	f, err := os.Create(spec.Log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	path, args := spec.Path, spec.Args
	if spec.NetNS != "" {
		args = append([]string{"netns", "exec", spec.NetNS, path}, args...)
		path = "ip"
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, spec.Env...)
	var out io.Writer = f
	if spec.Output != nil {
		out = io.MultiWriter(f, spec.Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Process{Name: spec.Name, Log: spec.Log, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	slog.Debug("started", "process", spec.Name, "pid", cmd.Process.Pid)
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	if ok, _ := p.Exited(); ok {
		return nil
	}
	return p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM to the process, waits up to grace, then kills its whole
// process group. It returns once the process has exited; calling it again is safe.
func (p *Process) Stop(grace time.Duration) {
	p.once.Do(func() {
		if ok, _ := p.Exited(); !ok {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(grace):
			}
		}
		// Whatever the process started in its group goes too.
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	})
}

// Wait waits for the process to exit or ctx to end.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		var exit *exec.ExitError
		if errors.As(p.err, &exit) {
			return fmt.Errorf("%s exited: %w", p.Name, p.err)
		}
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Tail returns the last n bytes of the process's log, for error messages.
func (p *Process) Tail(n int64) string {
	return TailFile(p.Log, n)
}

// TailFile returns the last n bytes of a file.
func TailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(b, off)
	return string(b)
}
