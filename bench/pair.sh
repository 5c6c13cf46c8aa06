#!/usr/bin/env bash
# What two cores give one large file, against what they give two hunts that
# share nothing: interleaved, one `hunt -w 1` alone, two `hunt -w 1`
# processes at once over the same file, and one `hunt -w 2`, every Elastic
# and Sigma corpus rule loaded. Prints wall and CPU medians and the two
# ratios (two processes: 2 x alone / pair wall; -w 2: alone / -w 2 wall).
#
#   bench/pair.sh [RUNS]     default: 8
#
# Needs ../shared/corpus beside the repository, jq and GNU time. The input,
# 209 MB of JSON Lines in time order, goes to
# ${BENCH_DIR:-/tmp/trailhound-bench}/one-200MB.jsonl.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$here/../shared/corpus
base=${BENCH_DIR:-/tmp/trailhound-bench}
mkdir -p "$base"
bin=$base/trailhound
go build -o "$bin" "$here/cmd/trailhound"
one=$base/one-200MB.jsonl
if [ ! -s "$one" ]; then
  "$bin" gen --ordered --size 200MB --out "$base/ordered-200MB" "$corpus/cloudtrail-logs" 2>/dev/null
  find "$base/ordered-200MB" -type f | sort | xargs jq -c '.Records[]' > "$one"
fi
out=$base/pair.txt
: > "$out"
hunt() { # label workers
  /usr/bin/time -f "$1 %e %U %S" -a -o "$out" "$bin" hunt -w "$2" -q -f jsonl \
    -r "$corpus/elastic-rules" -r "$corpus/sigma-rules" "$one" > /dev/null 2>&1
}
for _ in $(seq "${1:-8}"); do
  hunt alone 1
  start=$(date +%s.%N)
  hunt pairA 1 & hunt pairB 1
  wait
  echo "pair $(echo "$(date +%s.%N) - $start" | bc) 0 0" >> "$out"
  hunt w2 2
done
awk '
  { wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " ($3 + $4) }
  function med(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (k in wall) if (k != "pair") printf "%-6s wall %.2f s, CPU %.2f s\n", k, med(wall[k]), med(cpu[k])
    printf "pair   wall %.2f s (both done)\n", med(wall["pair"])
    printf "two processes: %.2fx; -w 2: %.2fx\n", 2 * med(wall["alone"]) / med(wall["pair"]), med(wall["alone"]) / med(wall["w2"])
  }' "$out"
