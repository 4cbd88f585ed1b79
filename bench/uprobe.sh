#!/usr/bin/env bash
# Benchmark of cperf's uprobes against perf (perf probe + perf stat/record) and bpftrace, measured in
# this run on this machine. Prints medians, ratios, and each tool's answer.
#
#   1. Counting: the wall time of CALLS calls of a shared-library function (the `probed` fixture and
#      its libprobed.so, run in a cgroup), natively and while each tool counts that function's calls
#      in the cgroup: cperf stat -G, perf probe + perf stat -a -G, bpftrace uprobe with a cgroupid
#      filter. The conditions take turns in every run. Added nanoseconds per call, and each tool's
#      count from the last run (all must be CALLS).
#   2. Return values: the same with a return probe that records every return value (cperf record
#      --retval, perf probe '%return $retval' + perf record, bpftrace @[retval] = count()), then
#      the time to turn the recording into the distribution (cperf report --retval, perf script +
#      sort | uniq -c), and the distribution each tool gives. The function is `int` and returns 0,
#      7 and -4: a tool that reads the whole register shows -4 as 4294967292.
#
# Usage (root): bench/uprobe.sh           RUNS=5 CALLS=200000 by default (about 2 min)
# Needs: perf (linux-perf), cc; optional: bpftrace.
set -euo pipefail

RUNS=${RUNS:-5}
CALLS=${CALLS:-200000}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench/uprobe.sh: run as root (uprobes need it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/uprobe.sh: perf is missing: apt-get install linux-perf" >&2; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing
bpftrace=$(command -v bpftrace || true)

cargo build --release --quiet
cperf="$here/target/release/cperf"
work=$(mktemp -d)
mkdir "$work/bin" "$work/lib"
flags="-O2 -g -fno-omit-frame-pointer -Wall"
# shellcheck disable=SC2086
cc $flags -shared -fPIC -o "$work/lib/libprobed.so" fixtures/src/libprobed.c
# shellcheck disable=SC2086,SC2016
cc $flags fixtures/src/probed.c -L"$work/lib" -lprobed -Wl,-rpath,'$ORIGIN/../lib' -o "$work/bin/probed"
lib="$work/lib/libprobed.so"
func=cperf_probed_call

make_bench_cgroup uprobe
# perf probe names its events after the library: probe_libprobed:cperf_probed_call(__return).
perf probe -q -d 'probe_libprobed:*' 2>/dev/null || true
cleanup() {
    perf probe -q -d 'probe_libprobed:*' 2>/dev/null || true
    remove_bench_cgroup
    rm -rf "$work"
}
trap cleanup EXIT
perf probe -q -x "$lib" "$func"
perf probe -q -x "$lib" "$func%return \$retval"

# A process that stays in the cgroup: cperf finds a target's files through one of its processes.
sh -c "echo \$\$ > '$cg/cgroup.procs'; exec sleep 100000" &
disown
sleep 0.2

now_ns() { date +%s%N; }

# Nanoseconds of one run of the workload in the cgroup.
workload_ns() {
    local t0 t1
    t0=$(now_ns)
    sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/bin/probed' $CALLS"
    t1=$(now_ns)
    echo $((t1 - t0))
}

# One run of the workload while the tool started by "$@" (its output in $work/out.<tag>) runs; prints
# the workload's nanoseconds. $1 is the tag, "native" for no tool.
measure() {
    local tag=$1 pid=""
    shift
    if [ "$tag" != native ]; then
        "$@" >"$work/out.$tag" 2>&1 &
        pid=$!
        # Ready when attached: bpftrace says so; cperf and perf have opened their events within 2 s.
        case $tag in
        bpftrace*) for _ in $(seq 100); do grep -q Attaching "$work/out.$tag" && break; sleep 0.1; done; sleep 0.5 ;;
        *) sleep 2 ;;
        esac
    fi
    workload_ns
    if [ -n "$pid" ]; then
        # End the timer command (perf counts on the terminal to signal it); bpftrace gets SIGINT.
        pkill -TERM -P "$pid" -x sleep 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

per_call() { awk -v t="$1" -v n="$2" -v c="$CALLS" 'BEGIN { printf "%.1f", (t - n) / c }'; }

echo "# cperf uprobe benchmark: $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ)"
echo "# RUNS=$RUNS CALLS=$CALLS; medians; conditions take turns in every run"
echo

echo "## 1. counting $func calls in a cgroup"
declare -A t
tags="native cperf perf"
[ -n "$bpftrace" ] && tags="$tags bpftrace"
for _ in $(seq "$RUNS"); do
    t[native]+="$(measure native) "
    t[cperf]+="$(measure cperf "$cperf" stat -G "$cgname" -e "uprobe:$lib:$func" -- sleep 600) "
    t[perf]+="$(measure perf perf stat -a -e "probe_libprobed:$func" -G "$cgname" -- sleep 600) "
    [ -n "$bpftrace" ] && t[bpftrace]+="$(measure bpftrace "$bpftrace" -e \
        "uprobe:$lib:$func /cgroup == cgroupid(\"$cg\")/ { @ = count(); }") "
done
declare -A med
for k in $tags; do med[$k]=$(tr ' ' '\n' <<<"${t[$k]}" | grep . | median 0); done
count_cperf=$(awk '/uprobe:/ { gsub(",", "", $1); print $1 }' "$work/out.cperf")
count_perf=$(awk '/probe_libprobed:/ { gsub(",", "", $1); print $1 }' "$work/out.perf")
printf '%-44s %12s %14s %10s\n' "condition" "wall ms" "added ns/call" "count"
printf '%-44s %12.1f %14s %10s\n' "native" "$(awk -v v="${med[native]}" 'BEGIN { print v / 1e6 }')" "-" "-"
printf '%-44s %12.1f %14s %10s\n' "cperf stat -G -e uprobe:LIB:$func" "$(awk -v v="${med[cperf]}" 'BEGIN { print v / 1e6 }')" \
    "$(per_call "${med[cperf]}" "${med[native]}")" "$count_cperf"
printf '%-44s %12.1f %14s %10s\n' "perf probe + perf stat -a -G" "$(awk -v v="${med[perf]}" 'BEGIN { print v / 1e6 }')" \
    "$(per_call "${med[perf]}" "${med[native]}")" "$count_perf"
if [ -n "$bpftrace" ]; then
    count_bt=$(awk '/^@:/ { print $2 }' "$work/out.bpftrace")
    printf '%-44s %12.1f %14s %10s\n' "bpftrace uprobe /cgroup == cgroupid()/" "$(awk -v v="${med[bpftrace]}" 'BEGIN { print v / 1e6 }')" \
        "$(per_call "${med[bpftrace]}" "${med[native]}")" "$count_bt"
fi
ratio() { awk -v c="${med[cperf$3]}" -v o="${med[$1$3]}" -v n="${med[native]}" 'BEGIN { printf "ratio cperf/%s (added cost per call): %.3f\n", "'"$2"'", (c - n) / (o - n) }'; }
ratio perf perf ""
[ -n "$bpftrace" ] && ratio bpftrace bpftrace ""
echo

echo "## 2. recording every return value of $func, then its distribution"
rec_cperf="$work/rec.cperf"
rec_perf="$work/rec.perf"
for _ in $(seq "$RUNS"); do
    t[native_r]+="$(measure native) "
    rm -f "$rec_cperf" "$rec_perf"
    t[cperf_r]+="$(measure cperf_r "$cperf" record -G "$cgname" -e "uretprobe:$lib:$func" --retval -o "$rec_cperf" -- sleep 600) "
    t[perf_r]+="$(measure perf_r perf record -a -e "probe_libprobed:${func}__return" -G "$cgname" -o "$rec_perf" -- sleep 600) "
    [ -n "$bpftrace" ] && t[bpftrace_r]+="$(measure bpftrace_r "$bpftrace" -e \
        "uretprobe:$lib:$func /cgroup == cgroupid(\"$cg\")/ { @[retval] = count(); }") "
    # The time from the recording to the distribution.
    t0=$(now_ns)
    "$cperf" report -i "$rec_cperf" --retval >"$work/dist.cperf"
    t1=$(now_ns)
    perf script -i "$rec_perf" -F trace 2>/dev/null | awk '{ print $NF }' | sort | uniq -c | sort -rn >"$work/dist.perf"
    t2=$(now_ns)
    t[cperf_q]+="$((t1 - t0)) "
    t[perf_q]+="$((t2 - t1)) "
done
for k in native_r cperf_r perf_r cperf_q perf_q; do med[$k]=$(tr ' ' '\n' <<<"${t[$k]}" | grep . | median 0); done
[ -n "$bpftrace" ] && med[bpftrace_r]=$(tr ' ' '\n' <<<"${t[bpftrace_r]}" | grep . | median 0)
med[native]=${med[native_r]}
printf '%-44s %12s %14s\n' "condition" "wall ms" "added ns/call"
printf '%-44s %12.1f %14s\n' "native" "$(awk -v v="${med[native_r]}" 'BEGIN { print v / 1e6 }')" "-"
printf '%-44s %12.1f %14s\n' "cperf record --retval (uretprobe)" "$(awk -v v="${med[cperf_r]}" 'BEGIN { print v / 1e6 }')" \
    "$(per_call "${med[cperf_r]}" "${med[native_r]}")"
printf '%-44s %12.1f %14s\n' "perf record (perf probe %return \$retval)" "$(awk -v v="${med[perf_r]}" 'BEGIN { print v / 1e6 }')" \
    "$(per_call "${med[perf_r]}" "${med[native_r]}")"
[ -n "$bpftrace" ] && printf '%-44s %12.1f %14s\n' "bpftrace uretprobe @[retval] = count()" \
    "$(awk -v v="${med[bpftrace_r]}" 'BEGIN { print v / 1e6 }')" "$(per_call "${med[bpftrace_r]}" "${med[native_r]}")"
ratio perf perf _r
[ -n "$bpftrace" ] && ratio bpftrace bpftrace _r
awk -v c="${med[cperf_q]}" -v p="${med[perf_q]}" 'BEGIN {
    printf "recording to distribution: cperf report --retval %.3f s, perf script | sort | uniq -c %.3f s; ratio %.3f (perf takes %.1fx as long)\n", c / 1e9, p / 1e9, c / p, p / c }'
echo
echo "### the distributions (expected: 0 x$((CALLS / 10 * 8)), -4 x$((CALLS / 10)), 7 x$((CALLS / 10)))"
echo "cperf report --retval:"
sed -n '/value  *calls/,$p' "$work/dist.cperf" | sed 's/^/  /'
echo "perf script (arg1 = \$retval), sort | uniq -c:"
sed 's/^/  /' "$work/dist.perf"
if [ -n "$bpftrace" ]; then
    echo "bpftrace @[retval]:"
    grep '^@' "$work/out.bpftrace_r" | sed 's/^/  /'
fi
