//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// rktArgs is the tail of the command line rkt 1.30.0's hvqemu builds.
var rktArgs = []string{"-L", "/p/stage1/rootfs", "-no-reboot", "-display", "none", "-enable-kvm",
	"-smp", "1", "-m", "128", "-net", "nic,model=virtio",
	"-net", "tap,ifname=tap0,script=no,downscript=no,vhost=on"}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name       string
		kvm, vhost bool
		want       []string
	}{
		{"kvm and vhost kept", true, true, rktArgs},
		{"tcg", false, true, []string{"-L", "/p/stage1/rootfs", "-no-reboot", "-display", "none", "-accel", "tcg",
			"-smp", "1", "-m", "128", "-net", "nic,model=virtio",
			"-net", "tap,ifname=tap0,script=no,downscript=no,vhost=on"}},
		{"no vhost-net", true, false, []string{"-L", "/p/stage1/rootfs", "-no-reboot", "-display", "none", "-enable-kvm",
			"-smp", "1", "-m", "128", "-net", "nic,model=virtio",
			"-net", "tap,ifname=tap0,script=no,downscript=no,vhost=off"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rewrite(rktArgs, tc.kvm, tc.vhost); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Rewrite:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDecideKVM(t *testing.T) {
	broken := func() error { return errors.New("KVM_CREATE_VM: no such device") }
	fine := func() error { return nil }
	tests := []struct {
		accel  string
		usable func() error
		want   bool
		why    string
	}{
		{"auto", fine, true, ""},
		{"auto", broken, false, "/dev/kvm cannot be used: KVM_CREATE_VM: no such device"},
		{"kvm", broken, true, ""},
		{"tcg", fine, false, "accel=tcg"},
	}
	for _, tc := range tests {
		got, why := decideKVM(tc.accel, tc.usable)
		if got != tc.want || why != tc.why {
			t.Errorf("decideKVM(%s) = %v %q, want %v %q", tc.accel, got, why, tc.want, tc.why)
		}
	}
}

func TestConfiguredAccel(t *testing.T) {
	tests := []struct {
		conf, env, want, err string
	}{
		{"", "", "auto", ""},
		{"# comment\naccel = tcg\n", "", "tcg", ""},
		{"accel=tcg\n", "kvm", "kvm", ""},
		{"accel=fast\n", "", "", `accel="fast": expected auto, kvm or tcg`},
	}
	for _, tc := range tests {
		root := t.TempDir()
		if tc.conf != "" {
			p := filepath.Join(root, confPath)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("RKTBUILD_QEMU_ACCEL", tc.env)
		got, err := configuredAccel(root)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("conf %q: error %v, want %q", tc.conf, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("conf %q env %q: got %q %v, want %q", tc.conf, tc.env, got, err, tc.want)
		}
	}
}
