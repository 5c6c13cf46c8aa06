// Package s3trail reads CloudTrail logs where CloudTrail delivers them in S3:
// AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz, or under an
// organization trail, AWSLogs/<org-id>/<account>/CloudTrail/<region>/...,
// below the trail's optional key prefix. It finds the accounts and regions
// with delimited listings, lists only the day folders asked for (never a
// whole bucket), opens objects for the hunt, and polls for new ones from a
// StartAfter position kept in a ledger.
package s3trail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/trailhound/trailhound/record"
)

// NewClient makes an S3 client from the default AWS configuration chain
// (environment, shared config and credentials files, SSO, instance or task
// role). endpoint, when set, is an S3-compatible store's URL: requests go
// there, with path-style addressing. Without a configured region,
// us-east-1 is used.
func NewClient(ctx context.Context, endpoint string) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(SDKLogger()))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	}), nil
}

// SDKLogger sends the AWS SDK's log lines to slog at debug level (it logs,
// for instance, each response without a checksum to validate).
func SDKLogger() logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		slog.Debug("aws sdk: "+fmt.Sprintf(format, v...), "class", string(c))
	})
}

// ParseURL splits s3://bucket/prefix.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%s: not an s3:// URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%s: no bucket name", u)
	}
	return bucket, prefix, nil
}

// Object is an S3 object holding CloudTrail logs.
type Object struct {
	Bucket, Key, ETag string
	Size              int64
	Modified          time.Time
}

// URL is the object's s3:// URL, the name messages give it.
func (o Object) URL() string { return "s3://" + o.Bucket + "/" + o.Key }

// Reader reads CloudTrail logs from S3.
type Reader struct {
	S3  *s3.Client
	Log *slog.Logger // nil: slog.Default()
	// Parallel is how many listings run at once (default 8).
	Parallel int
	// PageSize is the most keys one listing of objects returns (default:
	// S3's, 1000).
	PageSize int32
}

func (r *Reader) maxKeys() *int32 {
	if r.PageSize > 0 {
		return aws.Int32(r.PageSize)
	}
	return nil
}

func (r *Reader) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Open returns an object's content as stored (a gzip object stays
// compressed: record's readers detect it), and its ETag.
func (r *Reader) Open(ctx context.Context, bucket, key string) (io.ReadCloser, string, error) {
	out, err := r.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, "", fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return out.Body, strings.Trim(aws.ToString(out.ETag), `"`), nil
}

// Input is an object as an input of a hunt: named by its URL, opened with
// GetObject when a worker takes it.
func (r *Reader) Input(o Object) record.Input {
	return record.Input{Path: o.URL(), Size: o.Size, ModTime: o.Modified, Open: func(ctx context.Context) (io.ReadCloser, error) {
		rc, _, err := r.Open(ctx, o.Bucket, o.Key)
		return rc, err
	}}
}

// Fetched is an object's content as stored (gzip or plain), named by its
// s3:// URL, which stays the same when the object is delivered again.
type Fetched struct {
	Name string
	Data []byte
}

// Fetch reads the whole of each object (for a caller that takes bytes rather
// than readers).
func (r *Reader) Fetch(ctx context.Context, objs []Object) ([]Fetched, error) {
	out := make([]Fetched, len(objs))
	for i, o := range objs {
		rc, _, err := r.Open(ctx, o.Bucket, o.Key)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.URL(), err)
		}
		out[i] = Fetched{Name: o.URL(), Data: b}
	}
	return out, nil
}

// Prefix is one account's CloudTrail logs in one region:
// [<trail prefix>/]AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/.
type Prefix struct {
	Bucket  string
	Prefix  string // ends with "/"
	Org     string // organization id for an organization trail, else ""
	Account string
	Region  string
}

// URL is the prefix's s3:// URL.
func (p Prefix) URL() string { return "s3://" + p.Bucket + "/" + p.Prefix }

var (
	accountRE = regexp.MustCompile(`^\d{12}$`)
	orgRE     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
)

// Levels of the AWSLogs layout.
const (
	levelRoot    = iota // AWSLogs/: accounts or organizations
	levelOrg            // AWSLogs/<org-id>/: accounts
	levelAccount        // AWSLogs/[<org>/]<account>/: CloudTrail/ (and CloudTrail-Digest/, not read)
	levelService        // .../CloudTrail/: regions
	levelRegion         // .../CloudTrail/<region>/: the day folders
)

// Discover finds the account and region prefixes under prefix, the trail's
// key prefix (empty for none) or a path below it down to a region
// (.../AWSLogs/<account>/CloudTrail/<region>/). Only the folders of the
// AWSLogs layout are listed, with the delimiter "/", so no object is listed.
func (r *Reader) Discover(ctx context.Context, bucket, prefix string) ([]Prefix, error) {
	base, rest, found := cutAWSLogs(prefix)
	start := base + "AWSLogs/"
	p := Prefix{Bucket: bucket}
	level := levelRoot
	if found {
		for _, seg := range rest {
			var ok bool
			if p, level, ok = step(p, level, seg); !ok {
				return nil, fmt.Errorf("s3://%s/%s: %q is not where the CloudTrail layout (AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/) has it; name the bucket, the trail's prefix, or a folder of that layout down to a region (--from and --to choose the days)", bucket, prefix, seg)
			}
			start += seg + "/"
		}
	}
	var out []Prefix
	var mu sync.Mutex
	err := r.descend(ctx, p, start, level, func(p Prefix) {
		mu.Lock()
		out = append(out, p)
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("s3://%s/%s: no CloudTrail logs there (looked for %sAWSLogs/[<org-id>/]<account>/CloudTrail/<region>/)", bucket, prefix, base)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out, nil
}

// cutAWSLogs splits a prefix into the trail's prefix (with a trailing "/"
// unless empty) and the folders after AWSLogs/, when it reaches that far.
func cutAWSLogs(prefix string) (base string, rest []string, found bool) {
	segs := strings.Split(strings.Trim(prefix, "/"), "/")
	for i, s := range segs {
		if s == "AWSLogs" {
			base = strings.Join(segs[:i], "/")
			if base != "" {
				base += "/"
			}
			return base, segs[i+1:], true
		}
	}
	base = strings.Trim(prefix, "/")
	if base != "" {
		base += "/"
	}
	return base, nil, false
}

// step goes down one folder of the AWSLogs layout, from level: the prefix
// with the folder's part set and the next level, or false when name is not a
// folder of the layout there.
func step(p Prefix, level int, name string) (Prefix, int, bool) {
	switch {
	case level == levelRoot && orgRE.MatchString(name):
		p.Org = name
		return p, levelOrg, true
	case (level == levelRoot || level == levelOrg) && accountRE.MatchString(name):
		p.Account = name
		return p, levelAccount, true
	case level == levelAccount && name == "CloudTrail":
		return p, levelService, true
	case level == levelService:
		p.Region = name
		return p, levelRegion, true
	}
	return p, level, false
}

func (r *Reader) descend(ctx context.Context, p Prefix, prefix string, level int, found func(Prefix)) error {
	if level == levelRegion {
		p.Prefix = prefix
		found(p)
		return nil
	}
	subs, err := r.folders(ctx, p.Bucket, prefix)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		name := strings.TrimSuffix(strings.TrimPrefix(sub, prefix), "/")
		q, next, ok := step(p, level, name)
		if !ok {
			r.log().Debug("s3: not a folder of the CloudTrail layout, not read", "url", "s3://"+p.Bucket+"/"+sub)
			continue
		}
		if err := r.descend(ctx, q, sub, next, found); err != nil {
			return err
		}
	}
	return nil
}

// folders lists the folders (common prefixes) right under prefix.
func (r *Reader) folders(ctx context.Context, bucket, prefix string) ([]string, error) {
	var out []string
	pg := s3.NewListObjectsV2Paginator(r.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
	}
	return out, nil
}

// List calls fn with every object of p after startAfter (a key, or "" for
// all), in key order, which is time order in the CloudTrail layout. Only
// keys under p.Prefix are listed.
func (r *Reader) List(ctx context.Context, p Prefix, startAfter string, fn func(Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(p.Bucket), Prefix: aws.String(p.Prefix), MaxKeys: r.maxKeys()}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	pg := s3.NewListObjectsV2Paginator(r.S3, in)
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing %s after %q: %w", p.URL(), startAfter, err)
		}
		for _, o := range page.Contents {
			obj := Object{Bucket: p.Bucket, Key: aws.ToString(o.Key), ETag: strings.Trim(aws.ToString(o.ETag), `"`), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}
			if err := fn(obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeliverySlack is how long after an event CloudTrail may deliver the file
// holding it and a ranged listing still finds it: files named up to this
// long after --to are read.
const DeliverySlack = time.Hour

// directDays is the longest range whose day folders are listed without
// looking first which exist.
const directDays = 7

// ListRange lists the objects of the prefixes that can hold events in
// [from, to): those of the day folders from from's day to (to +
// DeliverySlack)'s day whose names carry a delivery time in [from, to +
// DeliverySlack) (a file holds events from before its delivery time), or no
// time. Digest files are left out. For a range of more than a week the day
// folders that exist are found first (delimited listings of years, months
// and days), so a long range over sparse logs costs no listing per empty
// day. Prefixes and days are listed in parallel; the result is in key order.
func (r *Reader) ListRange(ctx context.Context, prefixes []Prefix, from, to time.Time) ([]Object, error) {
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return nil, fmt.Errorf("listing S3 needs a time range, not [%v, %v)", from, to)
	}
	until := to.Add(DeliverySlack)
	firstDay := from.UTC().Truncate(24 * time.Hour)
	lastDay := until.UTC().Add(-1).Truncate(24 * time.Hour)
	days := make([][]string, len(prefixes))
	err := r.parallel(ctx, len(prefixes), func(ctx context.Context, i int) error {
		if lastDay.Sub(firstDay) < directDays*24*time.Hour {
			for d := firstDay; !d.After(lastDay); d = d.Add(24 * time.Hour) {
				days[i] = append(days[i], d.Format("2006/01/02/"))
			}
			return nil
		}
		var err error
		days[i], err = r.dayFolders(ctx, prefixes[i], firstDay, lastDay)
		return err
	})
	if err != nil {
		return nil, err
	}
	type job struct {
		p   Prefix
		day string
	}
	var jobs []job
	for i, p := range prefixes {
		for _, d := range days[i] {
			jobs = append(jobs, job{p, d})
		}
	}
	var (
		mu  sync.Mutex
		out []Object
	)
	err = r.parallel(ctx, len(jobs), func(ctx context.Context, i int) error {
		dp := jobs[i].p
		dp.Prefix += jobs[i].day
		var objs []Object
		err := r.List(ctx, dp, "", func(o Object) error {
			if record.IsDigestName(o.Key) {
				return nil
			}
			if t, ok := NameTime(o.Key); ok && (t.Before(from.Truncate(time.Minute)) || !t.Before(until)) {
				return nil
			}
			objs = append(objs, o)
			return nil
		})
		mu.Lock()
		out = append(out, objs...)
		mu.Unlock()
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// dayFolders finds the day folders (YYYY/MM/DD/, relative to the prefix)
// that exist under a region prefix between two days, inclusive.
func (r *Reader) dayFolders(ctx context.Context, p Prefix, first, last time.Time) ([]string, error) {
	var days []string
	years, err := r.folders(ctx, p.Bucket, p.Prefix)
	if err != nil {
		return nil, err
	}
	for _, y := range years {
		yt, err := time.Parse("2006/", strings.TrimPrefix(y, p.Prefix))
		if err != nil || yt.Year() < first.Year() || yt.Year() > last.Year() {
			continue
		}
		months, err := r.folders(ctx, p.Bucket, y)
		if err != nil {
			return nil, err
		}
		for _, m := range months {
			mt, err := time.Parse("2006/01/", strings.TrimPrefix(m, p.Prefix))
			if err != nil || mt.AddDate(0, 1, 0).Before(first.AddDate(0, 0, 1)) || mt.After(last) {
				continue
			}
			ds, err := r.folders(ctx, p.Bucket, m)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				rel := strings.TrimPrefix(d, p.Prefix)
				dt, err := time.Parse("2006/01/02/", rel)
				if err != nil || dt.Before(first) || dt.After(last) {
					continue
				}
				days = append(days, rel)
			}
		}
	}
	return days, nil
}

// parallel calls fn for 0..n-1, Parallel (default 8) at a time; the first
// error cancels the rest and is returned.
func (r *Reader) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	par := r.Parallel
	if par <= 0 {
		par = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// cloudTrailName matches the delivery time in a CloudTrail file's name:
// <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random>.json.gz.
var cloudTrailName = regexp.MustCompile(`_CloudTrail(?:-Insight)?_[a-z0-9-]+_(\d{8}T\d{4}Z)_[^/]*$`)

// NameTime is the delivery time in a CloudTrail file's name.
func NameTime(key string) (time.Time, bool) {
	m := cloudTrailName.FindStringSubmatch(key)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T1504Z", m[1])
	return t, err == nil
}

// ForBucket returns a client for the bucket's region: S3 answers a request
// sent to another region with a redirect that names the bucket's region
// (X-Amz-Bucket-Region), which the SDK does not follow. The client is
// returned as it is when its region is the bucket's, or when the answer
// names none (an S3-compatible store, a missing bucket: the listing will
// say).
func ForBucket(ctx context.Context, client *s3.Client, bucket string) *s3.Client {
	out, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	region := ""
	if err == nil {
		region = aws.ToString(out.BucketRegion)
	} else {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.Response != nil {
			region = re.Response.Header.Get("X-Amz-Bucket-Region")
		}
	}
	opts := client.Options()
	if region == "" || region == opts.Region {
		return client
	}
	slog.Debug("s3: bucket in another region", "bucket", bucket, "region", region, "configured", opts.Region)
	return s3.New(opts, func(o *s3.Options) { o.Region = region })
}
