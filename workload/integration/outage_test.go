package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/emulator"
)

// azurite is a private Azurite. With on-disk state it can be stopped and started
// again on the same ports without losing the queue.
type azurite struct {
	dir, data    string // data is empty for in-memory state
	qport, tport int
	conn         string
	cmd          *exec.Cmd
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startAzurite(t testing.TB, emulatorDir string, onDisk bool) *azurite {
	a := &azurite{dir: emulatorDir, qport: freePort(t), tport: freePort(t)}
	if onDisk {
		a.data = t.TempDir()
	}
	a.conn = emulator.AzuriteConnectionString(fmt.Sprintf("http://127.0.0.1:%d", a.qport), fmt.Sprintf("http://127.0.0.1:%d", a.tport))
	a.start(t)
	t.Cleanup(func() { a.stop(t) })
	return a
}

func (a *azurite) start(t testing.TB) {
	t.Helper()
	state := []string{"--inMemoryPersistence"}
	if a.data != "" {
		state = []string{"--location", a.data}
	}
	a.cmd = exec.Command("node", append([]string{filepath.Join(a.dir, "node_modules", ".bin", "azurite"),
		"--silent", "--disableTelemetry", "--skipApiVersionCheck",
		"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(freePort(t)), "--queueHost", "127.0.0.1", "--queuePort", fmt.Sprint(a.qport),
		"--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(a.tport)}, state...)...)
	a.cmd.Stderr = os.Stderr // its stdout is a startup banner per run
	require.NoError(t, a.cmd.Start())
	for _, port := range []int{a.qport, a.tport} {
		// Node takes a while to load Azurite on a busy machine.
		eventually(t, 90*time.Second, fmt.Sprintf("azurite on %d", port), func() bool {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
}

func (a *azurite) stop(t testing.TB) {
	t.Helper()
	if a.cmd == nil || a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}
