//go:build !linux

package main

import "syscall"

// childAttr puts a child in its own process group, so the terminal's Ctrl-C
// reaches only the demo, which stops children in order.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
