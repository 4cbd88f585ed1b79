#!/usr/bin/env bash
# Benchmark of `cperf stat -e 'syscalls:*'` against perf (and libbpf-tools syscount / bpftrace when
# installed), all measured in this run on this machine. Prints medians and ratios.
#
#   1. Wall time of the whole command:  <tool> stat -G <cgroup> -e 'syscalls:*' -- sleep 2
#   2. Per-syscall cost on the traced cgroup: ns per getppid() of a static loop inside the cgroup,
#      native and while each tool counts that cgroup's syscalls.
#
# Usage (root): bench/stat.sh            RUNS=5 by default; RUNS=3 CALLS=2000000 bench/stat.sh for a quick look
# Needs: perf (linux-perf), cc; optional: syscount (libbpf-tools), bpftrace.
set -euo pipefail

RUNS=${RUNS:-5}
CALLS=${CALLS:-5000000}
WALL_RUNS=${WALL_RUNS:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench/stat.sh: run as root (perf events on a cgroup need it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/stat.sh: perf is missing: apt-get install linux-perf" >&2; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing

cargo build --release --quiet
cperf="$here/target/release/cperf"
work=$(mktemp -d)
cc -static -O2 -o "$work/getppid" fixtures/src/getppid.c

make_bench_cgroup stat
cleanup() {
    remove_bench_cgroup
    rm -rf "$work"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

# ns per getppid() for $CALLS calls of the fixture run inside the cgroup.
loop_ns() {
    local t0 t1
    t0=$(now_ns)
    sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/getppid' $CALLS"
    t1=$(now_ns)
    awk -v a="$t0" -v b="$t1" -v n="$CALLS" 'BEGIN { printf "%.1f\n", (b - a) / n }'
}

# Median ns/call over $RUNS runs while the tool started by "$@" is counting (or natively with no args).
overhead() {
    local pid=""
    if [ $# -gt 0 ]; then
        "$@" >/dev/null 2>&1 &
        pid=$!
        sleep 2 # let it open and attach everything
    fi
    local v
    v=$(for _ in $(seq "$RUNS"); do loop_ns; done | median)
    if [ -n "$pid" ]; then
        # End the timer command (perf ignores a SIGINT sent to it alone while a command runs: it counts
        # on the terminal to signal the command); tools without one get SIGINT.
        pkill -TERM -P "$pid" -x sleep 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    echo "$v"
}

wall() { # median seconds of "$@" over $WALL_RUNS runs
    for _ in $(seq "$WALL_RUNS"); do
        local t0 t1
        t0=$(now_ns)
        "$@" >/dev/null 2>&1
        t1=$(now_ns)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
    done | median
}

echo "# cperf stat benchmark: $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ)"
echo "# RUNS=$RUNS CALLS=$CALLS WALL_RUNS=$WALL_RUNS; medians; ratio = cperf / other (lower is better for cperf)"
echo

echo "## 1. wall time of: stat -G <cgroup> -e 'syscalls:*' -- sleep 2"
w_cperf=$(wall "$cperf" stat -G "$cgname" -e 'syscalls:*' -- sleep 2)
w_perf=$(wall perf stat -a -e 'syscalls:*' -G "$cgname" -- sleep 2)
printf '%-34s %9s s\n' "cperf (BPF aggregation)" "$w_cperf" "perf stat" "$w_perf"
awk -v c="$w_cperf" -v p="$w_perf" 'BEGIN { printf "ratio cperf/perf: %.3f (perf takes %.1fx as long)\n\n", c / p, p / c }'

echo "## 2. ns per getppid() inside the cgroup while counting its syscalls"
n_native=$(overhead)
n_cperf=$(overhead "$cperf" stat -G "$cgname" -e 'syscalls:*' -- sleep 600)
n_perf=$(overhead perf stat -a -e 'syscalls:*' -G "$cgname" -- sleep 600)
printf '%-34s %9s ns\n' "native" "$n_native" "cperf stat -e 'syscalls:*'" "$n_cperf" "perf stat -e 'syscalls:*'" "$n_perf"
peers=""
if command -v syscount >/dev/null; then
    n_sc=$(overhead syscount -c "$cg")
    printf '%-34s %9s ns\n' "libbpf-tools syscount -c" "$n_sc"
    peers="$peers syscount:$n_sc"
fi
if command -v bpftrace >/dev/null; then
    n_bt=$(overhead bpftrace -e "tracepoint:raw_syscalls:sys_enter /cgroup == cgroupid(\"$cg\")/ { @[args->id] = count(); }")
    printf '%-34s %9s ns\n' "bpftrace raw_syscalls count" "$n_bt"
    peers="$peers bpftrace:$n_bt"
fi
awk -v n="$n_native" -v c="$n_cperf" -v p="$n_perf" 'BEGIN {
    printf "added cost per syscall: cperf %.1f ns, perf %.1f ns; ratio cperf/perf: %.3f\n", c - n, p - n, (c - n) / (p - n) }'
for kv in $peers; do
    awk -v n="$n_native" -v c="$n_cperf" -v kv="$kv" 'BEGIN { split(kv, a, ":");
        printf "ratio cperf/%s (added cost): %.3f\n", a[1], (c - n) / (a[2] - n) }'
done
