#!/usr/bin/env bash
# Peak memory of a streaming hunt as the input grows: ordered data made from
# the real corpus by `trailhound gen --ordered` (CloudTrail-named files of
# five minutes each), hunted with every Elastic and Sigma corpus rule.
#
#   bench/stream.sh [SIZE...]     default: 1GB 2GB 5GB 10GB
#
# Needs ../shared/corpus beside the repository and GNU time (/usr/bin/time).
# Data goes to ${BENCH_DIR:-/tmp/trailhound-bench}/ordered-SIZE.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$here/../shared/corpus
base=${BENCH_DIR:-/tmp/trailhound-bench}
mkdir -p "$base"
bin=$base/trailhound
go build -o "$bin" "$here/cmd/trailhound"
echo "| input | records | wall s | CPU s | MB per CPU-s | records per CPU-s | alerts | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for size in "${@:-1GB 2GB 5GB 10GB}"; do
  for s in $size; do
    dir=$base/ordered-$s
    [ -d "$dir" ] || "$bin" gen --ordered --size "$s" --out "$dir" "$corpus/cloudtrail-logs" 2>/dev/null
    /usr/bin/time -f "%e %M %U %S" -o "$base/time.txt" "$bin" hunt -f jsonl -r "$corpus/elastic-rules" -r "$corpus/sigma-rules" "$dir" \
      > "$base/alerts.jsonl" 2> "$base/summary.txt" || true
    read -r secs kb user sys < "$base/time.txt"
    records=$(sed -n 's/.*records: \([0-9]*\).*/\1/p' "$base/summary.txt")
    bytes=$(sed -n 's/.*on disk, \([0-9.]*\) \([KMG]B\) read.*/\1 \2/p' "$base/summary.txt")
    alerts=$(wc -l < "$base/alerts.jsonl")
    awk -v n="$s" -v r="$records" -v s="$secs" -v kb="$kb" -v a="$alerts" -v b="$bytes" -v cpu="$(echo "$user $sys" | awk '{print $1 + $2}')" 'BEGIN {
      split(b, x, " "); mb = x[1] * (x[2] == "GB" ? 1000 : (x[2] == "KB" ? 0.001 : 1));
      printf "| %s ordered | %d | %.1f | %.1f | %.0f | %.0f | %d | %.0f |\n", n, r, s, cpu, mb/cpu, r/cpu, a, kb/1024 }'
  done
done
