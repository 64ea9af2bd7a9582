package image

import (
	"fmt"
	"strings"
)

// AppFlags are the command-line spellings of an App, as `mage run` takes
// them: each a string of shell-like words.
type AppFlags struct {
	Args, Exec, Env, Volumes, Mounts string
	// DNS is systemd-nspawn's --resolv-conf mode.
	DNS string
}

// ParseApp parses the flags into an App; errors name the flag.
func ParseApp(f AppFlags) (App, error) {
	var a App
	var err error
	if a.Args, err = SplitWords(f.Args); err != nil {
		return App{}, fmt.Errorf("-args: %w", err)
	}
	if a.Exec, err = SplitWords(f.Exec); err != nil {
		return App{}, fmt.Errorf("-exec: %w", err)
	}
	if a.Env, err = SplitWords(f.Env); err != nil {
		return App{}, fmt.Errorf("-env: %w", err)
	}
	if a.Volumes, err = ParseVolumes(f.Volumes); err != nil {
		return App{}, err
	}
	if a.Mounts, err = ParseMounts(f.Mounts); err != nil {
		return App{}, err
	}
	a.ResolvConf = f.DNS
	return a, nil
}

// SplitWords splits s like a shell splits plain words: whitespace
// separates, '...' and "..." group, backslash escapes outside '...'. No
// expansion of any kind happens.
func SplitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' {
				esc = true
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			esc, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if esc {
		return nil, fmt.Errorf("trailing backslash in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
