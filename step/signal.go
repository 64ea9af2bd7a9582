package step

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

var termOnce sync.Once

// TerminateLikeInterrupt makes SIGTERM (how CI systems and `timeout` stop
// jobs) behave exactly like Ctrl-C in a compiled magefile: mage cancels the
// running target's context on SIGINT only, and dies at once on SIGTERM,
// leaving temporaries behind. The handler turns the first SIGTERM into a SIGINT
// to this process, so mage's own cancel-and-wait path runs; later SIGTERMs
// are ignored (Ctrl-C twice still forces an exit).
//
// It also asks the kernel to send SIGTERM when the parent dies: `mage`
// runs the compiled magefile as a child and ignores SIGINT itself, so a
// SIGTERM to the `mage` process alone would otherwise leave the child
// running as an orphan.
func TerminateLikeInterrupt() {
	termOnce.Do(func() {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGTERM)
		ppid := os.Getppid()
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
		go func() {
			// Only the first SIGTERM becomes a SIGINT: a second SIGINT
			// makes mage exit at once, without the cleanup the first one
			// started. SIGTERMs come in pairs when the parent dies while
			// it, or the kernel (the parent-death signal), forwards one.
			<-ch
			_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
			for range ch {
			}
		}()
		if os.Getppid() != ppid { // the parent died before the prctl
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}
	})
}
