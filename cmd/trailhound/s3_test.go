package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/s3trail/s3test"
)

// awsTestEnv points the default AWS configuration chain at static test
// credentials and nothing of the machine's.
func awsTestEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
}

func jsonlIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var a struct{ ID string }
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}

// hunt s3:// over CloudTrail's layout in S3 raises the alerts that hunting
// the same objects in a local folder raises, and those of the samples.
func TestHuntS3(t *testing.T) {
	awsTestEnv(t)
	srv := s3test.New(t)
	local := t.TempDir()
	ds := s3test.Deliveries(t, "../../testdata/samples", "trail/")
	if len(ds) < 5 {
		t.Fatalf("%d delivery objects from the samples", len(ds))
	}
	for _, d := range ds {
		srv.Put(t, "logs", d.Key, d.Body)
		path := filepath.Join(local, filepath.FromSlash(d.Key))
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, d.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Neither a digest nor a day outside the range is read.
	srv.Put(t, "logs", "trail/AWSLogs/210987654321/CloudTrail-Digest/us-east-1/2026/11/03/210987654321_CloudTrail-Digest_us-east-1_t_us-east-1_20261103T140000Z.json.gz", []byte("not json"))
	srv.Put(t, "logs", "trail/AWSLogs/210987654321/CloudTrail/us-east-1/2026/11/07/210987654321_CloudTrail_us-east-1_20261107T0000Z_x.json.gz", []byte("not json"))

	code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "--s3-endpoint", srv.URL, "--from", "2026-11-03", "--to", "2026-11-04", "s3://logs/trail")
	if code != 0 {
		t.Fatalf("hunt s3://: exit %d\n%s", code, errs)
	}
	s3IDs := jsonlIDs(t, out)
	code, out, errs2 := runCmd(t, "hunt", "-f", "jsonl", "--from", "2026-11-03", "--to", "2026-11-04", local)
	if code != 0 {
		t.Fatalf("hunt folder: exit %d\n%s", code, errs2)
	}
	localIDs := jsonlIDs(t, out)
	_, out, _ = runCmd(t, "hunt", "-f", "jsonl", "../../testdata/samples")
	sampleIDs := jsonlIDs(t, out)
	if len(s3IDs) != 9 || !slices.Equal(s3IDs, localIDs) || !slices.Equal(s3IDs, sampleIDs) {
		t.Errorf("alert ids\n s3:      %v\n folder:  %v\n samples: %v", s3IDs, localIDs, sampleIDs)
	}
	for _, want := range []string{"s3://logs/trail: " + itoa(len(ds)) + " objects in " + itoa(folders(ds)) + " account/region folders", "files: " + itoa(len(ds)) + " ", "records: 18", "alerts: 9"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}

	// The endpoint from the SDK's environment variable, an account folder.
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	code, out, errs = runCmd(t, "hunt", "-f", "jsonl", "-q", "--from", "2026-11-03T13:00:00Z", "--to", "2026-11-03T14:00:00Z", "s3://logs/trail/AWSLogs/210987654321/")
	if code != 0 {
		t.Fatalf("hunt with AWS_ENDPOINT_URL_S3: exit %d\n%s", code, errs)
	}
	if n := len(jsonlIDs(t, out)); n == 0 || n >= 8 {
		t.Errorf("one hour: %d alerts, want some of the 8", n)
	}
}

func TestHuntS3Errors(t *testing.T) {
	awsTestEnv(t)
	srv := s3test.New(t)
	srv.Put(t, "empty", "other/x.json", []byte("{}"))
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"s3://empty"}, exitBadUsage, "needs --from"},
		{[]string{"ftp://host/x"}, exitBadUsage, "FTP input is not supported"},
		{[]string{"--from", "2026-11-03", "s3://empty"}, exitErrors, "s3://empty/: no CloudTrail logs there"},
		{[]string{"--from", "2026-11-03", "s3://nosuchbucket/p"}, exitErrors, "listing s3://nosuchbucket/p/AWSLogs/"},
		{[]string{"--from", "2026-11-03", "s3://empty/AWSLogs/x"}, exitErrors, `"x" is not where`},
	}
	for _, tc := range tests {
		code, _, errs := runCmd(t, append([]string{"hunt", "-q", "--s3-endpoint", srv.URL}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, errs)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// folders counts the account/region folders of delivery objects.
func folders(ds []s3test.Delivery) int {
	seen := map[string]bool{}
	for _, d := range ds {
		seen[regionFolder.FindString(d.Key)] = true
	}
	return len(seen)
}

var regionFolder = regexp.MustCompile(`^.*/CloudTrail/[^/]+/`)

// The corpus's CloudTrail delivery files, laid out in S3 as CloudTrail
// delivers them, hunted with the corpus's Sigma and Elastic rules through
// s3:// raise the alerts that hunting the same files locally raises.
func TestHuntS3Corpus(t *testing.T) {
	const corpus = "../../../shared/corpus"
	logs := filepath.Join(corpus, "cloudtrail-logs")
	if _, err := os.Stat(logs); err != nil {
		t.Skipf("%s is absent: the S3 corpus test is skipped", logs)
	}
	if testing.Short() {
		t.Skip("-short: the S3 corpus test uploads thousands of objects")
	}
	awsTestEnv(t)
	srv := s3test.New(t)
	name := regexp.MustCompile(`^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[^/]*$`)
	var paths []string
	var first, last time.Time
	err := filepath.WalkDir(logs, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		m := name.FindStringSubmatch(d.Name())
		if m == nil {
			return nil
		}
		at, err := time.Parse("20060102T1504Z", m[3])
		if err != nil {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		key := d.Name()
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			b, key = s3test.Gzip(b), key+".gz"
		}
		srv.Put(t, "corpus", "AWSLogs/"+m[1]+"/CloudTrail/"+m[2]+"/"+at.Format("2006/01/02")+"/"+key, b)
		paths = append(paths, path)
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 1000 {
		t.Fatalf("%d CloudTrail delivery files in the corpus, want 1000 or more", len(paths))
	}
	from, to := first.Add(-24*time.Hour).Format("2006-01-02"), last.Add(24*time.Hour).Format("2006-01-02")
	rules := []string{"-r", filepath.Join(corpus, "sigma-rules"), "-r", filepath.Join(corpus, "elastic-rules")}
	args := append([]string{"hunt", "-f", "jsonl", "--from", from, "--to", to, "--s3-endpoint", srv.URL}, rules...)
	code, out, errs := runCmd(t, append(args, "s3://corpus")...)
	if code != 0 && code != exitErrors {
		t.Fatalf("hunt s3://: exit %d\n%s", code, errs)
	}
	s3IDs := jsonlIDs(t, out)
	args = append([]string{"hunt", "-f", "jsonl", "--from", from, "--to", to}, rules...)
	code, out, errs2 := runCmd(t, append(args, paths...)...)
	if code != 0 && code != exitErrors {
		t.Fatalf("hunt files: exit %d\n%s", code, errs2)
	}
	localIDs := jsonlIDs(t, out)
	if len(localIDs) < 100 || !slices.Equal(s3IDs, localIDs) {
		t.Errorf("%d alerts through s3://, %d from the files; want the same, 100 or more", len(s3IDs), len(localIDs))
	}
	want := "files: " + itoa(len(paths)) + " "
	if !strings.Contains(errs, want) || !strings.Contains(errs2, want) {
		t.Errorf("summaries lack %q:\n%s\n%s", want, errs, errs2)
	}
	t.Logf("%d objects, %d alerts; s3:// summary:\n%s\nfiles:\n%s", len(paths), len(s3IDs), errs[:min(len(errs), 400)], errs2[:min(len(errs2), 300)])
}
