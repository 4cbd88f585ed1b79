#!/usr/bin/env bash
# Benchmark of `cperf symbolize` against binutils `addr2line -f -i -C` and LLVM's `llvm-symbolizer`, all
# measured in this run on this machine: wall time and peak memory to symbolize N addresses (default 1M)
# inside the functions of a large binary with full DWARF (cperf's own debug build). Prints medians and
# ratios.
#
# Usage: bench/symbolize.sh          RUNS=3 N=1000000 by default
# Needs: binutils (addr2line, nm), python3; optional: llvm (llvm-symbolizer).
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-1000000}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh
command -v addr2line >/dev/null || { echo "bench/symbolize.sh: addr2line is missing: apt-get install binutils" >&2; exit 1; }

cargo build --quiet             # the debug build: the large binary with full DWARF, to be symbolized
cargo build --release --quiet   # the symbolizer under test
binary="$here/target/debug/cperf"
cperf="$here/target/release/cperf"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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
echo "# symbolizing $N addresses of $(basename "$binary") ($(du -h "$binary" | cut -f1), debug build), $RUNS runs, $(nproc) CPUs"

# Median wall seconds and peak RSS (MiB) of "$@" < addrs > /dev/null.
measure() {
    local times="" mems=""
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %M" -o "$work/time" "$@" <"$work/addrs" >/dev/null
        read -r t m <"$work/time"
        times="$times $t"
        mems="$mems $m"
    done
    echo "$(echo $times | tr ' ' '\n' | median) $(echo $mems | tr ' ' '\n' | median | awk '{ printf "%.0f", $1 / 1024 }')"
}

read -r t_cperf m_cperf < <(measure "$cperf" symbolize -e "$binary")
read -r t_a2l m_a2l < <(measure addr2line -f -i -C -e "$binary")
if command -v llvm-symbolizer >/dev/null; then
    read -r t_llvm m_llvm < <(measure llvm-symbolizer --obj="$binary" --functions=linkage --inlines --demangle)
else
    t_llvm=""; m_llvm=""
fi

printf "%-28s %10s %12s\n" tool "time (s)" "peak (MiB)"
printf "%-28s %10s %12s\n" "cperf symbolize" "$t_cperf" "$m_cperf"
printf "%-28s %10s %12s\n" "addr2line -f -i -C" "$t_a2l" "$m_a2l"
[ -n "$t_llvm" ] && printf "%-28s %10s %12s\n" "llvm-symbolizer --inlines" "$t_llvm" "$m_llvm"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }
echo "speed-up over addr2line: $(ratio "$t_a2l" "$t_cperf")x (goal: at least 10x)"
[ -n "$t_llvm" ] && echo "speed-up over llvm-symbolizer: $(ratio "$t_llvm" "$t_cperf")x (goal: above 1x)"
echo "addresses per second, cperf: $(awk -v n="$N" -v t="$t_cperf" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')"
