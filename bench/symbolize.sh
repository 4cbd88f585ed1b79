#!/usr/bin/env bash
# Benchmark of `cperf symbolize` against binutils `addr2line -f -i -C` and LLVM's `llvm-symbolizer`, all
# measured in this run on this machine: wall time and peak memory to symbolize N addresses (default 1M)
# inside the functions of a large binary with full DWARF (cperf's own debug build). The tools take
# turns in every round (the machine drifts over the minutes a run takes); medians and ratios are
# printed. cperf is measured as run (on every CPU it may use) and held to one CPU with taskset, to
# show what the threads contribute.
#
# Usage: bench/symbolize.sh          RUNS=3 N=1000000 by default
# Needs: binutils (addr2line, nm), python3, util-linux (taskset); optional: llvm (llvm-symbolizer).
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-1000000}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh
command -v addr2line >/dev/null || { echo "bench/symbolize.sh: addr2line is missing: apt-get install binutils" >&2; exit 1; }

cargo build --quiet             # the debug build: the large binary with full DWARF, to be symbolized
cargo build --release --quiet   # the symbolizer under test
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy, so that a rebuild during the run cannot change the file under the tools.
binary="$work/cperf-debug"
cp "$here/target/debug/cperf" "$binary"
cperf="$here/target/release/cperf"

# N addresses spread over the binary's functions (start and interior), in random order.
nm -S "$binary" | python3 -c "
import random, sys
random.seed(1)
funcs = []
for line in sys.stdin:
    f = line.split()
    if len(f) >= 4 and f[2] in 'tTwW':
        funcs.append((int(f[0], 16), max(int(f[1], 16), 1)))
out = sys.stdout
for _ in range($N):
    a, s = random.choice(funcs)
    out.write('%#x\n' % (a + random.randrange(s)))
" >"$work/addrs"
echo "# symbolizing $N addresses of cperf's debug build ($(du -h "$binary" | cut -f1)), $RUNS rounds, $(nproc) CPUs"

tools=(cperf cperf-1cpu addr2line)
command -v llvm-symbolizer >/dev/null && tools+=(llvm-symbolizer)
# The command line of a tool.
command_of() {
    case "$1" in
        cperf) cmd=("$cperf" symbolize -e "$binary") ;;
        cperf-1cpu) cmd=(taskset -c 0 "$cperf" symbolize -e "$binary") ;;
        addr2line) cmd=(addr2line -f -i -C -e "$binary") ;;
        llvm-symbolizer) cmd=(llvm-symbolizer --obj="$binary" --functions=linkage --inlines --demangle) ;;
    esac
}

# One line per measurement: tool, wall seconds, peak RSS in KiB.
for _ in $(seq "$RUNS"); do
    for tool in "${tools[@]}"; do
        command_of "$tool"
        /usr/bin/time -f "$tool %e %M" -o "$work/time" "${cmd[@]}" <"$work/addrs" >/dev/null
        cat "$work/time" >>"$work/times"
    done
done

median_of() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$work/times" | median; }
printf "%-30s %10s %12s\n" tool "time (s)" "peak (MiB)"
for tool in "${tools[@]}"; do
    label=$tool
    case "$tool" in
        cperf) label="cperf symbolize" ;;
        cperf-1cpu) label="cperf symbolize, 1 CPU" ;;
        addr2line) label="addr2line -f -i -C" ;;
        llvm-symbolizer) label="llvm-symbolizer --inlines" ;;
    esac
    printf "%-30s %10s %12s\n" "$label" "$(median_of "$tool" 2)" "$(median_of "$tool" 3 | awk '{ printf "%.0f", $1 / 1024 }')"
done
ratio() { awk -v a="$(median_of "$1" 2)" -v b="$(median_of "$2" 2)" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }
echo "speed-up over addr2line: $(ratio addr2line cperf)x (goal: at least 10x); on 1 CPU: $(ratio addr2line cperf-1cpu)x"
command -v llvm-symbolizer >/dev/null &&
    echo "speed-up over llvm-symbolizer: $(ratio llvm-symbolizer cperf)x (goal: above 1x); on 1 CPU: $(ratio llvm-symbolizer cperf-1cpu)x"
echo "addresses per second, cperf: $(awk -v n="$N" -v t="$(median_of cperf 2)" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')"
