package state

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// IsRedisURL says whether a --state value names a Redis server rather than a
// file: redis:... or rediss:... (TLS), the scheme in any case. A file of
// such a name is ./redis:NAME.
func IsRedisURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "redis:") || strings.HasPrefix(l, "rediss:")
}

// Redact is a --state value fit for logs: a Redis URL without its
// password; a file path as it is.
func Redact(spec string) string {
	if !IsRedisURL(spec) {
		return spec
	}
	if u, _ := parseRedisURL(spec); u.redacted != "" {
		return u.redacted
	}
	return "(a Redis URL that does not parse)"
}

// ErrBadRedisURL is wrapped by the errors of a Redis URL that is wrong in
// itself (before any connection): a usage error.
var ErrBadRedisURL = errors.New("bad Redis URL")

// badURLError is an error of parseRedisURL, as it says, that is also
// ErrBadRedisURL.
type badURLError struct{ err error }

func (e *badURLError) Error() string   { return e.err.Error() }
func (e *badURLError) Unwrap() []error { return []error{e.err, ErrBadRedisURL} }

// redisURL is a --state Redis URL taken apart.
type redisURL struct {
	opts     *redis.Options
	prefix   string // the key prefix (?prefix=)
	redacted string // the URL with its password as xxxxx, for messages ("" when unknown)
}

// encodeHint says how to write a password that breaks a URL.
const encodeHint = "percent-encode a password's / ? # @ % : and spaces (%2F %3F %23 %40 %25 %3A %20)"

// parseRedisURL reads redis://[user:password@]host[:port][/db][?prefix=P&
// go-redis options]. Its errors never hold the password: when the URL has
// an @ that does not end its user:password part (a password's special
// characters not encoded), they quote nothing of it.
func parseRedisURL(raw string) (redisURL, error) {
	secret := strings.Contains(raw, "@")
	u, err := url.Parse(raw)
	if err != nil {
		if secret {
			return redisURL{}, fmt.Errorf("state: bad Redis URL: it does not parse (%s)", encodeHint)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return redisURL{}, fmt.Errorf("state: bad Redis URL %q: %w", raw, err)
	}
	switch {
	case secret && (u.User == nil || strings.Contains(u.Host, "@") || strings.Contains(u.RawPath+u.Path+u.RawQuery+u.Fragment+u.Opaque, "@")):
		// the @ is not (only) where the password ends: the password may be in the host, path or query
		return redisURL{}, fmt.Errorf("state: bad Redis URL: an @ outside user:password@ (%s)", encodeHint)
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return redisURL{}, fmt.Errorf("state: bad Redis URL: the scheme is %q, not redis or rediss", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return redisURL{}, errors.New("state: bad Redis URL: it names no host (redis://HOST:PORT/DB; a state file of such a name is ./redis:NAME)")
	case strings.Contains(u.Hostname(), ":") && !strings.HasPrefix(u.Host, "["):
		return redisURL{}, errors.New("state: bad Redis URL: an IPv6 address goes in brackets (redis://[::1]:6379/0)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return redisURL{}, fmt.Errorf("state: bad Redis URL: port %s is not 1 to 65535", p)
		}
	}
	if u.User != nil {
		pw, ok := u.User.Password()
		if u.User.Username() != "" && (!ok || pw == "") {
			// go-redis would send no AUTH at all; and redis://PASSWORD@host
			// would show the password as a user name in every message
			return redisURL{}, fmt.Errorf("state: bad Redis URL: a user without a password (redis://:PASSWORD@host for a password alone, redis://USER:PASSWORD@host for an ACL user; %s)", encodeHint)
		}
	}
	out := redisURL{redacted: u.Redacted(), prefix: DefaultRedisPrefix}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return out, fmt.Errorf("state %s: a # part in a Redis URL (%s)", out.redacted, encodeHint)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return out, fmt.Errorf("state %s: bad query: %w", out.redacted, err)
	}
	if p, ok := q["prefix"]; ok {
		switch {
		case len(p) > 1:
			return out, fmt.Errorf("state %s: prefix= given %d times", out.redacted, len(p))
		case p[0] == "":
			return out, fmt.Errorf("state %s: prefix= is empty: the keys would mix with others' (rules, changes, epoch); give one (prefix=prod: for example)", out.redacted)
		}
		out.prefix = p[0]
		delete(q, "prefix")
	}
	u.RawQuery = q.Encode()
	if out.opts, err = redis.ParseURL(u.String()); err != nil {
		return out, fmt.Errorf("state %s: %w", out.redacted, err)
	}
	return out, nil
}
