#!/usr/bin/env bash
# Every speed target of docs/performance.md ("Where the speed targets
# stand") in one series: an old build against the working tree's, whole
# processes and hunt's Go benchmarks interleaved, so that both see the same
# machine. Prints the medians (CPU = user + system seconds, wall, peak RSS)
# and benchstat's comparison.
#
#   bench/targets.sh OLD_REV [RUNS]     RUNS default 5
#
# Needs ../shared/corpus beside the repository, git, jq (also timed, with
# one filter over the generated data), gzip and GNU time;
# benchstat is run with `go run`. Data and results go to
# ${BENCH_DIR:-/tmp/trailhound-bench}.
set -euo pipefail
old_rev=$1 runs=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$here/../shared/corpus
base=${BENCH_DIR:-/tmp/trailhound-bench}
out=$base/targets
mkdir -p "$out/old" "$out/new"

build() { # dir: trailhound and hunt.test of the tree at dir
  (cd "$1" && go build -o "$2/trailhound" ./cmd/trailhound && go test -c -o "$2/hunt.test" ./hunt)
}
build "$here" "$out/new"
src=$(mktemp -d)
git -C "$here" worktree add -q --detach "$src" "$old_rev"
build "$src" "$out/old"
git -C "$here" worktree remove --force "$src"

gen=$base/gen-300MB one=$base/one-200MB.jsonl empty=$base/empty
# the issue's own yardstick: 1 GB, in 16 files and in one
gen1g=$base/gen-1GB one1g=$base/one-1GB.jsonl
mkdir -p "$empty"
[ -d "$gen" ] || "$out/new/trailhound" gen --size 300MB --out "$gen" "$corpus/cloudtrail-logs" 2>/dev/null
[ -d "$gen1g" ] || "$out/new/trailhound" gen --size 1GB --out "$gen1g" "$corpus/cloudtrail-logs" 2>/dev/null
one_file() { # size file: the records of gen --ordered in one JSON Lines file
  "$out/new/trailhound" gen --ordered --size "$1" --out "$base/ordered-$1" "$corpus/cloudtrail-logs" 2>/dev/null
  find "$base/ordered-$1" -type f | sort | xargs jq -c '.Records[]' > "$2"
}
[ -s "$one" ] || one_file 200MB "$one"
[ -s "$one1g" ] || one_file 1GB "$one1g"
[ -s "$one.gz" ] || gzip -k "$one"
[ -s "$one1g.gz" ] || gzip -k "$one1g"
cat "$gen"/* "$one" "$one.gz" "$gen1g"/* "$one1g" "$one1g.gz" > /dev/null # in the page cache for both builds

es=(-r "$corpus/elastic-rules" -r "$corpus/sigma-rules")
py=(-r "$corpus/panther-analysis")
: > "$out/cli.txt"
t() { # label build args...
  local label=$1 b=$2; shift 2
  /usr/bin/time -f "$b-$label %U %S %e %M" -a -o "$out/cli.txt" "$out/$b/trailhound" hunt -q -f jsonl "$@" > /dev/null 2>&1 || true
}
# the issue's yardstick: jq with one filter over the same records
jqf='.Records[] | select(.eventName == "ConsoleLogin")'
for _ in $(seq "$runs"); do
  /usr/bin/time -f "jq-generated %U %S %e %M" -a -o "$out/cli.txt" jq -c "$jqf" "$gen"/* > /dev/null
  for b in old new; do
    t generated $b -w 1 "${es[@]}" "$gen"
    t generated-w2 $b -w 2 "${es[@]}" "$gen"
    t real-logs $b -w 1 "${es[@]}" "$corpus/cloudtrail-logs"
    t panther $b -w 1 "${py[@]}" "$corpus/cloudtrail-logs"
    t panther-start $b -w 1 "${py[@]}" "$empty"
    t one-file-w1 $b -w 1 "${es[@]}" "$one"
    t one-file-w2 $b -w 2 "${es[@]}" "$one"
    t one-gz-w1 $b -w 1 "${es[@]}" "$one.gz"
    t one-gz-w2 $b -w 2 "${es[@]}" "$one.gz"
    t gen-1GB-w1 $b -w 1 "${es[@]}" "$gen1g"
    t gen-1GB-w2 $b -w 2 "${es[@]}" "$gen1g"
    t one-1GB-w1 $b -w 1 "${es[@]}" "$one1g"
    t one-1GB-w2 $b -w 2 "${es[@]}" "$one1g"
    t one-1GB-gz-w1 $b -w 1 "${es[@]}" "$one1g.gz"
    t one-1GB-gz-w2 $b -w 2 "${es[@]}" "$one1g.gz"
  done
done
: > "$out/old.txt"
: > "$out/new.txt"
for _ in $(seq "$runs"); do
  for b in old new; do
    (cd "$here/hunt" && "$out/$b/hunt.test" -test.run XXX -test.benchtime 2x -test.bench \
      'HuntParseFloor$|HuntQueryOnly$|HuntElasticSigma$|HuntGzip$|HuntGzipQueryOnly$|HuntGzipElasticSigma|SplitGzip$|HuntRealFiles$|HuntRealFilesFloor$|HuntOneGzipFile' \
      >> "$out/$b.txt" 2>&1)
  done
done
awk '
  { k = $1; cpu[k] = cpu[k] " " ($2 + $3); wall[k] = wall[k] " " $4; rss[k] = rss[k] " " $5 / 1024 }
  function med(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END { for (k in cpu) printf "%-20s CPU %.2f s  wall %.2f s  RSS %.0f MB\n", k, med(cpu[k]), med(wall[k]), med(rss[k]) }
' "$out/cli.txt" | sort
(cd "$here" && go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out/old.txt" "$out/new.txt")
