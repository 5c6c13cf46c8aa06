package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve refuses what it cannot run with a usage error (exit 3) that says why.
func TestServeUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("state: x\nsinks:\n  - type: syslog\n"), 0o644)
	empty := filepath.Join(dir, "tokens.txt")
	os.WriteFile(empty, []byte("# none\n"), 0o644)
	st := filepath.Join(dir, "s.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "127.0.0.1:0"}, "serve needs --state"},
		{[]string{"serve", "--state", st}, "no input"},
		{[]string{"serve", "--state", st, "--config", bad}, `type "syslog"`},
		{[]string{"serve", "--state", st, "--config", filepath.Join(dir, "none.yaml")}, "no such file"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--token-file", empty}, "holds no token"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--lateness", "-1m"}, "--lateness must be positive"},
		{[]string{"serve", "--state", st, "--kafka-topic", "t"}, "kafka needs brokers"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--tls-cert", "c.pem"}, "both a certificate and a key"},
		{[]string{"serve", "extra"}, "unknown command"},
	} {
		code, _, errs := runCmd(t, tc.args...)
		if code != exitBadUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 3 and %q", tc.args, code, errs, tc.want)
		}
	}
}
