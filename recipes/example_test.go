package recipes

import (
	"context"
	"path/filepath"
)

// The recipe of README's "Add an image", compiled here so that the
// example stays correct (it is not run: registering it would add it to
// the set the other tests build).
func ExampleRegister() {
	Register(Recipe{
		Order: 20, Name: "my-tool", Deps: []string{"base"},
		File: func(s *Settings) string {
			return filepath.Join(s.ACIDir, "my-tool-linux-"+AppcArch(s.Rootfs.Arch)+".aci")
		},
		Build: func(ctx context.Context, e *Env, out string) error {
			b, err := e.FromImage(ctx, "base", e.Settings.Registry+"/my-tool")
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.AptInstall(ctx, "my-tool"); err != nil {
				return err
			}
			b.SetExec("/usr/bin/my-tool")
			return e.Write(ctx, b, out)
		},
	})
}
