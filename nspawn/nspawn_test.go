package nspawn

import (
	"context"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestArgs(t *testing.T) {
	root := t.TempDir()
	base := []string{"--quiet", "--register=no", "--keep-unit", "--as-pid2", "--link-journal=no",
		"--console=pipe", "--resolv-conf=replace-host", "--timezone=off", "--directory=" + root}
	tests := []struct {
		name    string
		o       Options
		want    []string // after base
		wantErr string
	}{
		{name: "plain command", o: Options{Root: root, Args: []string{"/bin/true"}}, want: []string{"--", "/bin/true"}},
		{name: "everything", o: Options{
			Root: root, Args: []string{"sh", "-c", "x"}, MachineName: "m1", Volatile: true, PrivateNetwork: true,
			Binds:   []Bind{{Source: "/src", Target: "/dst"}, {Source: "/ro", ReadOnly: true}},
			Tmpfs:   []string{"/tmp"},
			Env:     []string{"B=2", "A=1"},
			User:    "nobody",
			WorkDir: "/work",
		}, want: []string{"--machine=m1", "--volatile=overlay", "--private-network", "--bind=/src:/dst", "--bind-ro=/ro:/ro",
			"--tmpfs=/tmp", "--setenv=A=1", "--setenv=B=2", "--user=nobody", "--chdir=/work", "--", "sh", "-c", "x"}},
		{name: "no root", o: Options{}, wantErr: "no root directory"},
		{name: "relative workdir", o: Options{Root: root, WorkDir: "work"}, wantErr: "not an absolute path"},
		{name: "relative bind target", o: Options{Root: root, Binds: []Bind{{Source: "/a", Target: "b"}}}, wantErr: "not an absolute path"},
		{name: "colon in bind", o: Options{Root: root, Binds: []Bind{{Source: "/a:b"}}}, wantErr: "may not contain ':'"},
		{name: "bad env", o: Options{Root: root, Env: []string{"NOVALUE"}}, wantErr: "not KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Args(tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Args error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := append(append([]string(nil), base...), tt.want...); !reflect.DeepEqual(got, want) {
				t.Errorf("Args =\n  %q\nwant\n  %q", got, want)
			}
		})
	}
}

func TestFind(t *testing.T) {
	t.Run("static build preferred", func(t *testing.T) {
		build := t.TempDir()
		p := filepath.Join(build, StaticPath)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		r, err := Find(build)
		if err != nil {
			t.Fatal(err)
		}
		if r.Binary != p || r.Origin != "static build" {
			t.Errorf("Find = %s, want %s (static build)", r, p)
		}
	})
	t.Run("neither", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := Find(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "systemd-container") || !strings.Contains(err.Error(), "mage nspawn") {
			t.Fatalf("Find error = %v, want one naming systemd-container and mage nspawn", err)
		}
	})
	t.Run("host", func(t *testing.T) {
		host, err := exec.LookPath("systemd-nspawn")
		if err != nil {
			testenv.Skip(t, "needs systemd-nspawn (systemd-container package)")
		}
		r, err := Find(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if r.Binary != host || r.Origin != "host" {
			t.Errorf("Find = %s, want %s (host)", r, host)
		}
	})
}

// TestRunReal runs a static Go program inside a minimal rootfs with the
// real systemd-nspawn: binds, environment, working directory and exit code.
func TestRunReal(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: systemd-nspawn")
	}
	r, err := Find("")
	if err != nil {
		testenv.Skip(t, "needs systemd-nspawn (systemd-container package): ", err)
	}
	root := t.TempDir()
	for _, d := range []string{"usr", "bin", "etc", "work", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(t.TempDir(), "main.go")
	prog := `package main

import (
	"fmt"
	"os"
)

func main() {
	wd, _ := os.Getwd()
	data, err := os.ReadFile("/data/in.txt")
	if err != nil {
		fmt.Println("read:", err)
		os.Exit(9)
	}
	fmt.Printf("wd=%s greeting=%s in=%s", wd, os.Getenv("GREETING"), data)
	os.WriteFile("/data/out.txt", []byte("written inside"), 0o644)
	os.Exit(5)
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(root, "bin", "app"), src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building test program: %v\n%s", err, out)
	}
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "in.txt"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	err = r.Run(ctx, Options{
		Root: root, Args: []string{"/bin/app"}, Env: []string{"GREETING=hi"}, WorkDir: "/work",
		Binds: []Bind{{Source: data, Target: "/data"}}, MachineName: "rktbuild-test",
		Stdout: &out, Stderr: &out,
	})
	if code := ExitCode(err); code != 5 {
		t.Fatalf("exit code = %d (err %v), want 5; output:\n%s", code, err, out.String())
	}
	if want := "wd=/work greeting=hi in=from host"; !strings.Contains(out.String(), want) {
		t.Errorf("output %q does not contain %q", out.String(), want)
	}
	if b, err := os.ReadFile(filepath.Join(data, "out.txt")); err != nil || string(b) != "written inside" {
		t.Errorf("bind mount not writable from inside: %q, %v", b, err)
	}
}
