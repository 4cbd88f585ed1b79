#!/usr/bin/env bash
# Benchmark of `cperf record` against `perf record -e cpu-clock -g -G <cg> -a` on the same CPU-bound
# cgroup workload, measured in this run on this machine. Prints medians and ratios:
#
#   1. Overhead: wall time of a fixed amount of work (the `hot` fixture, 2 threads on a 2-CPU machine)
#      inside the cgroup, natively and while each tool samples the cgroup at 99 Hz and at 999 Hz.
#   2. Lost samples at 999 Hz.
#   3. Bytes written per sample at 999 Hz: perf.data's size over its samples; cperf's sample data (samples,
#      stacks, frames, framing) over its samples, with its symbol data (names, lines, modules) apart.
#
# Usage (root): bench/record.sh          RUNS=5 ROUNDS=400 by default (about 4 s of work per run here)
# Needs: perf (linux-perf), cc.
set -euo pipefail

RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-400}
THREADS=${THREADS:-$(nproc)}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

[ "$(id -u)" = 0 ] || { echo "bench/record.sh: run as root (sampling a cgroup needs it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/record.sh: perf is missing: apt-get install linux-perf" >&2; exit 1; }

cargo build --release --quiet
cargo build --release --quiet -p sampler --example recording_stats
cperf="$here/target/release/cperf"
stats="$here/target/release/examples/recording_stats"
work=$(mktemp -d)
cc -static -O2 -g -fno-omit-frame-pointer -pthread -o "$work/hot" fixtures/src/hot.c

# The cgroup2 mount: the mount point (field 5) of the line whose filesystem type (after " - ") is cgroup2.
cgroot=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
[ -n "$cgroot" ] || { echo "bench/record.sh: no cgroup2 mount found" >&2; exit 1; }
cgname="cperf-bench-record-$$"
cg="$cgroot/$cgname"
mkdir "$cg"
cleanup() {
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.1
    rmdir "$cg" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Seconds for the fixed work inside the cgroup.
work_once() { sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/hot' --rounds $ROUNDS $THREADS"; }

# Median seconds over $RUNS runs while the recorder started by "$@" samples the cgroup (natively with
# no args). The recorder's stderr goes to $work/last.err.
timed() {
    local pid=""
    if [ $# -gt 0 ]; then
        "$@" >/dev/null 2>"$work/last.err" &
        pid=$!
        sleep 1.5 # let it open its events and rings
    fi
    local v
    v=$(for _ in $(seq "$RUNS"); do work_once; done | median)
    if [ -n "$pid" ]; then
        kill -INT "$pid"
        wait "$pid" || true
    fi
    echo "$v"
}

echo "# cperf record vs perf record, $(nproc) CPUs, kernel $(uname -r), $RUNS runs of $ROUNDS rounds x $THREADS threads"
native=$(timed)
echo "native work: ${native} s (median)"

declare -A t samples lost bps symbytes
for hz in 99 999; do
    t[cperf$hz]=$(timed "$cperf" record -G "$cgname" -e cpu-clock -F "$hz" -g -o "$work/c$hz.cperf")
    samples[cperf$hz]=$(sed -n 's/^cperf record: \([0-9,]*\) samples.*/\1/p' "$work/last.err" | tr -d ,)
    lost[cperf$hz]=$(sed -n 's/.*, \([0-9,]*\) lost,.*/\1/p' "$work/last.err" | tr -d ,)
    eval "$("$stats" "$work/c$hz.cperf" | awk '{ printf "cs_%s=%s\n", $1, $2 }')"
    bps[cperf$hz]=$(awk -v b="$cs_sample_bytes" -v n="$cs_samples" 'BEGIN { printf "%.1f", n ? b / n : 0 }')
    symbytes[cperf$hz]=$cs_symbol_bytes

    t[perf$hz]=$(timed perf record -e cpu-clock -F "$hz" -g -a -G "$cgname" -o "$work/p$hz.data")
    samples[perf$hz]=$(perf report -i "$work/p$hz.data" --stats 2>/dev/null | awk '$1 == "SAMPLE" { print $(NF); exit }')
    lost[perf$hz]=$(perf report -i "$work/p$hz.data" --stats 2>/dev/null | awk '$1 ~ /^LOST/ { s += $(NF) } END { print s + 0 }')
    size=$(stat -c %s "$work/p$hz.data")
    bps[perf$hz]=$(awk -v b="$size" -v n="${samples[perf$hz]:-0}" 'BEGIN { printf "%.1f", n ? b / n : 0 }')
done

pct() { awk -v a="$1" -v n="$native" 'BEGIN { printf "%.2f", (a / n - 1) * 100 }'; }
echo
printf "%-22s %10s %10s %10s %10s %12s\n" tool "work (s)" overhead samples lost bytes/sample
for k in cperf99 perf99 cperf999 perf999; do
    printf "%-22s %10s %9s%% %10s %10s %12s\n" "$k Hz" "${t[$k]}" "$(pct "${t[$k]}")" "${samples[$k]:-?}" "${lost[$k]:-?}" "${bps[$k]}"
done
echo
echo "cperf symbol data (names, lines, modules), apart from the above: ${symbytes[cperf99]} bytes at 99 Hz, ${symbytes[cperf999]} bytes at 999 Hz"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
over() { awk -v a="$1" -v n="$native" 'BEGIN { print a - n }'; }
echo "overhead at 99 Hz, cperf: $(pct "${t[cperf99]}")% (goal: under 1%)"
echo "overhead ratio at 999 Hz, cperf/perf: $(ratio "$(over "${t[cperf999]}")" "$(over "${t[perf999]}")") (goal: at most 1; noisy when both are near zero)"
echo "lost at 999 Hz: cperf ${lost[cperf999]:-?}, perf ${lost[perf999]:-?} (goal: 0 for cperf)"
echo "bytes/sample ratio at 999 Hz, cperf/perf: $(ratio "${bps[cperf999]}" "${bps[perf999]}") (goal: at most 1)"
