package main

import "syscall"

// childAttr puts a child in its own process group, so the terminal's Ctrl-C
// reaches only the demo, which stops children in order; and has the kernel
// send it SIGTERM should the demo die without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
