//go:build linux

package service

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe gives the pipe that f writes into (stdout under Docker,
// Kubernetes or systemd: the runtime reads the other end) room for
// pipeBuffer bytes, where Linux gives 64 KiB. The log writer writes up to
// LogBufferSize at a time: into a 64 KiB pipe such a write blocks until the
// reader has drained it in turns, and the blocked thread costs the service
// a thread switch or more per batch on the CPU it serves from. It is best
// effort: anything but a pipe is left alone, and a size over
// /proc/sys/fs/pipe-max-size (1 MiB unless lowered) is refused.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn() // not Fd, which would make f blocking
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return
		}
		if size, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && size < pipeBuffer {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeBuffer)
		}
	})
}
