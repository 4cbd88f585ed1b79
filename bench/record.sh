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
# Usage (root): bench/record.sh          RUNS=5 ROUNDS=2500 by default (about 2.5 s of work per run here; ~2 min in all)
# Needs: perf (linux-perf), cc.
set -euo pipefail

RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-2500}
THREADS=${THREADS:-$(nproc)}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench/record.sh: run as root (sampling a cgroup needs it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/record.sh: perf is missing: apt-get install linux-perf" >&2; exit 1; }

cargo build --release --quiet
cargo build --release --quiet -p sampler --example recording_stats
cperf="$here/target/release/cperf"
stats="$here/target/release/examples/recording_stats"
work=$(mktemp -d)
cc -static -O2 -g -fno-omit-frame-pointer -pthread -o "$work/hot" fixtures/src/hot.c

# The cgroup2 mount: the mount point (field 5) of the line whose filesystem type (after " - ") is cgroup2.
make_bench_cgroup record
cleanup() {
    remove_bench_cgroup
    rm -rf "$work"
}
trap cleanup EXIT


# Seconds for the fixed work inside the cgroup.
work_once() { sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/hot' --rounds $ROUNDS $THREADS"; }

# Seconds of the fixed work while the recorder started by "$@" samples the cgroup (natively with no
# args); the recorder starts before and stops after the work. Its stderr goes to $work/last.err.
timed_once() {
    local pid=""
    if [ $# -gt 0 ]; then
        "$@" >/dev/null 2>"$work/last.err" &
        pid=$!
    fi
    sleep 1 # let the recorder open its events and rings (and give the native run the same idle second)
    local secs
    secs=$(work_once)
    if [ -n "$pid" ]; then
        # The recorder's own CPU time until the work ended (all its threads, ns from schedstat), in seconds.
        cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.4f\n", s / 1e9 }' >"$work/last.cpu"
        kill -INT "$pid"
        wait "$pid" || true
    fi
    echo "$secs"
}

echo "# cperf record vs perf record, $(nproc) CPUs, kernel $(uname -r), $RUNS runs of $ROUNDS rounds x $THREADS threads"
echo "# conditions interleaved in every run, in a rotated order, so drift and position effects of a noisy machine hit all alike"
conds="native cperf99 perf99 cperf999 perf999"
order=($conds)
declare -A times overheads cpus samples lost bps symbytes
for run in $(seq "$RUNS"); do
    rotated=("${order[@]:$(( (run - 1) % 5 ))}" "${order[@]:0:$(( (run - 1) % 5 ))}")
    # Native first, so the run's overheads are relative to it; the recorders' order rotates.
    base=$(timed_once)
    times[native]="${times[native]:-} $base"
    echo "run $run native: $base s" >&2
    for c in "${rotated[@]}"; do
        [ "$c" = native ] && continue
        hz=${c//[a-z]/}
        case $c in
            cperf*)
                v=$(timed_once "$cperf" record -G "$cgname" -e cpu-clock -F "$hz" -g -o "$work/$c.cperf")
                samples[$c]=$(sed -n 's/^cperf record: \([0-9,]*\) samples.*/\1/p' "$work/last.err" | tr -d ,)
                lost[$c]=$(( ${lost[$c]:-0} + $(sed -n 's/.*, \([0-9,]*\) lost,.*/\1/p' "$work/last.err" | tr -d ,) ))
                eval "$("$stats" "$work/$c.cperf" | awk '{ printf "cs_%s=%s\n", $1, $2 }')"
                bps[$c]=$(awk -v b="$cs_sample_bytes" -v n="$cs_samples" 'BEGIN { printf "%.1f", n ? b / n : 0 }')
                symbytes[$c]=$cs_symbol_bytes
                ;;
            perf*)
                v=$(timed_once perf record -e cpu-clock -F "$hz" -g -a -G "$cgname" -o "$work/$c.data")
                samples[$c]=$(perf report -i "$work/$c.data" --stats 2>/dev/null | awk '$1 == "SAMPLE" && $2 == "events:" { print $3; exit }')
                lost[$c]=$(( ${lost[$c]:-0} + $(perf report -i "$work/$c.data" --stats 2>/dev/null | awk '$1 ~ /^LOST/ && $2 == "events:" { s += $3 } END { print s + 0 }') ))
                size=$(stat -c %s "$work/$c.data")
                bps[$c]=$(awk -v b="$size" -v n="${samples[$c]:-0}" 'BEGIN { printf "%.1f", n ? b / n : 0 }')
                ;;
        esac
        times[$c]="${times[$c]:-} $v"
        overheads[$c]="${overheads[$c]:-} $(awk -v a="$v" -v n="$base" 'BEGIN { printf "%.3f", (a / n - 1) * 100 }')"
        cpus[$c]="${cpus[$c]:-} $(cat "$work/last.cpu")"
        echo "run $run $c: $v s" >&2
    done
done
med() { echo "$1" | tr ' ' '\n' | { grep . || true; } | median 6; }
declare -A t o cpu
for c in $conds; do t[$c]=$(med "${times[$c]}"); o[$c]=$(med "${overheads[$c]:-}"); cpu[$c]=$(med "${cpus[$c]:-}"); done
native=${t[native]}
echo "native work: ${native} s (median)"

echo "overhead: the median over runs of (work time with the recorder / native work time of the same run - 1)"
echo
printf "%-14s %10s %10s %16s %14s %10s %12s\n" tool "work (s)" overhead "recorder CPU (s)" "samples (last)" "lost (all)" bytes/sample
for k in cperf99 perf99 cperf999 perf999; do
    printf "%-14s %10s %9s%% %16s %14s %10s %12s\n" "$k Hz" "${t[$k]}" "${o[$k]}" "${cpu[$k]}" "${samples[$k]:-?}" "${lost[$k]:-?}" "${bps[$k]}"
done
echo
echo "cperf symbol data (names, lines, modules), apart from the above: ${symbytes[cperf99]} bytes at 99 Hz, ${symbytes[cperf999]} bytes at 999 Hz"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
echo "overhead at 99 Hz, cperf: ${o[cperf99]}% (goal: under 1%)"
echo "overhead at 999 Hz, cperf ${o[cperf999]}% vs perf ${o[perf999]}% (goal: no worse than perf)"
echo "recorder CPU at 999 Hz, cperf/perf: $(ratio "${cpu[cperf999]}" "${cpu[perf999]}")"
share() { awk -v c="$1" -v w="$2" -v n="$(nproc)" 'BEGIN { printf "%.3f", c / ((w + 1) * n) * 100 }'; }
echo "recorder CPU as a share of the machine during a run (recorder CPU / ((work + 1 s) x CPUs)):" \
    "cperf ${cpu[cperf99]:-?} s = $(share "${cpu[cperf99]}" "${t[cperf99]}")% at 99 Hz, $(share "${cpu[cperf999]}" "${t[cperf999]}")% at 999 Hz;" \
    "perf $(share "${cpu[perf99]}" "${t[perf99]}")% at 99 Hz, $(share "${cpu[perf999]}" "${t[perf999]}")% at 999 Hz"
echo "lost at 999 Hz: cperf ${lost[cperf999]:-?}, perf ${lost[perf999]:-?} (goal: 0 for cperf)"
echo "bytes/sample ratio at 999 Hz, cperf/perf: $(ratio "${bps[cperf999]}" "${bps[perf999]}") (goal: at most 1)"
