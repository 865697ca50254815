// Package netns gives the lab an address the API server's aggregator may dial.
// Endpoints reject loopback addresses, and the lab must not use the machine's own
// interfaces, so the test creates a network namespace joined to the host by a
// veth pair with addresses it chooses, runs the metrics adapter inside it, and
// removes it all at the end. Forward carries the adapter's own connections (to
// the API server and the KEDA operator, both on the host's loopback) over the
// veth pair.
package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
)

// Namespace is a network namespace with a veth pair to the host.
type Namespace struct {
	Name   string
	HostIP string // the host end of the veth pair
	NSIP   string // the namespace end
	hostIf string
}

// Create makes the namespace NAME, a veth pair, and addresses hostIP/24 (host
// end) and nsIP/24 (namespace end). Needs root (CAP_NET_ADMIN).
func Create(ctx context.Context, name, hostIP, nsIP string) (*Namespace, error) {
	n := &Namespace{Name: name, HostIP: hostIP, NSIP: nsIP, hostIf: name + "-h"}
	nsIf := name + "-n"
	steps := [][]string{
		{"netns", "add", name},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", nsIf},
		{"link", "set", nsIf, "netns", name},
		{"addr", "add", hostIP + "/24", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"netns", "exec", name, "ip", "addr", "add", nsIP + "/24", "dev", nsIf},
		{"netns", "exec", name, "ip", "link", "set", nsIf, "up"},
		{"netns", "exec", name, "ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			n.Remove()
			return nil, err
		}
	}
	return n, nil
}

// Remove deletes the veth pair and the namespace; errors are logged.
func (n *Namespace) Remove() {
	ctx := context.Background()
	_ = ip(ctx, "link", "del", n.hostIf)
	if err := ip(ctx, "netns", "del", n.Name); err != nil {
		slog.Warn("remove network namespace", "name", n.Name, "err", err)
	}
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Forward accepts connections on l and pipes each to target (dialled from the
// host's network namespace) until ctx ends.
func Forward(ctx context.Context, l net.Listener, target string) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				slog.Warn("forward accept", "err", err)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			var d net.Dialer
			up, err := d.DialContext(ctx, "tcp", target)
			if err != nil {
				slog.Warn("forward dial", "target", target, "err", err)
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, conn); done <- struct{}{} }()
			go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
			select {
			case <-done:
			case <-ctx.Done():
			}
		}()
	}
}
