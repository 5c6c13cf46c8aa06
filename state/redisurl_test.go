package state

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Redis URLs a careless user writes: each fails before any connection, with
// an error that says what is wrong and holds nothing of the password
// (hunter2), whatever the URL's shape.
func TestRedisURLErrors(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"redis://u:hunter2#x@127.0.0.1:1/0", "percent-encode"}, // url.Parse: invalid port ":hunter2"
		{"redis://u:hunter2/x@127.0.0.1:1/0", "percent-encode"},
		{"redis://u:hunter2?x@127.0.0.1:1/0", "percent-encode"},
		{"redis://u:1234/hunter2@127.0.0.1:1/0", "an @ outside user:password@"}, // parses: host u, port 1234
		{"redis://127.0.0.1:1/0?x=hunter2@", "an @ outside user:password@"},
		{"redis://:p%zzhunter2@127.0.0.1:1/0", "does not parse"},
		{"redis://hunter2@127.0.0.1:1/0", "a user without a password"}, // go-redis sends no AUTH
		{"redis://hunter2:@127.0.0.1:1/0", "a user without a password"},
		{"redis://:hunter2@127.0.0.1:1/0#frag", "a # part"},
		{"redis://:hunter2@127.0.0.1:1/0?prefix=", "prefix= is empty"},
		{"redis://:hunter2@127.0.0.1:1/0?prefix=%zz", "bad query"},
		{"redis://:hunter2@127.0.0.1:1/0?prefix=a&prefix=b", "prefix= given 2 times"},
		{"redis://:hunter2@127.0.0.1:1/0?dial_timeout=%zz", "bad query"}, // go-redis drops what does not decode
		{"redis://:hunter2@127.0.0.1:1/0?prefx=a", "unexpected option: prefx"},
		{"redis://", "names no host"},
		{"redis://:hunter2@:6379/0", "names no host"},
		{"redis:127.0.0.1:6379", "names no host"},
		{"redis://:hunter2@::1/0", "in brackets"},
		{"redis://:hunter2@127.0.0.1:99999/0", "port 99999 is not 1 to 65535"},
		{"redis://:hunter2@127.0.0.1:0/0", "port 0 is not"},
		{"REDIS://:hunter2@127.0.0.1:1/0?prefix=", "prefix= is empty"},
	} {
		t.Run(c.url, func(t *testing.T) {
			if !IsRedisURL(c.url) {
				t.Fatal("not taken for a Redis URL")
			}
			st, err := OpenRedis(context.Background(), c.url)
			if err == nil {
				st.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrBadRedisURL) {
				t.Errorf("%v is not ErrBadRedisURL", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "hunter2") || !strings.HasPrefix(msg, "state") {
				t.Errorf("error %q: want one with %q, without the password", msg, c.want)
			}
			if r := Redact(c.url); strings.Contains(r, "hunter2") {
				t.Errorf("Redact: %q", r)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/var/lib/trailhound/state.db", "/var/lib/trailhound/state.db"},
		{"redis://:hunter2@h:6379/0?prefix=p:", "redis://:xxxxx@h:6379/0?prefix=p:"},
		{"rediss://u:hunter2@h:6380/1", "rediss://u:xxxxx@h:6380/1"},
		{"redis://h:6379/0?bogus=1", "redis://h:6379/0?bogus=1"}, // bad, but fit to name in the error
		{"redis://hunter2@h/0", "(a Redis URL that does not parse)"},
		{"redis://u:hunter2#x@h/0", "(a Redis URL that does not parse)"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// rotate changes each letter and digit of s to another of its class (hex
// digits among hex digits, other letters among other letters, in the same
// case), which leaves a URL's shape as it was: a valid escape stays valid,
// a port stays a number.
func rotate(s string) string {
	classes := []string{"0123456789", "abcdef", "ABCDEF", "ghijklmnopqrstuvwxyz", "GHIJKLMNOPQRSTUVWXYZ"}
	b := []byte(s)
	for i, c := range b {
		for _, cl := range classes {
			if k := strings.IndexByte(cl, c); k >= 0 {
				b[i] = cl[(k+1)%len(cl)]
				break
			}
		}
	}
	return string(b)
}

// The URL a user meant: redis://USER:PASS@REST. Properties: what is said of
// it (the error, Redact) does not depend on the password's letters and
// digits (so holds nothing of them); when it parses, go-redis is given the
// password and user as written (decoded), and the URL built again from
// what was parsed parses to the same.
func FuzzRedisURL(f *testing.F) {
	for _, s := range [][3]string{
		{"", "hunter2", "127.0.0.1:6379/0"},
		{"u", "hunter2", "h:6379/0?prefix=p:"},
		{"u", "pa#ss", "h:6379/0"},
		{"u", "pa/ss", "h/0"},
		{"", "p%40ss", "h:6379/0?dial_timeout=5s"},
		{"u", "1234/5", "h:6379/0"},
		{"", "x", "h/0?prefix=a&prefix=b"},
		{"", "pw", "[::1]:6379/0?prefix=%7Bx%7D"},
		{"u", "p", "h:99999/0?prefix=%zz"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, user, pass, rest string) {
		build := func(p string) string { return "redis://" + user + ":" + p + "@" + rest }
		say := func(raw string) string {
			u, err := parseRedisURL(raw)
			msg := Redact(raw) + "\n" + u.redacted
			if err != nil {
				msg += "\n" + err.Error()
			}
			return msg
		}
		raw, other := build(pass), build(rotate(pass))
		if rotate(pass) != pass && !strings.Contains(user+rest, pass) && say(raw) != say(other) {
			t.Fatalf("what is said depends on the password:\n%s\n%s", say(raw), say(other))
		}
		u, err := parseRedisURL(raw)
		if err != nil {
			return
		}
		wantPass, err1 := url.PathUnescape(pass)
		wantUser, err2 := url.PathUnescape(user)
		if err1 == nil && err2 == nil && !strings.ContainsAny(user+pass, "@/?#:") && !strings.Contains(rest, "@") && (u.opts.Password != wantPass || u.opts.Username != wantUser) {
			t.Errorf("%q: user %q password %q, want %q %q", raw, u.opts.Username, u.opts.Password, wantUser, wantPass)
		}
		// parse(format(parse(raw))) == parse(raw)
		again := url.URL{Scheme: "redis", User: url.UserPassword(u.opts.Username, u.opts.Password), Host: u.opts.Addr,
			Path: "/" + strconv.Itoa(u.opts.DB), RawQuery: url.Values{"prefix": {u.prefix}}.Encode()}
		v, err := parseRedisURL(again.String())
		if err != nil {
			t.Fatalf("%q parsed, %q built from it does not: %v", raw, again.String(), err)
		}
		if v.prefix != u.prefix || v.opts.Addr != u.opts.Addr || v.opts.DB != u.opts.DB || v.opts.Username != u.opts.Username || v.opts.Password != u.opts.Password {
			t.Errorf("%q and %q parse apart: %+v %q, %+v %q", raw, again.String(), u.opts, u.prefix, v.opts, v.prefix)
		}
	})
}
