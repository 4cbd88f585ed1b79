#!/usr/bin/env bash
# Benchmark of `cperf runqlat -G` against libbpf-tools' `runqlat -c`, measured in this run on this
# machine:
#
#   1. Overhead: the wall time of a scheduler-heavy workload in a cgroup (the `pingpong` fixture: two
#      threads passing a byte over pipes ROUNDS times, each blocked and woken every time), natively
#      and while each tool measures the cgroup; the three conditions take turns in every run. Medians
#      and slowdowns.
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
cgroot=$(cgroup2_root)
[ -n "$cgroot" ] || { echo "bench/runqlat.sh: no cgroup2 mount found" >&2; exit 1; }
cgname="cperf-bench-runqlat-$$"
cg="$cgroot/$cgname"
mkdir "$cg"
cleanup() {
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.1
    rmdir "$cg" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

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
        kill -INT "$pid"
        wait "$pid" || true
    fi
    echo "$secs"
}

echo "# overhead: $ROUNDS pipe round trips (2 threads) in a cgroup, $RUNS runs, $(nproc) CPUs, kernel $(uname -r)"
declare -A times
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
    done
done
med() { echo ${times[$1]} | tr ' ' '\n' | median 4; }
native=$(med native)
printf "%-34s %10s %10s\n" "condition (median of $RUNS)" "time (s)" "slowdown"
for cond in native cperf peer; do
    label=$cond
    [ "$cond" = cperf ] && label="cperf runqlat -G"
    [ "$cond" = peer ] && label="libbpf-tools runqlat -c"
    t=$(med "$cond")
    printf "%-34s %10s %9s%%\n" "$label" "$t" "$(awk -v t="$t" -v n="$native" 'BEGIN { printf "%+.1f", 100 * (t / n - 1) }')"
done

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
