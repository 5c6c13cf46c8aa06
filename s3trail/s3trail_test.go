package s3trail

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/s3trail/s3test"
)

func ctName(prefix, account, region string, at time.Time, suffix string) string {
	return orgName(prefix, "", account, region, at, suffix)
}

func orgName(prefix, org, account, region string, at time.Time, suffix string) string {
	if org != "" {
		org += "/"
	}
	return fmt.Sprintf("%sAWSLogs/%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", prefix, org, account, region, at.Format("2006/01/02"), account, region, at.Format("20060102T1504Z"), suffix)
}

// layout writes a bucket with two plain accounts, an organization trail,
// digests, a stray folder, and files over four days.
func layout(t *testing.T, srv *s3test.Server) []string {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var keys []string
	put := func(k string) {
		srv.Put(t, "trail", k, s3test.Gzip([]byte(`{"Records":[]}`)))
		keys = append(keys, k)
	}
	for d := 0; d < 4; d++ {
		at := day.Add(time.Duration(d) * 24 * time.Hour)
		for _, h := range []time.Duration{5 * time.Minute, 12 * time.Hour, 23*time.Hour + 55*time.Minute} {
			put(ctName("", "111122223333", "us-east-1", at.Add(h), "a"))
			put(ctName("", "111122223333", "eu-west-1", at.Add(h), "b"))
			put(ctName("", "444455556666", "us-east-1", at.Add(h), "c"))
			put(orgName("", "o-abcdefghij", "777788889999", "us-east-1", at.Add(h), "d"))
		}
		put(fmt.Sprintf("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/%s/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_%sZ.json.gz", at.Format("2006/01/02"), at.Format("20060102T150405")))
	}
	put("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/notes.json") // no time in its name
	put("AWSLogs/not-an-account/CloudTrail/us-east-1/2026/11/03/x.json.gz")
	put("other/readme.txt")
	return keys
}

func TestDiscover(t *testing.T) {
	srv := s3test.New(t)
	layout(t, srv)
	srv.Put(t, "prefixed", ctName("team/logs/", "111122223333", "us-east-2", time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), "z"), nil)
	r := &Reader{S3: srv.Client}
	ctx := context.Background()
	tests := []struct {
		bucket, prefix string
		want           []string // Org/Account/Region
		err            string
	}{
		{"trail", "", []string{"/111122223333/eu-west-1", "/111122223333/us-east-1", "/444455556666/us-east-1", "o-abcdefghij/777788889999/us-east-1"}, ""},
		{"trail", "AWSLogs/", []string{"/111122223333/eu-west-1", "/111122223333/us-east-1", "/444455556666/us-east-1", "o-abcdefghij/777788889999/us-east-1"}, ""},
		{"trail", "AWSLogs/111122223333", []string{"/111122223333/eu-west-1", "/111122223333/us-east-1"}, ""},
		{"trail", "AWSLogs/o-abcdefghij/", []string{"o-abcdefghij/777788889999/us-east-1"}, ""},
		{"trail", "AWSLogs/111122223333/CloudTrail/eu-west-1/", []string{"/111122223333/eu-west-1"}, ""},
		{"prefixed", "team/logs", []string{"/111122223333/us-east-2"}, ""},
		{"prefixed", "team/logs/", []string{"/111122223333/us-east-2"}, ""},
		{"prefixed", "", nil, "no CloudTrail logs there (looked for AWSLogs/"},
		{"trail", "other", nil, "no CloudTrail logs there (looked for other/AWSLogs/"},
		{"trail", "AWSLogs/111122223333/CloudTrail-Digest/", nil, `"CloudTrail-Digest" is not where`},
		{"trail", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/", nil, `"2026" is not where`},
		{"missing", "", nil, "listing s3://missing/AWSLogs/"},
	}
	for _, tc := range tests {
		t.Run(tc.bucket+"/"+tc.prefix, func(t *testing.T) {
			ps, err := r.Discover(ctx, tc.bucket, tc.prefix)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Org+"/"+p.Account+"/"+p.Region)
				if !strings.HasSuffix(p.Prefix, "/CloudTrail/"+p.Region+"/") || p.Bucket != tc.bucket {
					t.Errorf("prefix %s", p.URL())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %d %.300v, want %v", len(got), got, tc.want)
			}
		})
	}
}

func TestListRange(t *testing.T) {
	srv := s3test.New(t)
	layout(t, srv)
	r := &Reader{S3: srv.Client, PageSize: 2}
	ctx := context.Background()
	ps, err := r.Discover(ctx, "trail", "AWSLogs/111122223333/CloudTrail/us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	tests := []struct {
		from, to string
		want     []string // key endings
	}{
		// The whole of 3 Nov, and files delivered up to an hour after.
		{"2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z", []string{"03/111122223333_CloudTrail_us-east-1_20261103T0005Z_a.json.gz",
			"03/111122223333_CloudTrail_us-east-1_20261103T1200Z_a.json.gz", "03/111122223333_CloudTrail_us-east-1_20261103T2355Z_a.json.gz",
			"03/notes.json", "04/111122223333_CloudTrail_us-east-1_20261104T0005Z_a.json.gz"}},
		// An hour: the file delivered at 12:00 holds events up to then.
		{"2026-11-03T11:00:00Z", "2026-11-03T11:30:00Z", []string{"03/111122223333_CloudTrail_us-east-1_20261103T1200Z_a.json.gz", "03/notes.json"}},
		{"2026-11-10T00:00:00Z", "2026-11-11T00:00:00Z", nil},
	}
	for _, tc := range tests {
		objs, err := r.ListRange(ctx, ps, at(tc.from), at(tc.to))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.Key[len("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/"):])
			if o.Size <= 0 || o.ETag == "" || o.Modified.IsZero() {
				t.Errorf("%s: size %d etag %q modified %v", o.Key, o.Size, o.ETag, o.Modified)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("[%s, %s): got\n %v\nwant\n %v", tc.from, tc.to, got, tc.want)
		}
	}
	if _, err := r.ListRange(ctx, ps, time.Time{}, at("2026-11-03T00:00:00Z")); err == nil {
		t.Error("no error without a start")
	}
	// Digest files are never listed, even when asked for their folder's days.
	all, err := r.Discover(ctx, "trail", "")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := r.ListRange(ctx, all, at("2026-11-01T00:00:00Z"), at("2026-11-06T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4*3*4+1 {
		t.Errorf("%d objects over all days, want %d", len(objs), 4*3*4+1)
	}
	// A year: the day folders that exist are found first, not listed per day.
	srv.Reset()
	year, err := (&Reader{S3: srv.Client}).ListRange(ctx, all, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(year, objs, func(a, b Object) bool { return a.Key == b.Key }) {
		t.Errorf("a year's range lists %d objects, want the %d of the days that exist", len(year), len(objs))
	}
	// Per prefix: years, months, days, then the 4 days' objects.
	if n := len(srv.Listings()); n != len(all)*(3+4) {
		t.Errorf("%d listings for a year, want %d", n, len(all)*(3+4))
	}
	for _, o := range objs {
		if record.IsDigestName(o.Key) {
			t.Errorf("digest listed: %s", o.Key)
		}
	}
}

func TestListAfterAndOpen(t *testing.T) {
	srv := s3test.New(t)
	keys := layout(t, srv)
	r := &Reader{S3: srv.Client, PageSize: 3}
	ctx := context.Background()
	p := Prefix{Bucket: "trail", Prefix: "AWSLogs/444455556666/CloudTrail/us-east-1/"}
	var got []string
	start := ctName("", "444455556666", "us-east-1", time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC), "c")
	err := r.List(ctx, p, start, func(o Object) error { got = append(got, o.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range keys {
		if strings.HasPrefix(k, p.Prefix) && k > start {
			want = append(want, k)
		}
	}
	if len(want) != 4 || !slices.Equal(got, want) {
		t.Errorf("after %s: got %v, want %v", start, got, want)
	}
	in := r.Input(Object{Bucket: "trail", Key: got[0], Size: 5})
	rc, err := record.OpenInput(ctx, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != `{"Records":[]}` || in.Path != "s3://trail/"+got[0] {
		t.Errorf("read %q from %s", b, in.Path)
	}
	if _, err := record.OpenInput(ctx, r.Input(Object{Bucket: "trail", Key: "nope"}), nil); err == nil || !strings.Contains(err.Error(), "s3://trail/nope") {
		t.Errorf("missing object: %v", err)
	}
}

func TestParseURLAndNameTime(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix, err string }{
		{"s3://b", "b", "", ""}, {"s3://b/", "b", "", ""}, {"s3://b/p/q/", "b", "p/q/", ""},
		{"s3:///p", "", "", "no bucket"}, {"file://x", "", "", "not an s3:// URL"},
	} {
		b, p, err := ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("%s: %q %q %v", tc.in, b, p, err)
		}
	}
	if at, ok := NameTime("x/AWSLogs/1/CloudTrail/us-east-1/2026/11/03/1_CloudTrail_us-east-1_20261103T1335Z_abc.json.gz"); !ok || at != time.Date(2026, 11, 3, 13, 35, 0, 0, time.UTC) {
		t.Errorf("NameTime = %v %v", at, ok)
	}
	if _, ok := NameTime("a_CloudTrail_us-east-1_20261103T1335Z_/b.json"); ok {
		t.Error("NameTime read a folder's name")
	}
}

// A bucket in another region: S3 redirects with X-Amz-Bucket-Region, and the
// client for the bucket uses that region (SigV4 signs with it).
func TestForBucket(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/eu-bucket":
			if !strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/s3/") {
				w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
				w.WriteHeader(http.StatusMovedPermanently)
				return
			}
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
		case "/us-bucket":
			w.Header().Set("X-Amz-Bucket-Region", "us-east-1")
		default:
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer ts.Close()
	client := s3test.NewClient(ts.URL)
	ctx := context.Background()
	eu := ForBucket(ctx, client, "eu-bucket")
	if eu.Options().Region != "eu-west-1" {
		t.Errorf("region %q, want eu-west-1", eu.Options().Region)
	}
	if _, err := eu.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("eu-bucket")}); err != nil {
		t.Errorf("HeadBucket with the bucket's region: %v", err)
	}
	if c := ForBucket(ctx, client, "us-bucket"); c != client {
		t.Error("a bucket in the client's region got another client")
	}
	if c := ForBucket(ctx, client, "missing"); c != client {
		t.Error("a missing bucket got another client")
	}
}
