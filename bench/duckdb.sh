#!/usr/bin/env bash
# trailhound query next to DuckDB on the same ad hoc question over NDJSON:
# failures per service, with 1 and 2 threads, over many files and over the
# same records in one file. DuckDB runs through its
# Node.js API (npm @duckdb/node-api, installed into $BENCH_DIR/duckdb).
#
#   bench/duckdb.sh [SIZE]     SIZE of data, default 1GB
#
# Needs ../shared/corpus beside the repository, jq, node/npm and GNU time.
# Prints CPU seconds (user+sys) and wall seconds, the median of 3 runs each,
# and checks that both answers agree. DuckDB's time includes starting Node.js
# (about 0.1 s) and its JSON schema detection.
set -euo pipefail
size=${1:-1GB}
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$here/../shared/corpus
base=${BENCH_DIR:-/tmp/trailhound-bench}
dir=$base/duckdb-$size
bin=$dir/trailhound
mkdir -p "$dir" "$base/duckdb"
go build -o "$bin" "$here/cmd/trailhound"
if [ ! -d "$dir/ndjson" ]; then
  "$bin" gen --size "$size" --out "$dir/gen" "$corpus/cloudtrail-logs" 2>/dev/null
  mkdir -p "$dir/ndjson"
  for f in "$dir"/gen/*.json; do jq -c '.Records[]' "$f" > "$dir/ndjson/$(basename "$f" .json).ndjson"; done
  rm -rf "$dir/gen"
fi
if [ ! -f "$dir/one/all.ndjson" ]; then
  mkdir -p "$dir/one"
  cat "$dir"/ndjson/*.ndjson > "$dir/one/all.ndjson"
fi
[ -d "$base/duckdb/node_modules/@duckdb/node-api" ] || (cd "$base/duckdb" && npm install --silent @duckdb/node-api >/dev/null)
cat > "$base/duckdb/q.mjs" <<'JS'
import { DuckDBInstance } from '@duckdb/node-api';
const [glob, threads] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const c = await db.connect();
const r = await c.runAndReadAll(`SELECT count(*) AS n, eventSource FROM read_json('${glob}', format='newline_delimited',
  maximum_object_size=16777216, union_by_name=true) WHERE errorCode IS NOT NULL GROUP BY 2 ORDER BY 1 DESC, 2`);
for (const row of r.getRows()) console.log(`${row[0]},${row[1]}`);
JS
bytes=$(cat "$dir"/ndjson/*.ndjson | wc -c)
# the same question in both: calls that failed (errorCode set), per service
q='FROM x | WHERE errorCode IS NOT NULL | STATS n = COUNT(*) BY eventSource | SORT n DESC, eventSource'
# and issue 15's, on the ECS view (event.outcome also reads ConsoleLogin's response)
qecs='FROM x | WHERE event.outcome == "failure" | STATS n = COUNT(*) BY event.provider | SORT n DESC, event.provider'
median() { sort -n | sed -n 2p; }
run() { # name command... ; 3 runs, median CPU and wall seconds
  local name=$1; shift
  for i in 1 2 3; do
    /usr/bin/time -f "%U %S %e" -o "$dir/t.txt" "$@" > "$dir/out.txt" 2>/dev/null
    cat "$dir/t.txt"
  done > "$dir/times.txt"
  cpu=$(awk '{print $1+$2}' "$dir/times.txt" | median)
  wall=$(awk '{print $3}' "$dir/times.txt" | median)
  awk -v n="$name" -v c="$cpu" -v w="$wall" -v b="$bytes" 'BEGIN { printf "| %s | %.2f | %.2f | %.0f |\n", n, c, w, b/1e6/c }'
}
echo "input: $(echo "$bytes/1000000" | bc) MB of NDJSON in $(ls "$dir"/ndjson | wc -l) files; $(nproc) cores"
echo "| what | CPU s | wall s | MB per CPU-s |"
echo "|---|---|---|---|"
run "trailhound query, 1 worker" "$bin" query -w 1 -f csv "$q" "$dir/ndjson"
"$bin" query -w 1 -f csv "$q" "$dir/ndjson" | tail -n +2 > "$dir/ours.csv"
run "trailhound query, 2 workers" "$bin" query -w 2 -f csv "$q" "$dir/ndjson"
run "trailhound query on the ECS view (event.outcome), 1 worker" "$bin" query -w 1 -f csv "$qecs" "$dir/ndjson"
run "DuckDB read_json, 1 thread" node "$base/duckdb/q.mjs" "$dir/ndjson/*.ndjson" 1
node "$base/duckdb/q.mjs" "$dir/ndjson/*.ndjson" 1 > "$dir/theirs.csv"
run "DuckDB read_json, 2 threads" node "$base/duckdb/q.mjs" "$dir/ndjson/*.ndjson" 2
echo "the same records in one file:"
run "trailhound query, 1 worker, one file" "$bin" query -w 1 -f csv "$q" "$dir/one/all.ndjson"
run "trailhound query, 2 workers, one file" "$bin" query -w 2 -f csv "$q" "$dir/one/all.ndjson"
"$bin" query -w 2 -f csv "$q" "$dir/one/all.ndjson" | tail -n +2 > "$dir/ours-one.csv"
run "DuckDB read_json, 1 thread, one file" node "$base/duckdb/q.mjs" "$dir/one/all.ndjson" 1
run "DuckDB read_json, 2 threads, one file" node "$base/duckdb/q.mjs" "$dir/one/all.ndjson" 2
for ours in "$dir/ours.csv" "$dir/ours-one.csv"; do
  if diff <(sort "$ours") <(sort "$dir/theirs.csv") > /dev/null; then echo "answers agree ($(basename "$ours"))"; else echo "ANSWERS DIFFER"; diff "$ours" "$dir/theirs.csv" | head; fi
done
