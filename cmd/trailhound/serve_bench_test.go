package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/s3trail/s3test"
	"github.com/trailhound/trailhound/sqsinput/sqstest"
)

// BenchmarkServeSQS measures serve end to end: CloudTrail delivery files
// made by gen (from the corpus's real logs when ../shared/corpus is there,
// else the samples), gzip, in an in-process S3 (gofakes3) and announced on
// an in-process SQS queue (sqstest), all sent before serve starts; serve
// (this binary, as a process) reads them with the built-in rules and writes
// alerts to a JSON Lines file, until its metrics count every record. It
// reports records/s and MB/s (uncompressed) of wall time, serve's CPU
// seconds and records per CPU second. The servers run in the benchmark's
// process, on the same cores.
//
//	TRAILHOUND_BENCH_SIZE=200MB go test -run '^$' -bench BenchmarkServe -benchtime 1x ./cmd/trailhound
func BenchmarkServeSQS(b *testing.B) { benchServe(b, "sqs") }

// BenchmarkServeS3Poll is BenchmarkServeSQS with the S3 polling input.
func BenchmarkServeS3Poll(b *testing.B) { benchServe(b, "s3poll") }

func benchServe(b *testing.B, mode string) {
	size := os.Getenv("TRAILHOUND_BENCH_SIZE")
	if size == "" {
		size = "20MB"
	}
	src := "../../../shared/corpus/cloudtrail-logs"
	if _, err := os.Stat(src); err != nil {
		src = "../../testdata/samples"
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": ""} {
		b.Setenv(k, v)
	}
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	var genOut strings.Builder
	if code := run(context.Background(), []string{"gen", "--size", size, "--file-size", "1MB", "--ordered", "--gzip", "--out", data, src}, &genOut, &genOut); code != 0 {
		b.Fatal(genOut.String())
	}
	m := regexp.MustCompile(`wrote (\d+) records, ([\d.]+) MB`).FindStringSubmatch(genOut.String())
	if m == nil {
		b.Fatalf("gen said %q", genOut.String())
	}
	records, _ := strconv.Atoi(m[1])
	mb, _ := strconv.ParseFloat(m[2], 64)
	files, _ := filepath.Glob(filepath.Join(data, "*"))
	sort.Strings(files)

	const bucket = "trail-bucket"
	s3srv := s3test.New(b)
	q := sqstest.New(b, "trail")
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		name := filepath.Base(f)
		at, ok := s3trail.NameTime(name)
		if !ok {
			b.Fatalf("%s: not named like a CloudTrail file", name)
		}
		if at.Year() < 2000 {
			// gen's file of the records without event time: left out
			// (S3 polling starts at a day), its records not counted
			rc, err := record.Open(f)
			if err != nil {
				b.Fatal(err)
			}
			record.ForEach(rc, 1<<20, func(r record.Record) error {
				records--
				mb -= float64(len(r.Data)) / 1e6
				return nil
			}, func(*record.PosError) {})
			rc.Close()
			continue
		}
		account, _, _ := strings.Cut(name, "_")
		key := fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/%s/%s", account, at.Format("2006/01/02"), name)
		etag := strings.Trim(s3srv.Put(b, bucket, key, body), `"`)
		if mode == "sqs" {
			q.Send("trail", sqstest.S3Event(bucket, key, etag, len(body)), 0)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"serve", "--state", filepath.Join(dir, "s.db"), "--out", filepath.Join(dir, "alerts.jsonl"), "--listen", addr,
		"--s3-endpoint", s3srv.URL, "--log-level", "warn"}
	input := "sqs"
	if mode == "sqs" {
		// A visibility timeout of a minute: a receive whose answer the SDK
		// lost (seen under this load now and then: the client's connection
		// closed while it read the answer; it retries, and the messages the
		// lost answer held come back only after the timeout) costs a minute,
		// not 5; shorter, the extensions fall behind under this load.
		cfg := filepath.Join(dir, "serve.yaml")
		os.WriteFile(cfg, fmt.Appendf(nil, "sqs:\n  queue_url: %s\n  endpoint: %s\n  visibility: 1m\n", q.QueueURL("trail"), q.URL), 0o644)
		args = append(args, "--config", cfg)
	} else {
		input = "s3poll"
		args = append(args, "--s3-poll", "s3://"+bucket, "--from", "2000-01-01", "--poll-interval", "100ms")
	}
	b.ResetTimer()
	start := time.Now()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAILHOUND_AS_MAIN=1")
	logs, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	counted := func() int {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), `trailhound_input_records_total{input="`+input+`"} `); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return int(n)
			}
		}
		return 0
	}
	for last, since := -1, time.Now(); ; time.Sleep(50 * time.Millisecond) {
		n := counted()
		if n >= records {
			break
		}
		if n != last {
			last, since = n, time.Now()
		}
		if time.Since(since) > 2*time.Minute {
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "trailhound_input") || strings.HasPrefix(sc.Text(), "trailhound_pending") {
						b.Log(sc.Text())
					}
				}
				resp.Body.Close()
			}
			v, f, d := q.Counts("trail")
			b.Logf("queue: %d visible, %d in flight, %d deleted", v, f, d)
			cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, to the log
			cmd.Wait()
			if data, err := os.ReadFile(logs.Name()); err == nil {
				b.Logf("serve's log:\n%s", data)
			}
			b.Fatalf("serve counted %d of %d records, and no more for two minutes", n, records)
		}
	}
	wall := time.Since(start)
	b.StopTimer()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		data, _ := os.ReadFile(logs.Name())
		b.Fatalf("serve: %v; its log:\n%s", err, data)
	}
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	b.ReportMetric(float64(records)/wall.Seconds(), "records/s")
	b.ReportMetric(mb/wall.Seconds(), "MB/s")
	b.ReportMetric(cpu, "cpu-s")
	b.ReportMetric(float64(records)/cpu, "records/cpu-s")
	b.Logf("%s: %d files, %d records, %.1f MB uncompressed, %s: %.1f s wall (to the last record counted), %.1f CPU-s in serve",
		mode, len(files), records, mb, src, wall.Seconds(), cpu)
}
