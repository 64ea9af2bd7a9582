package stage1

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rktbuild/rktbuild/step"
)

// Smoke markers printed by the test init.
const (
	SmokeStart = "RKTBUILD-SMOKE-START"
	SmokeOK    = "RKTBUILD-SMOKE-OK"
	SmokeFail  = "RKTBUILD-SMOKE-FAIL"
)

// KernelArgs are the kernel arguments rkt's qemu hypervisor passes
// (stage1/init/kvm/hypervisor/hvqemu), plus the serial console and the
// test init.
var KernelArgs = []string{
	"root=/dev/root", "rootfstype=9p", "rootflags=trans=virtio,version=9p2000.L,cache=mmap", "rw",
	"console=ttyS0", "init=/init", "panic=-1",
}

// QemuArgs returns the qemu-system-x86_64 arguments for booting kernel
// with rootfs as its 9p root, using rkt's device model: -fsdev local
// (security_model=none) exported as virtio-9p-pci with mount tag
// /dev/root, and -no-reboot so a guest reboot ends qemu.
func QemuArgs(accel, kernelImage, rootfs string) []string {
	return []string{
		"-accel", accel,
		"-m", "256", "-smp", "1",
		"-no-reboot", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-kernel", kernelImage,
		"-fsdev", "local,id=root,path=" + rootfs + ",security_model=none",
		"-device", "virtio-9p-pci,fsdev=root,mount_tag=/dev/root",
		"-append", strings.Join(KernelArgs, " "),
	}
}

// SmokeOptions configure Smoke.
type SmokeOptions struct {
	Kernel  string        // the bzImage to boot
	WorkDir string        // holds the test rootfs and the console log
	Accel   string        // tcg or kvm
	Timeout time.Duration // default 3 minutes
}

// SmokeResult is what the guest reported.
type SmokeResult struct {
	Release string        // uname -r inside the guest
	Console string        // the console log file
	Elapsed time.Duration // boot to power-off
	// Boot is qemu start to the test init's OK marker on the console.
	Boot time.Duration
}

// Smoke boots o.Kernel under qemu with a test rootfs over virtio-9p whose
// init checks /proc, /sys, devtmpfs, cgroups and the 9p root and powers
// off. It fails on a failed check, a missing marker, qemu failing, or the
// guest not returning control to the host within the timeout; the error
// shows the console log.
func Smoke(ctx context.Context, o SmokeOptions) (*SmokeResult, error) {
	switch o.Accel {
	case "", "tcg":
		o.Accel = "tcg"
	case "kvm":
		if _, err := os.Stat("/dev/kvm"); err != nil {
			return nil, fmt.Errorf("S1B_QEMU_ACCEL=kvm but %v: use tcg", err)
		}
	default:
		return nil, fmt.Errorf("S1B_QEMU_ACCEL=%q: expected tcg or kvm", o.Accel)
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if _, err := os.Stat(o.Kernel); err != nil {
		return nil, fmt.Errorf("smoke: kernel: %w (run `mage buildStage1` first)", err)
	}
	rootfs, err := filepath.Abs(filepath.Join(o.WorkDir, "rootfs"))
	if err != nil {
		return nil, err
	}
	init := filepath.Join(rootfs, "init")
	_, err = step.Do(ctx, step.Step{
		Name:    "stage1:smoke-rootfs",
		Inputs:  step.Inputs{Values: map[string]string{"source": string(smokeInitSource)}},
		Outputs: []string{init},
		Run: func(ctx context.Context) error {
			for _, d := range []string{"proc", "sys", "dev", "tmp"} {
				if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
					return err
				}
			}
			return BuildStatic(ctx, SmokeInit, init)
		},
	})
	if err != nil {
		return nil, err
	}
	_ = os.Remove(filepath.Join(rootfs, "smoke-write-test"))

	console := filepath.Join(o.WorkDir, "console.log")
	var buf safeBuffer
	tctx, cancel := context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("the guest did not power off within %s", o.Timeout))
	defer cancel()
	start := time.Now()
	buf.mark, buf.start = SmokeOK, start
	err = step.Cmd{Stdout: &buf, Stdin: strings.NewReader("")}.Run(tctx, "qemu-system-x86_64", QemuArgs(o.Accel, o.Kernel, rootfs)...)
	elapsed := time.Since(start)
	log := buf.String()
	_ = os.WriteFile(console, []byte(log), 0o644)
	res := &SmokeResult{Console: console, Elapsed: elapsed, Boot: buf.markedAfter()}
	fail := func(why string) (*SmokeResult, error) {
		return nil, fmt.Errorf("stage1 smoke boot failed: %s\n--- console (%s) ---\n%s\n--- end of console ---", why, console, tail(log, 60))
	}
	if err != nil {
		if errors.Is(context.Cause(tctx), context.DeadlineExceeded) || tctx.Err() != nil && ctx.Err() == nil {
			return fail(context.Cause(tctx).Error())
		}
		return fail(err.Error())
	}
	if !strings.Contains(log, SmokeStart) {
		return fail("the test init never ran (no " + SmokeStart + ")")
	}
	if i := strings.Index(log, SmokeFail); i >= 0 {
		line, _, _ := strings.Cut(log[i:], "\n")
		return fail(strings.TrimSpace(line))
	}
	i := strings.Index(log, SmokeOK)
	if i < 0 {
		return fail("no " + SmokeOK + " marker")
	}
	line, _, _ := strings.Cut(log[i:], "\n")
	res.Release = strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, SmokeOK)), "release=")
	return res, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// safeBuffer collects the console and notes when mark first appears.
type safeBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	mark   string
	start  time.Time
	marked time.Time
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.mark != "" && s.marked.IsZero() && bytes.Contains(s.b.Bytes(), []byte(s.mark)) {
		s.marked = time.Now()
	}
	return n, err
}

// markedAfter is the time from start to the mark (0 when it never came).
func (s *safeBuffer) markedAfter() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.marked.IsZero() {
		return 0
	}
	return s.marked.Sub(s.start)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Summary is the one-line report of a smoke boot with accelerator accel.
func (r *SmokeResult) Summary(accel string) string {
	return fmt.Sprintf("smoke: kernel %s booted with rkt's 9p device model (accel %s): boot time (qemu start to the init's marker) %s, powered off after %s; console log %s",
		r.Release, accel, r.Boot.Round(time.Millisecond), r.Elapsed.Round(time.Millisecond), r.Console)
}
