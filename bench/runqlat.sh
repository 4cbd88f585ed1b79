#!/usr/bin/env bash
# Benchmark of `cperf runqlat -G` against libbpf-tools' `runqlat -c`, measured in this run on this
# machine:
#
#   1. Overhead: the wall time of a scheduler-heavy workload in a cgroup (the `pingpong` fixture: two
#      threads passing a byte over pipes ROUNDS times, each blocked and woken every time), natively
#      and while each tool measures the cgroup; the three conditions take turns in every run. Medians
#      and slowdowns.
#      The wall times are noisy (a ping-pong's speed depends on where the scheduler puts its two
#      threads), so a fourth condition runs both tools at once on the same workload and reads, with
#      kernel.bpf_stats_enabled, the time the kernel spent in each tool's BPF programs (from their
#      fdinfo): CPU time per round trip, measured on the very same events.
#   2. Shape: both tools measure the same busy cgroup (2 spinning threads per CPU) at once for SECS
#      seconds; their histograms are printed side by side.
#
# Usage (root): bench/runqlat.sh          RUNS=7 ROUNDS=200000 SECS=3 by default (about 1 min)
# Needs: cc, libbpf-tools (runqlat).
set -euo pipefail

RUNS=${RUNS:-7}
ROUNDS=${ROUNDS:-200000}
SECS=${SECS:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench/runqlat.sh: run as root (BPF needs it)" >&2; exit 1; }
peer=$(command -v runqlat || true)
[ -x /usr/sbin/runqlat ] && peer=/usr/sbin/runqlat
[ -n "$peer" ] || { echo "bench/runqlat.sh: libbpf-tools' runqlat is missing: apt-get install libbpf-tools" >&2; exit 1; }

cargo build --release --quiet
cperf="$here/target/release/cperf"
work=$(mktemp -d)
cc -static -O2 -g -fno-omit-frame-pointer -pthread -o "$work/pingpong" fixtures/src/pingpong.c
cc -static -O2 -g -fno-omit-frame-pointer -pthread -o "$work/spin" fixtures/src/spin.c
make_bench_cgroup runqlat
cleanup() {
    remove_bench_cgroup
    rm -rf "$work"
}
trap cleanup EXIT

# The BPF run time (ns) and runs of process $1's programs, summed over its program descriptors.
bpf_cost() {
    for f in /proc/"$1"/fdinfo/*; do
        grep -q '^prog_type' "$f" 2>/dev/null && awk '/^run_time_ns/ { t = $2 } /^run_cnt/ { n = $2 } END { print t, n }' "$f"
    done | awk '{ t += $1; n += $2 } END { print t + 0, n + 0 }'
}

# Both tools at once on ROUNDS round trips: each one's BPF nanoseconds per round trip.
both_once() {
    "$cperf" runqlat -G "$cg" >/dev/null 2>&1 &
    local c=$!
    "$peer" -c "$cg" >/dev/null 2>&1 &
    local p=$!
    sleep 1
    sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/pingpong' $ROUNDS" >/dev/null
    read -r cns _ < <(bpf_cost "$c")
    read -r pns _ < <(bpf_cost "$p")
    kill -INT "$c" "$p"
    wait "$c" "$p" || true
    echo "$(awk -v n="$cns" -v r="$ROUNDS" 'BEGIN { printf "%.1f", n / r }') $(awk -v n="$pns" -v r="$ROUNDS" 'BEGIN { printf "%.1f", n / r }')"
}

# Seconds of ROUNDS round trips in the cgroup while the tool started by "$@" measures it (natively
# with no args); the tool starts a second before and is stopped after.
timed_once() {
    local pid=""
    if [ $# -gt 0 ]; then
        "$@" >/dev/null 2>&1 &
        pid=$!
    fi
    sleep 1
    local secs
    secs=$(sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/pingpong' $ROUNDS")
    if [ -n "$pid" ]; then
        bpf_cost "$pid" >"$work/last.bpf"
        kill -INT "$pid"
        wait "$pid" || true
    fi
    echo "$secs"
}

stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled="$stats"; cleanup' EXIT
echo "# overhead: $ROUNDS pipe round trips (2 threads) in a cgroup, $RUNS runs, $(nproc) CPUs, kernel $(uname -r)"
declare -A times bpf_ns bpf_runs
for run in $(seq "$RUNS"); do
    order=(native cperf peer)
    shift_by=$(( (run - 1) % 3 ))
    for cond in "${order[@]:$shift_by}" "${order[@]:0:$shift_by}"; do
        case $cond in
            native) t=$(timed_once) ;;
            cperf) t=$(timed_once "$cperf" runqlat -G "$cg") ;;
            peer) t=$(timed_once "$peer" -c "$cg") ;;
        esac
        times[$cond]="${times[$cond]:-} $t"
        if [ "$cond" != native ]; then
            read -r ns runs <"$work/last.bpf"
            bpf_ns[$cond]="${bpf_ns[$cond]:-} $ns"
            bpf_runs[$cond]="${bpf_runs[$cond]:-} $runs"
        fi
    done
done
med() { echo ${times[$1]} | tr ' ' '\n' | median 4; }
native=$(med native)
printf "%-34s %10s %10s %14s %12s\n" "condition (median of $RUNS)" "time (s)" "slowdown" "BPF runs" "ns per run"
for cond in native cperf peer; do
    label=$cond
    [ "$cond" = cperf ] && label="cperf runqlat -G"
    [ "$cond" = peer ] && label="libbpf-tools runqlat -c"
    t=$(med "$cond")
    runs="" per=""
    if [ "$cond" != native ]; then
        runs=$(echo ${bpf_runs[$cond]} | tr ' ' '\n' | median 0)
        per=$(paste <(echo ${bpf_ns[$cond]} | tr ' ' '\n') <(echo ${bpf_runs[$cond]} | tr ' ' '\n') |
            awk '$2 > 0 { printf "%.1f\n", $1 / $2 }' | median 1)
    fi
    printf "%-34s %10s %9s%% %14s %12s\n" "$label" "$t" "$(awk -v t="$t" -v n="$native" 'BEGIN { printf "%+.1f", 100 * (t / n - 1) }')" "$runs" "$per"
done

echo
echo "# both tools at once, $RUNS runs: CPU time in each one's BPF programs per round trip (4 scheduler events)"
for _ in $(seq "$RUNS"); do both_once; done >"$work/both"
c_med=$(awk '{ print $1 }' "$work/both" | median 1)
p_med=$(awk '{ print $2 }' "$work/both" | median 1)
printf "%-34s %10s ns\n" "cperf runqlat -G" "$c_med" "libbpf-tools runqlat -c" "$p_med"
echo "ratio cperf / libbpf-tools: $(awk -v c="$c_med" -v p="$p_med" 'BEGIN { printf "%.2f", c / p }') (at most 1: no more overhead than libbpf-tools)"

echo
echo "# shape: 2 spinning threads per CPU in the cgroup, both tools at once for $SECS s"
threads=$(( 2 * $(nproc) ))
sh -c "echo \$\$ > '$cg/cgroup.procs'; exec '$work/spin' $((SECS + 5)) $threads" >/dev/null &
sleep 0.5
"$cperf" runqlat -G "$cg" "$SECS" 1 >"$work/cperf.hist" 2>/dev/null &
"$peer" -c "$cg" "$SECS" 1 >"$work/peer.hist" 2>/dev/null
wait
echo "--- cperf runqlat -G"
grep -E '^ +([0-9]|usecs)|count' "$work/cperf.hist"
echo "--- libbpf-tools runqlat -c"
grep -E '^ +([0-9]|usecs)' "$work/peer.hist"
echo "total, libbpf-tools: $(awk -F'[:|]' '/->/ { s += $2 } END { print s }' "$work/peer.hist")"
