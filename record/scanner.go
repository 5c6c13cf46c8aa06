// Package record splits CloudTrail input streams into individual JSON records.
//
// It understands every shape CloudTrail data arrives in: S3 delivery files
// ({"Records":[...]}), JSON arrays of records, JSON Lines, a single object, and
// Elasticsearch exports (one document per line). The scanner is streaming: it
// holds at most one record (bounded by a size limit) in memory, so a 2 GB
// delivery file needs no more memory than its largest record, and a record
// over the limit is skipped by scanning it, without buffering it.
//
// The scanner validates every record against RFC 8259 in the same pass that
// finds its end, UTF-8 included: a record that is not valid JSON in UTF-8
// is reported with its position and never returned, and scanning resumes
// after it (in JSON Lines input, at the next line). Duplicate object keys are reported as a warning
// and the record is returned with the last occurrence of each key, as jq,
// Python and Go's encoding/json read it.
package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxRecord is the default size limit of one record (16 MiB).
const DefaultMaxRecord = 16 << 20

// Record is one JSON record found in an input stream.
type Record struct {
	// Data holds the record's bytes: valid JSON (RFC 8259) and valid UTF-8,
	// with duplicate keys resolved to their last occurrence. It is only valid until the
	// next call to Scanner.Next.
	Data []byte
	// Line is the 1-based line on which the record starts.
	Line int
	// Offset is the byte offset of the record's first byte in the
	// (decompressed) stream.
	Offset int64
	// Keys are the keys of the record's top-level object, in order, as
	// the validator found them (nil when unknown: a key with an escape,
	// duplicate keys, a record that is not an object). With them, a parser
	// can find a member's value without parsing the others (KeyValue).
	// Valid as long as Data.
	Keys []Key
	// Nested are the keys of the record's top-level members that are
	// objects, and Kids, by key of Keys, the run of Nested that is the
	// keys of its object (Kid.From 0: not known: the value is not an
	// object, or one of its keys has an escape). With them, a parser can
	// find a member's member without parsing the rest of the member. Nil
	// when Keys is; valid as long as Data.
	Nested []Key
	Kids   []Kid
	// Depth is the deepest nesting of objects and arrays in the record as
	// read (Data may hold less when duplicate keys were resolved).
	Depth int
}

// Key is a key of a record, at its top level (Record.Keys) or one down
// (Record.Nested): Data[Off:Off+N] is its content (between the quotes,
// without escapes), Sig its KeySig.
type Key struct {
	Off, N uint32
	Sig    uint64
}

// Is reports whether the key's content in data is key: a word at each end
// compared, and the middle, if any, byte by byte.
func (k Key) Is(data []byte, key string) bool {
	if int(k.N) != len(key) {
		return false
	}
	b := data[k.Off : k.Off+k.N]
	if len(b) < 8 {
		return string(b) == key
	}
	if binary.LittleEndian.Uint64(b) != le64(key) || binary.LittleEndian.Uint64(b[len(b)-8:]) != le64(key[len(key)-8:]) {
		return false
	}
	return len(b) <= 16 || string(b[8:len(b)-8]) == key[8:len(key)-8]
}

// Kid is the run of Record.Nested that is the keys of a top-level member's
// object: Nested[From-1 : From-1+N] (From 0: not known).
type Kid struct{ From, N uint32 }

// PosError is an error at a position in an input stream.
type PosError struct {
	Line   int
	Offset int64
	Msg    string
	// RecordLine is the line the broken record starts on when that is
	// before Line (0 otherwise): Message names it.
	RecordLine int
	Err        error // optional cause, for errors.Is
	// Warning is set when no record was lost: the record at this position
	// is still returned (a missing ',' between array elements, duplicate
	// keys).
	Warning bool
}

// Unwrap returns the cause.
func (e *PosError) Unwrap() error { return e.Err }

func (e *PosError) Error() string {
	return fmt.Sprintf("line %d (byte %d): %s", e.Line, e.Offset, e.Message())
}

// Message is what is wrong, without the place: Msg, and the line the
// record starts on when it is not Line.
func (e *PosError) Message() string {
	if e.RecordLine == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%s (the record starts on line %d)", e.Msg, e.RecordLine)
}

// Shift adds lines to the error's line numbers (those of a scan that
// counted lines from elsewhere: Ranges).
func (e *PosError) Shift(lines int) {
	e.Line += lines
	if e.RecordLine != 0 {
		e.RecordLine += lines
	}
}

// ErrTooLarge is wrapped by errors about records over the size limit.
var ErrTooLarge = errors.New("record exceeds size limit")

// ErrTooManyValues is wrapped by errors about records over MaxValues.
var ErrTooManyValues = fmt.Errorf("record holds more than %d array elements and object members", MaxValues)

// ErrInvalidUTF8 is wrapped by the errors about records that are not
// UTF-8 (RFC 8259 requires it; encoding/json would read each bad byte as
// U+FFFD).
var ErrInvalidUTF8 = errors.New("invalid UTF-8")

// ErrUTF16 is wrapped by the error about a UTF-16 encoded stream.
var ErrUTF16 = errors.New("UTF-16 encoded; convert to UTF-8")

type state int

const (
	stTop      state = iota // between top-level values
	stArray                 // inside a top-level array of records
	stRecords               // inside the "Records" array of a delivery file
	stWrapTail              // in the delivery object after its Records array
)

// Scanner reads records from a stream. Next returns records one by one; a
// non-nil error that is a *PosError describes one bad record or region (or,
// with Warning set, a record that is still returned by the following call)
// and scanning can continue; io.EOF ends the stream; any other error (for
// example a truncated gzip stream) is final.
type Scanner struct {
	r       io.Reader
	buf     []byte
	special []uint64 // a bit per byte of buf[:end], set for the bytes skipPlain stops at (and past end)
	end     int      // buf[:end] holds data
	pos     int      // scan position in buf
	keep    int      // buf[keep:] must be retained (start of current value)
	base    int64    // stream offset of buf[0]
	eof     bool
	rerr    error // read error seen (final)

	max int

	// line accounting: line number of the byte at stream offset lineOff.
	line    int
	lineOff int64

	st      state
	started bool // the stream's first bytes (BOM, UTF-16) were checked
	stopped bool // nothing more is read (UTF-16 input)
	// needComma is set after an array element; a '{' before the next ','
	// is reported once (the record is still read).
	needComma, commaReported bool

	nl bool // the last byte skipSpace skipped was '\n'

	pending    Record // returned by the next call when hasPending
	hasPending bool
	norm       []byte // a record re-encoded without duplicate keys

	v validator
}

// NewScanner returns a scanner over r with the given record size limit
// (DefaultMaxRecord if max <= 0).
func NewScanner(r io.Reader, max int) *Scanner {
	if max <= 0 {
		max = DefaultMaxRecord
	}
	n := min(pooledBuf, max+1024)
	if n == pooledBuf {
		if b, ok := bufPool.Get().(*scanBufs); ok {
			return &Scanner{r: r, buf: b.buf, special: b.special, max: max, line: 1}
		}
	}
	return &Scanner{r: r, buf: make([]byte, n), special: make([]uint64, specialWords(n)), max: max, line: 1}
}

// Level is where a Place lies in a stream: between top-level values, or
// between the records of an array of them.
type Level uint8

const (
	// Top is between top-level values (JSON Lines, concatenated records).
	Top Level = iota
	// InRecords is between the records of a delivery file's Records array.
	InRecords
	// InArray is between the records of a top-level array.
	InArray
)

// Place is a point between records of a stream, where a scanner may start
// (NewScannerAt) and read the rest of the stream exactly as a scanner that
// read the stream from its start would.
type Place struct {
	Offset int64
	Line   int
	Level  Level
}

// NewScannerAt returns a scanner over r, which holds a stream's bytes from
// at.Offset on: records and errors carry the stream's positions (lines
// counted from at.Line). It starts at at.Level, where Boundary found it in
// another scan of the same stream, or where the caller guesses a record
// starts; the checks of a stream's first bytes (byte order mark, UTF-16)
// are not made.
func NewScannerAt(r io.Reader, max int, at Place) *Scanner {
	s := NewScanner(r, max)
	s.base, s.lineOff, s.line, s.started = at.Offset, at.Offset, at.Line, true
	switch at.Level {
	case InRecords:
		s.st = stRecords
	case InArray:
		s.st = stArray
	}
	return s
}

// Boundary skips white space (and, inside an array of records, the comma
// after a record) and, when the scanner is then between records, returns
// the place of the next byte (the stream's end when none is left) and
// true. Inside a delivery file's object around its Records, before a
// record not preceded by the comma it needs, at the end of the input
// inside an array or after a read error (which Next reports), or with a
// record pending, it returns false.
func (s *Scanner) Boundary() (Place, bool) {
	if s.hasPending || s.stopped {
		return Place{}, false
	}
	var at Place
	if s.started {
		switch s.st {
		case stTop:
			s.skipSpace()
		case stRecords, stArray:
			at.Level = InRecords
			if s.st == stArray {
				at.Level = InArray
			}
			if !s.skipSpace() {
				return Place{}, false
			}
			if s.needComma && s.buf[s.pos] == ',' {
				s.needComma = false
				s.pos++
				if !s.skipSpace() {
					return Place{}, false
				}
			}
			if s.needComma && s.buf[s.pos] != ']' {
				return Place{}, false
			}
		default:
			return Place{}, false
		}
		if s.pos == s.end && s.rerr != nil {
			return Place{}, false
		}
	}
	s.countLines(s.base + int64(s.pos))
	at.Offset, at.Line = s.base+int64(s.pos), s.line
	return at, true
}

// Close gives the scanner's buffer back for reuse by later scanners; the
// scanner is not used after.
func (s *Scanner) Close() {
	if len(s.buf) == pooledBuf {
		bufPool.Put(&scanBufs{s.buf, s.special})
		s.buf, s.special = nil, nil
	}
}

// pooledBuf is the size of the scanner buffers ForEach reuses.
const pooledBuf = 256 << 10

// scanBufs are a scanner's buffer and its special-byte bits.
type scanBufs struct {
	buf     []byte
	special []uint64
}

// bufPool holds scanner buffers (*scanBufs of pooledBuf bytes) that
// ForEach is done with; NewScanner takes from it.
var bufPool sync.Pool

// fill reads more data, compacting buf[keep:] to the front. It returns false
// when no more data can be read.
func (s *Scanner) fill() bool {
	if s.eof {
		return false
	}
	from := s.end &^ 63 // the bits before it stay right
	if s.keep > 0 {
		s.countLines(s.base + int64(s.keep))
		n := copy(s.buf, s.buf[s.keep:s.end])
		s.base += int64(s.keep)
		s.pos -= s.keep
		s.end = n
		s.keep = 0
		from = 0
	}
	if s.end == len(s.buf) {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
		s.special = append(s.special, make([]uint64, specialWords(len(nb))-len(s.special))...)
	}
	defer func() { specialBits(s.special[from>>6:], s.buf[from:s.end]) }()
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

// ensure makes n bytes from pos available, if the input has them.
func (s *Scanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
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
// It sets nl when the white space ends with a line break.
func (s *Scanner) skipSpace() bool {
	s.nl = false
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case '\n':
				s.nl = true
				s.pos++
			case ' ', '\t', '\r':
				s.nl = false
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
	if s.hasPending {
		s.hasPending = false
		return s.pending, nil
	}
	if s.stopped {
		return Record{}, io.EOF
	}
	if !s.started {
		s.started = true
		if err := s.checkStart(); err != nil {
			return Record{}, err
		}
	}
	for {
		if !s.skipSpace() {
			return Record{}, s.finalErr()
		}
		c := s.buf[s.pos]
		switch s.st {
		case stTop:
			switch c {
			case '{':
				rec, isWrapper, err := s.value(true)
				if err != nil || !isWrapper {
					return rec, err
				}
				s.st = stRecords
				s.needComma = false
			case '[':
				s.pos++
				s.keep = s.pos
				s.st = stArray
				s.needComma = false
			default:
				if s.isBOM() { // a BOM between concatenated files or gzip members
					s.pos += 3
					s.keep = s.pos
					continue
				}
				err := s.posErr(s.pos, "unexpected %q outside any JSON value; skipped up to the next line that starts with '{' or '['", c)
				s.skipGarbage()
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
					err := s.posErr(s.pos, "missing ',' between array elements (the record is still read)")
					err.Warning = true
					return Record{}, err
				}
				s.needComma, s.commaReported = true, false
				rec, _, err := s.value(false)
				return rec, err
			case '}':
				err := s.posErr(s.pos, "unexpected '}' in an array; skipped")
				s.pos++
				s.keep = s.pos
				return Record{}, err
			default:
				err := s.posErr(s.pos, "array element is not a JSON object; skipped")
				if bad := s.discardValue(); bad != nil {
					err.Msg += " (" + bad.Msg + ")"
				}
				s.needComma = true
				return Record{}, err
			}
		case stWrapTail:
			// the rest of the delivery object: `, "key": value ... }`
			// (another "Records" array is read too)
			s.keep = s.pos
			s.v.reset(false, true)
			s.v.push('{')
			s.v.state = vNext
			s.v.prevNL = s.nl
			s.st = stTop
			if bad := s.run(); bad != nil {
				bad.Msg = "after the Records array: " + bad.Msg
				return Record{}, bad
			}
			if s.v.wrapped {
				s.st = stRecords
			}
		}
	}
}

// checkStart skips a UTF-8 byte order mark at the start of the stream and
// stops at a UTF-16 one (or UTF-16 text without one).
func (s *Scanner) checkStart() error {
	s.ensure(3)
	b := s.buf[s.pos:s.end]
	switch {
	case s.isBOM():
		s.pos += 3
		s.keep = s.pos
	case len(b) >= 2 && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF ||
		b[1] == 0 && (b[0] == '{' || b[0] == '[') || b[0] == 0 && (b[1] == '{' || b[1] == '[')):
		s.stopped = true
		return &PosError{Line: 1, Offset: 0, Msg: ErrUTF16.Error(), Err: ErrUTF16}
	}
	return nil
}

// isBOM reports whether a UTF-8 byte order mark is at pos.
func (s *Scanner) isBOM() bool {
	if s.buf[s.pos] != 0xEF || !s.ensure(3) {
		return false
	}
	return s.buf[s.pos+1] == 0xBB && s.buf[s.pos+2] == 0xBF
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

// skipGarbage skips text outside any JSON value: lines up to the next one
// whose first non-blank byte may start a value ('{', '[' or a BOM).
func (s *Scanner) skipGarbage() {
	for {
		s.skipLine()
		if !s.skipSpace() {
			return
		}
		switch s.buf[s.pos] {
		case '{', '[', 0xEF:
			return
		}
	}
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

// value scans, validates and returns the JSON object at pos. With wrapper,
// a top-level object is checked for being a delivery file: on return with
// isWrapper, pos is just inside its Records array.
func (s *Scanner) value(wrapper bool) (rec Record, isWrapper bool, err error) {
	s.keep = s.pos
	s.countLines(s.base + int64(s.pos))
	start, line := s.base+int64(s.pos), s.line
	// duplicate keys are tracked by their offsets in the record (uint32)
	s.v.reset(s.max < canonKey, wrapper)
	s.v.recStart = start
	tooLarge := false
	for {
		switch s.validate() {
		case vDone:
			if tooLarge || s.base+int64(s.pos)-start > int64(s.max) {
				return Record{}, false, &PosError{Line: line, Offset: start, Err: ErrTooLarge,
					Msg: fmt.Sprintf("%v (%d bytes, limit %d); record skipped", ErrTooLarge, s.base+int64(s.pos)-start, s.max)}
			}
			if s.v.values > MaxValues {
				return Record{}, false, &PosError{Line: line, Offset: start, Err: ErrTooManyValues,
					Msg: fmt.Sprintf("%v (%d); record skipped", ErrTooManyValues, s.v.values)}
			}
			rec = Record{Data: s.buf[s.keep:s.pos], Line: line, Offset: start, Keys: s.v.recordKeys(), Depth: s.v.deepest}
			rec.Nested, rec.Kids = s.v.recordNested()
			s.keep = s.pos
			if s.v.dups == 0 {
				return rec, false, nil
			}
			rec.Keys = nil // the rewrite below moves them
			s.norm = lastWins(s.norm[:0], rec.Data)
			rec.Data = s.norm
			s.pending, s.hasPending = rec, true
			msg := fmt.Sprintf("duplicate key %s in the record: the last occurrence is used", quoteKey(s.v.dupKey))
			if s.v.dups > 1 {
				msg = fmt.Sprintf("duplicate keys %s and %d more in the record: the last occurrence of each is used", quoteKey(s.v.dupKey), s.v.dups-1)
			}
			return Record{}, false, &PosError{Line: line, Offset: start, Msg: msg, Warning: true}
		case vWrap:
			s.keep = s.pos
			return Record{}, true, nil
		case vErr:
			if s.v.errNewRecord {
				// report the cut record where it starts
				s.pos, s.keep, s.needComma = s.v.errAt, s.v.errAt, false
				return Record{}, false, &PosError{Line: line, Offset: start, Msg: "invalid JSON: " + s.v.errMsg + "; record skipped"}
			}
			return Record{}, false, s.invalid(line)
		}
		// more input needed
		if !tooLarge && s.base+int64(s.pos)-start > int64(s.max) {
			// over the limit: scan on without keeping the record
			tooLarge = true
			s.v.track = false
		}
		if tooLarge {
			s.release()
		}
		if !s.fill() {
			s.st = stTop // the input ended inside the value: nothing more to report
			if s.rerr != nil {
				return Record{}, false, s.rerr
			}
			if tooLarge || s.base+int64(s.end)-start > int64(s.max) {
				return Record{}, false, &PosError{Line: line, Offset: start, Err: ErrTooLarge,
					Msg: fmt.Sprintf("%v (limit %d bytes) and truncated at the end of the input; record skipped", ErrTooLarge, s.max)}
			}
			return Record{}, false, &PosError{Line: line, Offset: start, Msg: "unexpected end of input inside a JSON value (truncated record)"}
		}
	}
}

// discardValue validates the value at pos without keeping it; it returns the
// reason when it is not valid JSON.
func (s *Scanner) discardValue() *PosError {
	s.keep = s.pos
	s.countLines(s.base + int64(s.pos))
	line := s.line
	s.v.reset(false, false)
	return s.runFrom(line)
}

// run validates, without keeping it, the rest of a value whose state is set
// up in s.v.
func (s *Scanner) run() *PosError {
	s.countLines(s.base + int64(s.pos))
	return s.runFrom(s.line)
}

func (s *Scanner) runFrom(line int) *PosError {
	for {
		switch st := s.validate(); st {
		case vDone, vWrap:
			s.keep = s.pos
			s.v.wrapped = st == vWrap
			return nil
		case vErr:
			return s.invalid(line)
		}
		s.release()
		if !s.fill() {
			if s.v.atNumberEnd() {
				return nil
			}
			s.st = stTop
			if s.rerr != nil {
				return nil // reported by finalErr
			}
			return s.posErr(s.end, "unexpected end of input inside a JSON value (truncated)")
		}
	}
}

// release lets the next fill drop what was validated, except the start of
// a short key being read (it may be "Records").
func (s *Scanner) release() {
	s.keep = s.pos
	if s.v.isKey && s.v.inString() && s.v.keyStart-1 >= s.base && s.base+int64(s.pos)-s.v.keyStart < 64 {
		s.keep = int(s.v.keyStart - 1 - s.base)
	}
}

// invalid reports the validation error the validator stopped at and skips
// the rest of the broken value. line is the line the value starts on.
func (s *Scanner) invalid(line int) *PosError {
	v := &s.v
	at := v.errAt
	err := s.posErr(at, "invalid JSON: %s", v.errMsg)
	if v.errUTF8 {
		err = s.posErr(at, "%v: %s", ErrInvalidUTF8, v.errMsg)
		err.Err = ErrInvalidUTF8
	}
	if err.Line != line {
		err.RecordLine = line
	}
	err.Msg += "; record skipped"
	switch {
	case v.errNewline:
		// a line break inside a string: the line was cut; the record ends here
		s.pos = at + 1
		s.needComma = false
	case v.errNewRecord:
		// a line starting with `{"` inside the value: the previous line
		// was cut; a new record starts here
		s.pos = at
		s.needComma = false
	default:
		s.pos = at
		s.skipBroken(len(v.stack), v.inString())
	}
	s.keep = s.pos
	return err
}

// skipBroken skips the rest of an invalid value, from pos, where depth
// containers are open and a string may be open, by counting brackets. A
// line break inside a string, or a '{' at the start of a line, ends it (the
// JSON Lines record was cut).
func (s *Scanner) skipBroken(depth int, inStr bool) {
	esc, nl := false, false
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			if inStr {
				switch {
				case c == '\n':
					s.pos++
					return
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
				s.pos++
				continue
			}
			wasNL := nl
			nl = c == '\n'
			switch c {
			case '"':
				inStr = true
			case '{':
				if wasNL {
					return
				}
				depth++
			case '[':
				depth++
			case '}', ']':
				if depth == 0 {
					return
				}
				depth--
				if depth == 0 {
					s.pos++
					return
				}
			case ',', ' ', '\t', '\r', '\n':
				if depth == 0 {
					return
				}
			}
			s.pos++
		}
		s.keep = s.pos
		if !s.fill() {
			return
		}
	}
}

// ForEach calls fn for every record of r, and bad for every error that
// concerns one record or region (scanning then goes on) and for every
// warning (PosError.Warning; the record is then passed to fn). It returns
// nil at the end of the stream, fn's error if fn fails, or a final read
// error (such as a truncated gzip stream) after everything before it was
// delivered.
func ForEach(r io.Reader, max int, fn func(Record) error, bad func(*PosError)) error {
	s := NewScanner(r, max)
	defer s.Close() // reused: inputs are often many small files
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

// KeyValue returns the bytes of the value of keys[i], keys being a
// record's Record.Keys: from after the ':' that follows the key to before
// the ',' or '}' that ends the value, without the blanks around it.
func KeyValue(data []byte, keys []Key, i int) []byte {
	from := int(keys[i].Off + keys[i].N + 1) // past the closing quote
	to := len(data) - 1                      // the object's '}'
	if i+1 < len(keys) {
		to = int(keys[i+1].Off) - 1 // the next key's opening quote
		if data[from] == ':' && data[to-1] == ',' && !isBlank(data[from+1]) && !isBlank(data[to-2]) {
			return data[from+1 : to-1] // compact, as CloudTrail writes it
		}
	} else {
		for to > from && data[to] != '}' {
			to--
		}
	}
	v := trimBlank(data[from:to])
	v = trimBlank(v[1:]) // the ':'
	if i+1 < len(keys) {
		v = trimBlank(v[:len(v)-1]) // the ','
	}
	return v
}

// MemberData returns data up to the end of the value of keys[i]: when that
// value is an object whose keys are kids (its run of Record.Nested),
// KeyValue(MemberData(data, keys, i), kids, j) is the value of kids[j].
func MemberData(data []byte, keys []Key, i int) []byte {
	v := KeyValue(data, keys, i)
	return data[:cap(data)-cap(v)+len(v)] // v is data[cap(data)-cap(v):][:len(v)]
}

// trimBlank trims JSON's whitespace from both ends of b.
func trimBlank(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isBlank(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }
