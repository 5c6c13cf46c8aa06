// Package record splits CloudTrail input streams into individual JSON records.
//
// It understands every shape CloudTrail data arrives in: S3 delivery files
// ({"Records":[...]}), JSON arrays of records, JSON Lines, a single object, and
// Elasticsearch exports (one document per line). The scanner is streaming: it
// holds at most one record (bounded by a size limit) in memory, so a 2 GB
// delivery file needs no more memory than its largest record.
//
// The scanner only tracks strings and nesting; it does not validate JSON.
// Validation is the job of the parser that consumes each record, which can then
// report malformed records precisely and carry on with the next one.
package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRecord is the default size limit of one record (16 MiB).
const DefaultMaxRecord = 16 << 20

// Record is one JSON record found in an input stream.
type Record struct {
	// Data holds the record's bytes. It is only valid until the next call to
	// Scanner.Next.
	Data []byte
	// Line is the 1-based line on which the record starts.
	Line int
	// Offset is the byte offset of the record's first byte in the
	// (decompressed) stream.
	Offset int64
}

// PosError is an error at a position in an input stream.
type PosError struct {
	Line   int
	Offset int64
	Msg    string
	Err    error // optional cause, for errors.Is
}

// Unwrap returns the cause.
func (e *PosError) Unwrap() error { return e.Err }

func (e *PosError) Error() string {
	return fmt.Sprintf("line %d (byte %d): %s", e.Line, e.Offset, e.Msg)
}

// ErrTooLarge is wrapped by errors about records over the size limit.
var ErrTooLarge = errors.New("record exceeds size limit")

type state int

const (
	stTop      state = iota // between top-level values
	stArray                 // inside a top-level array of records
	stRecords               // inside the "Records" array of a delivery file
	stWrapTail              // in the delivery object after its Records array
)

// Scanner reads records from a stream. Next returns records one by one; a
// non-nil error that is a *PosError describes one bad record or region and
// scanning can continue; io.EOF ends the stream; any other error (for example
// a truncated gzip stream) is final.
type Scanner struct {
	r    io.Reader
	buf  []byte
	end  int   // buf[:end] holds data
	pos  int   // scan position in buf
	keep int   // buf[keep:] must be retained (start of current value)
	base int64 // stream offset of buf[0]
	eof  bool
	rerr error // read error seen (final)

	max int

	// line accounting: line number of the byte at stream offset lineOff.
	line    int
	lineOff int64

	st state
	// needComma is set after an array element; a '{' before the next ','
	// is reported once (the record is still read).
	needComma, commaReported bool
}

// NewScanner returns a scanner over r with the given record size limit
// (DefaultMaxRecord if max <= 0).
func NewScanner(r io.Reader, max int) *Scanner {
	if max <= 0 {
		max = DefaultMaxRecord
	}
	return &Scanner{r: r, buf: make([]byte, 256<<10), max: max, line: 1}
}

// fill reads more data, compacting buf[keep:] to the front. It returns false
// when no more data can be read.
func (s *Scanner) fill() bool {
	if s.eof {
		return false
	}
	if s.keep > 0 {
		s.countLines(s.base + int64(s.keep))
		n := copy(s.buf, s.buf[s.keep:s.end])
		s.base += int64(s.keep)
		s.pos -= s.keep
		s.end = n
		s.keep = 0
	}
	if s.end == len(s.buf) {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.rerr = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// countLines advances the line counter to stream offset off (which must be
// within the buffer).
func (s *Scanner) countLines(off int64) {
	if off <= s.lineOff {
		return
	}
	from := int(s.lineOff - s.base)
	if from < 0 {
		from = 0
	}
	s.line += bytes.Count(s.buf[from:int(off-s.base)], []byte{'\n'})
	s.lineOff = off
}

func (s *Scanner) posErr(at int, format string, args ...any) *PosError {
	s.countLines(s.base + int64(at))
	return &PosError{Line: s.line, Offset: s.base + int64(at), Msg: fmt.Sprintf(format, args...)}
}

// skipSpace advances pos past white space; it returns false at end of input.
func (s *Scanner) skipSpace() bool {
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return true
			}
		}
		s.keep = s.pos
		if !s.fill() {
			return false
		}
	}
}

// Next returns the next record.
func (s *Scanner) Next() (Record, error) {
	for {
		if !s.skipSpace() {
			return Record{}, s.finalErr()
		}
		c := s.buf[s.pos]
		switch s.st {
		case stTop:
			switch c {
			case '{':
				rec, isWrapper, err := s.topObject()
				if err != nil || !isWrapper {
					return rec, err
				}
				s.st = stRecords
			case '[':
				s.pos++
				s.st = stArray
			default:
				err := s.posErr(s.pos, "unexpected %q outside any JSON value; skipping to the next line", c)
				s.skipLine()
				return Record{}, err
			}
		case stArray, stRecords:
			switch c {
			case ',':
				s.needComma = false
				s.pos++
			case ']':
				s.pos++
				s.needComma = false
				if s.st == stArray {
					s.st = stTop
				} else {
					s.st = stWrapTail
				}
			case '{':
				if s.needComma && !s.commaReported {
					s.commaReported = true
					return Record{}, s.posErr(s.pos, "missing ',' between array elements (the record is still read)")
				}
				s.needComma, s.commaReported = true, false
				return s.value()
			default:
				err := s.posErr(s.pos, "array element is not a JSON object; skipped")
				before := s.base + int64(s.pos)
				s.skipValueDiscard()
				if s.base+int64(s.pos) == before {
					s.pos++ // a stray closing bracket: step over it
					s.keep = s.pos
				}
				return Record{}, err
			}
		case stWrapTail:
			switch c {
			case ',':
				s.pos++
				// another key of the delivery object: skip "key": value
				if err := s.skipMember(); err != nil {
					return Record{}, err
				}
			case '}':
				s.pos++
				s.st = stTop
			default:
				err := s.posErr(s.pos, "unexpected %q after the Records array", c)
				s.skipLine()
				s.st = stTop
				return Record{}, err
			}
		}
	}
}

func (s *Scanner) finalErr() error {
	if s.rerr != nil {
		return s.rerr
	}
	switch s.st {
	case stArray, stRecords, stWrapTail:
		s.st = stTop
		return s.posErr(s.end, "unexpected end of input inside a JSON array (truncated file?)")
	}
	return io.EOF
}

func (s *Scanner) skipLine() {
	for {
		if i := bytes.IndexByte(s.buf[s.pos:s.end], '\n'); i >= 0 {
			s.pos += i + 1
			s.keep = s.pos
			return
		}
		s.pos = s.end
		s.keep = s.pos
		if !s.fill() {
			return
		}
	}
}

// topObject handles a top-level object: either a delivery file wrapper
// ({"Records": [...]}) or a record on its own. On return with isWrapper,
// pos is just inside the Records array.
func (s *Scanner) topObject() (rec Record, isWrapper bool, err error) {
	s.keep = s.pos
	s.pos++ // '{'
	for {
		if !s.skipWS() {
			return Record{}, false, s.truncErr(s.keep)
		}
		switch s.buf[s.pos] {
		case '}':
			s.pos++
			return s.emit(s.keep), false, nil
		case ',':
			s.pos++
			continue
		case '"':
		default:
			// Not an object shape we understand: let the record parser report it.
			s.pos = s.keep
			r, err := s.value()
			return r, false, err
		}
		kStart := s.pos - s.keep
		if !s.skipString() {
			return Record{}, false, s.truncErr(s.keep)
		}
		isRecords := string(s.buf[s.keep+kStart:s.pos]) == `"Records"`
		if !s.skipWS() {
			return Record{}, false, s.truncErr(s.keep)
		}
		if s.buf[s.pos] == ':' {
			s.pos++
		}
		if !s.skipWS() {
			return Record{}, false, s.truncErr(s.keep)
		}
		if isRecords && s.buf[s.pos] == '[' {
			s.pos++
			s.keep = s.pos
			return Record{}, true, nil
		}
		if !s.skipValue() {
			if s.pos-s.keep > s.max {
				return Record{}, false, s.skipTooLarge()
			}
			return Record{}, false, s.truncErr(s.keep)
		}
		if s.pos-s.keep > s.max {
			return Record{}, false, s.skipTooLarge()
		}
	}
}

// skipMember skips `"key": value` inside the delivery object's tail.
func (s *Scanner) skipMember() error {
	if !s.skipSpace() {
		return nil
	}
	s.keep = s.pos
	if s.buf[s.pos] == '"' && !s.skipString() {
		return s.truncErr(s.keep)
	}
	if !s.skipWS() {
		return s.truncErr(s.keep)
	}
	if s.buf[s.pos] == ':' {
		s.pos++
	}
	if !s.skipWS() {
		return s.truncErr(s.keep)
	}
	if !s.skipValueDiscard() {
		return s.truncErr(s.keep)
	}
	return nil
}

// skipWS advances pos past white space without releasing retained data.
func (s *Scanner) skipWS() bool {
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return true
			}
		}
		if !s.fill() {
			return false
		}
	}
}

func (s *Scanner) truncErr(start int) error {
	s.st = stTop
	if s.rerr != nil {
		return s.rerr
	}
	return s.posErr(start, "unexpected end of input inside a JSON value (truncated record)")
}

// value scans one JSON value at pos and returns it as a record.
func (s *Scanner) value() (Record, error) {
	s.keep = s.pos
	if !s.skipValue() {
		if s.pos-s.keep > s.max {
			return Record{}, s.skipTooLarge()
		}
		return Record{}, s.truncErr(s.keep)
	}
	if s.pos-s.keep > s.max {
		err := s.posErr(s.keep, "%v (%d bytes, limit %d); record skipped", ErrTooLarge, s.pos-s.keep, s.max)
		err.Err = ErrTooLarge
		s.keep = s.pos
		return Record{}, err
	}
	return s.emit(s.keep), nil
}

func (s *Scanner) emit(start int) Record {
	s.countLines(s.base + int64(start))
	r := Record{Data: s.buf[start:s.pos], Line: s.line, Offset: s.base + int64(start)}
	s.keep = s.pos
	return r
}

// skipTooLarge is called when a value being scanned (starting at keep) grew
// past the limit: it discards the rest of the value and reports it.
func (s *Scanner) skipTooLarge() error {
	err := s.posErr(s.keep, "%v (limit %d bytes); record skipped", ErrTooLarge, s.max)
	err.Err = ErrTooLarge
	s.skipValueDiscardFrom()
	return err
}

// skipString advances pos past the string starting at pos ('"').
func (s *Scanner) skipString() bool {
	s.pos++
	odd := false // a backslash run carried over a buffer refill
	for {
		b := s.buf[s.pos:s.end]
		k := bytes.IndexByte(b, '"')
		if k < 0 {
			n := trailingBackslashes(b)
			if n == len(b) {
				odd = odd != (n%2 == 1)
			} else {
				odd = n%2 == 1
			}
			s.pos = s.end
			if !s.fill() {
				return false
			}
			continue
		}
		n := trailingBackslashes(b[:k])
		escaped := n%2 == 1
		if n == k && odd {
			escaped = !escaped
		}
		odd = false
		s.pos += k + 1
		if !escaped {
			return true
		}
	}
}

func trailingBackslashes(b []byte) int {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == '\\'; i-- {
		n++
	}
	return n
}

// skipValue advances pos past one JSON value, retaining data from keep. It
// stops early (returning false) when the value grows beyond the size limit or
// the input ends.
func (s *Scanner) skipValue() bool {
	depth := 0
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case '"':
				if !s.skipString() {
					return false
				}
				if depth == 0 {
					return true
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 {
					return true
				}
				depth--
				if depth == 0 {
					s.pos++
					return true
				}
			case ',', ' ', '\n', '\t', '\r', ':':
				if depth == 0 {
					return true
				}
			}
			s.pos++
		}
		if s.pos-s.keep > s.max {
			return false
		}
		if !s.fill() {
			return depth == 0 && s.pos > s.keep
		}
	}
}

// skipValueDiscard skips a value without retaining it.
func (s *Scanner) skipValueDiscard() bool {
	s.keep = s.pos
	return s.skipValueDiscardFrom()
}

// skipValueDiscardFrom continues skipping a value whose beginning may already
// have been consumed, dropping data as it goes. It tracks depth from the
// already-consumed part by rescanning nothing: callers use it right after a
// size-limit stop, where the value's structure is resumed by depth counting
// from the retained start.
func (s *Scanner) skipValueDiscardFrom() bool {
	// Recount depth over the retained part, then keep scanning.
	depth := 0
	i := s.keep
	for i < s.pos {
		switch s.buf[i] {
		case '"':
			// strings are balanced inside the retained part except possibly
			// the last one; skipString handles the resume below
			j := i + 1
			for j < s.pos {
				if s.buf[j] == '\\' {
					j += 2
					continue
				}
				if s.buf[j] == '"' {
					break
				}
				j++
			}
			if j >= s.pos { // inside an unterminated string
				s.pos = i
				goto scan
			}
			i = j
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		i++
	}
scan:
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case '"':
				if !s.skipString() {
					return false
				}
				if depth == 0 {
					s.keep = s.pos
					return true
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 {
					s.keep = s.pos
					return true
				}
				depth--
				if depth == 0 {
					s.pos++
					s.keep = s.pos
					return true
				}
			case ',', ' ', '\n', '\t', '\r', ':':
				if depth == 0 {
					s.keep = s.pos
					return true
				}
			}
			s.pos++
		}
		s.keep = s.pos
		if !s.fill() {
			return false
		}
	}
}

// ForEach calls fn for every record of r, and bad for every error that
// concerns one record or region (scanning then goes on). It returns nil at
// the end of the stream, fn's error if fn fails, or a final read error (such
// as a truncated gzip stream) after everything before it was delivered.
func ForEach(r io.Reader, max int, fn func(Record) error, bad func(*PosError)) error {
	s := NewScanner(r, max)
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *PosError
			if errors.As(err, &pe) {
				bad(pe)
				continue
			}
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
