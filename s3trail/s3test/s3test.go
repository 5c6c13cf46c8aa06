// Package s3test serves S3 in process for tests (gofakes3 over HTTP, so the
// real AWS SDK is exercised) and turns CloudTrail records into delivery
// objects laid out as CloudTrail writes them.
package s3test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailhound/trailhound/record"
)

// Config is an AWS configuration for tests: static credentials, a region,
// no retries' waiting beyond the SDK's defaults.
func Config() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Logger:      logging.Nop{},
	}
}

// Server is an S3 server in process.
type Server struct {
	URL    string
	Client *s3.Client

	mu       sync.Mutex
	requests []*url.URL
}

// New starts an S3 server for the test, stopped when it ends.
func New(t testing.TB) *Server {
	t.Helper()
	faker := gofakes3.New(s3mem.New())
	s := &Server{}
	h := faker.Server()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			s.mu.Lock()
			s.requests = append(s.requests, r.URL)
			s.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.URL, s.Client = ts.URL, NewClient(ts.URL)
	return s
}

// Listings are the query parameters of the listing requests (GET of a
// bucket) served so far, and Reset forgets them.
func (s *Server) Listings() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []url.Values
	for _, u := range s.requests {
		if strings.Count(strings.Trim(u.Path, "/"), "/") == 0 { // /bucket: a listing
			out = append(out, u.Query())
		}
	}
	return out
}

// Reset forgets the requests served so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

// NewClient is an S3 client of the test configuration for endpoint, with
// path-style addressing.
func NewClient(endpoint string) *s3.Client {
	return s3.NewFromConfig(Config(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

// Put creates the bucket if needed and writes an object; it returns the
// object's ETag.
func (s *Server) Put(t testing.TB, bucket, key string, body []byte) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("create bucket %s: %v", bucket, err)
		}
	}
	out, err := s.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	var etag string
	if out.ETag != nil {
		etag = *out.ETag
	}
	return etag
}

// Delivery is a CloudTrail delivery object: its key and gzip content.
type Delivery struct {
	Key     string
	Body    []byte // gzip of {"Records":[...]}
	Records int
	Time    time.Time // the delivery time in its name
}

// Deliveries reads the CloudTrail records of the files in dir and lays them
// out as CloudTrail delivers them under prefix (the trail's key prefix, ""
// for none): one object per account, region and 5 minutes of event time,
// named with the end of its 5 minutes,
// <prefix>AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<hash>.json.gz.
// The result is in key order.
func Deliveries(t testing.TB, dir, prefix string) []Delivery {
	t.Helper()
	type group struct{ account, region, at string }
	groups := map[group][]json.RawMessage{}
	times := map[group]time.Time{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		rc, err := record.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		err = record.ForEach(rc, 1<<20, func(r record.Record) error {
			var ev struct {
				EventTime, AWSRegion, RecipientAccountID string
			}
			if err := json.Unmarshal(r.Data, &ev); err != nil {
				return fmt.Errorf("%s:%d: %w", path, r.Line, err)
			}
			at, err := time.Parse(time.RFC3339, ev.EventTime)
			if err != nil || ev.AWSRegion == "" || ev.RecipientAccountID == "" {
				return fmt.Errorf("%s:%d: want eventTime, awsRegion and recipientAccountId", path, r.Line)
			}
			delivered := at.UTC().Truncate(5 * time.Minute).Add(5 * time.Minute)
			g := group{ev.RecipientAccountID, ev.AWSRegion, delivered.Format("20060102T1504Z")}
			groups[g] = append(groups[g], bytes.Clone(r.Data))
			times[g] = delivered
			return nil
		}, func(pe *record.PosError) { t.Fatalf("%s:%d: %s", path, pe.Line, pe.Message()) })
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []Delivery
	for g, recs := range groups {
		body, err := json.Marshal(map[string][]json.RawMessage{"Records": recs})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		at := times[g]
		key := fmt.Sprintf("%sAWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
			prefix, g.account, g.region, at.Format("2006/01/02"), g.account, g.region, g.at, hex.EncodeToString(sum[:8]))
		out = append(out, Delivery{Key: key, Body: Gzip(body), Records: len(recs), Time: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
