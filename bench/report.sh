#!/usr/bin/env bash
# Benchmark of `cperf report --flame` against `perf script | inferno-collapse-perf | inferno-flamegraph`,
# measured in this run on this machine, on the same workload recorded by both tools at once: the `hot`
# fixture (one instance per CPU) in a cgroup, sampled at 999 Hz with call stacks for SECS seconds by
# `cperf record -G` and `perf record -e cpu-clock -g -a -G`. Prints:
#
#   1. the median wall time of each pipeline from recording to SVG, and the ratio;
#   2. the self share of the hottest functions (by function symbol, as perf names them: cperf's inlined
#      frames are folded into the function that holds them) in each, and the largest difference.
#
# Usage (root): bench/report.sh          RUNS=5 SECS=30 by default (about 2 min in all)
# Needs: perf (linux-perf), cc, cargo (installs inferno's binaries into target/bench-tools once).
set -euo pipefail

RUNS=${RUNS:-5}
SECS=${SECS:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench/report.sh: run as root (sampling a cgroup needs it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/report.sh: perf is missing: apt-get install linux-perf" >&2; exit 1; }

cargo build --release --quiet
cperf="$here/target/release/cperf"
tools="$here/target/bench-tools"
if [ ! -x "$tools/bin/inferno-flamegraph" ]; then
    echo "# installing inferno's binaries into $tools (once)" >&2
    cargo install --quiet --locked --root "$tools" inferno >&2
fi
export PATH="$tools/bin:$PATH"

work=$(mktemp -d)
cc -static -O2 -g -fno-omit-frame-pointer -pthread -o "$work/hot" fixtures/src/hot.c
make_bench_cgroup report
cleanup() {
    remove_bench_cgroup
    rm -rf "$work"
}
trap cleanup EXIT

# The workload: one `hot` per CPU, in the cgroup, for longer than the recording.
for _ in $(seq "$(nproc)"); do
    (sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/hot' $((SECS + 10))" >/dev/null &)
done
sleep 1
echo "# recording the same workload with both tools at once: $SECS s at 999 Hz, $(nproc) CPUs, kernel $(uname -r)"
"$cperf" record -G "$cgname" -e cpu-clock -F 999 -g -o "$work/cperf.data" --duration "$SECS" 2>"$work/cperf-record.err" &
cperf_pid=$!
perf record -q -e cpu-clock -F 999 -g -a -G "$cgname" -o "$work/perf.data" -- sleep "$SECS" 2>"$work/perf-record.err" >/dev/null
wait "$cperf_pid"
grep -E "samples" "$work/cperf-record.err" | head -1 | sed 's/^/# /'
echo "# perf: $(perf script -i "$work/perf.data" -F period 2>/dev/null | wc -l) samples; perf.data $(du -h "$work/perf.data" | cut -f1), cperf's recording $(du -h "$work/cperf.data" | cut -f1)"

# Median wall seconds of "$@" over RUNS runs, the two pipelines taking turns.
declare -A times
for _ in $(seq "$RUNS"); do
    for tool in cperf perf; do
        start=$(date +%s.%N)
        case $tool in
            cperf) "$cperf" report -i "$work/cperf.data" --flame -o "$work/cperf.svg" 2>/dev/null ;;
            perf) perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph >"$work/perf.svg" ;;
        esac
        end=$(date +%s.%N)
        times[$tool]="${times[$tool]:-} $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')"
    done
done
t_cperf=$(echo ${times[cperf]} | tr ' ' '\n' | median)
t_perf=$(echo ${times[perf]} | tr ' ' '\n' | median)
printf "%-58s %10s\n" "pipeline, recording to SVG (median of $RUNS)" "time (s)"
printf "%-58s %10s\n" "cperf report --flame" "$t_cperf"
printf "%-58s %10s\n" "perf script | inferno-collapse-perf | inferno-flamegraph" "$t_perf"
echo "speed-up: $(awk -v a="$t_perf" -v b="$t_cperf" 'BEGIN { printf "%.1f", a / b }')x (goal: at least 5x)"

# Self shares of CPU time by function symbol: the leaf of each collapsed stack (weighted by the
# samples' periods, as inferno-collapse-perf weighs them), for cperf the last frame that is not an
# inlined one (_[i]), annotations stripped.
"$cperf" report -i "$work/cperf.data" --folded --period >"$work/cperf.folded"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/perf.folded"
shares() {
    awk '{ n = $NF; $NF = ""; sub(/ $/, ""); k = split($0, f, ";"); leaf = f[k];
           while (k > 1 && leaf ~ /_\[i\]$/) { k--; leaf = f[k] }
           sub(/_\[[kji]\]$/, "", leaf); s[leaf] += n; t += n }
         END { for (l in s) printf "%s\t%.2f\n", l, 100 * s[l] / t }' "$1" | sort -t$'\t' -k2 -rn
}
shares "$work/cperf.folded" >"$work/cperf.shares"
shares "$work/perf.folded" >"$work/perf.shares"
printf "\n%-40s %10s %10s %8s\n" "hottest functions (self share)" "perf" "cperf" "diff"
head -5 "$work/perf.shares" | while IFS=$'\t' read -r fn p; do
    c=$(awk -F'\t' -v f="$fn" '$1 == f { print $2 }' "$work/cperf.shares")
    c=${c:-0}
    printf "%-40s %9s%% %9s%% %7s\n" "$fn" "$p" "$c" "$(awk -v a="$c" -v b="$p" 'BEGIN { printf "%+.2f", a - b }')"
done | tee "$work/compare"
echo "largest difference: $(awk '{ d = $NF; sub(/^\+/, "", d); if (d < 0) d = -d; if (d > m) m = d } END { printf "%.2f", m }' "$work/compare") percentage points (goal: at most 2)"
