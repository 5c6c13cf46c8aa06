#!/usr/bin/env bash
# Whole-process throughput and memory of trailhound on data multiplied from
# the real corpus, next to zcat and jq on the same input.
#
#   bench/run.sh [SIZE]        SIZE of uncompressed data, default 2GB
#
# Needs ../shared/corpus beside the repository, jq, and GNU time
# (/usr/bin/time). Data goes to ${BENCH_DIR:-/tmp/trailhound-bench}.
set -euo pipefail
size=${1:-2GB}
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$here/../shared/corpus
dir=${BENCH_DIR:-/tmp/trailhound-bench}/$size
bin=$dir/trailhound
mkdir -p "$dir"
go build -o "$bin" "$here/cmd/trailhound"
[ -d "$dir/plain" ] || "$bin" gen --size "$size" --out "$dir/plain" "$corpus/cloudtrail-logs"
[ -d "$dir/gz" ] || "$bin" gen --size "$size" --gzip --out "$dir/gz" "$corpus/cloudtrail-logs"
bytes=$(cat "$dir"/plain/*.json | wc -c)
records=$("$bin" hunt -r "$corpus/elastic-rules" -f jsonl "$dir/plain" 2>&1 >/dev/null | sed -n 's/.*records: \([0-9]*\).*/\1/p')
cat /dev/null > "$dir/results.txt"

measure() { # name command...
  local name=$1; shift
  sync
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" > /dev/null 2> "$dir/err.txt" || true
  read -r secs kb < "$dir/time.txt"
  awk -v n="$name" -v s="$secs" -v kb="$kb" -v b="$bytes" -v r="$records" 'BEGIN {
    printf "| %s | %.1f | %.0f | %.0f | %.0f |\n", n, s, b/1e6/s, r/s, kb/1024 }' | tee -a "$dir/results.txt"
}

echo "input: $(echo "$bytes/1000000" | bc) MB uncompressed, $records records, $(du -sm "$dir/gz" | cut -f1) MB gzipped; $(nproc) cores"
echo "| what | seconds | MB/s (uncompressed) | records/s | peak RSS MB |"
echo "|---|---|---|---|---|"
measure "trailhound hunt, plain JSON, 1 worker" "$bin" hunt -q -w 1 -r "$corpus/elastic-rules" -f jsonl "$dir/plain"
measure "trailhound hunt, plain JSON, $(nproc) workers" "$bin" hunt -q -r "$corpus/elastic-rules" -f jsonl "$dir/plain"
measure "trailhound hunt, .json.gz, 1 worker" "$bin" hunt -q -w 1 -r "$corpus/elastic-rules" -f jsonl "$dir/gz"
measure "trailhound hunt, .json.gz, $(nproc) workers" "$bin" hunt -q -r "$corpus/elastic-rules" -f jsonl "$dir/gz"
measure "zcat (decompression only, 1 core)" sh -c "zcat $dir/gz/*.json.gz"
measure "jq, one filter (1 core)" sh -c "cat $dir/plain/*.json | jq -c '.Records[] | select(.eventName == \"AddPermission20150331v2\")'"
