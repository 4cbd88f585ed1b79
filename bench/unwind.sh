#!/usr/bin/env bash
# Benchmark of user stacks unwound from call-frame information while recording (`cperf record -g`,
# i.e. `--call-graph dwarf,32768`; also `dwarf,8192` and the kernel's frame-pointer walk `--call-graph fp`)
# against `perf record --call-graph dwarf` (perf unwinds later, in `perf script`; its default 8192-byte
# stack copy, and 32768), all on the same container in the same run, on Debian 12's own stripped binaries
# built without frame pointers, in Docker containers made from a debootstrap root:
#
#   python  python3.11 running a CPU-bound script of a few Python functions (one process, one CPU)
#   xz      xz -T1 compressing a never-ending stream (a tar of the container's /usr, repeated; one CPU)
#
# Each workload runs alone in its container while every tool records it in turn, cgroup-scoped (cperf
# `-G <container id>`, perf `-a -G <its cgroup below the cgroup2 mount>`), at 99 and 999 Hz, for SECS
# seconds, RUNS times in a rotated order. Per recording:
#
#   - recorder CPU per second of recording: the CPU time of all the recorder's threads (schedstat) read
#     just before it is stopped, over the time since it was started (what it does after SIGINT -- perf's
#     build-id pass, cperf's symbol data -- is apart, as "stop");
#   - bytes per sample: the file's size over its samples (perf.data; cperf's recording);
#   - lost samples (cperf's summary; perf's LOST records and the event's LOST_SAMPLES count);
#   - completeness and mean user depth, judged here the same way for both tools from their own output
#     (`cperf report --folded --user-only`; `perf script --no-inline`): a sample is complete when its
#     outermost user frame is the entry function of an executable the container runs (python3.11, xz,
#     and the cat, sh and tar feeding xz): its ELF entry point's file offset, up to 64 bytes on (cperf
#     names unnamed frames `[module+0xFILEOFFSET]`, perf script prints user addresses as offsets in
#     their file), or a frame named _start -- or a thread's clone/clone3. Samples with no user frame
#     count as incomplete, of depth 0. cperf's own summary figures are printed beside, as a cross-check.
#
# Prints one table per workload (medians over runs; lost summed over runs), ratios cperf/perf, and a
# verdict per goal of issue 14's speed section.
#
# Usage (root): bench/unwind.sh        RUNS=3 SECS=5 by default (about 10 minutes in all here)
# The Debian root: ${CPERF_DEBIAN_ROOT:-target/debian-root/bookworm}, built with debootstrap when missing.
# MMAP_PAGES=N passes -m N to cperf (default: cperf's own, 1024 pages per CPU with dwarf).
# Needs: perf (linux-perf), docker (a running dockerd), readelf (binutils), debootstrap if no root yet.
set -euo pipefail

RUNS=${RUNS:-3}
SECS=${SECS:-5}
MMAP_PAGES=${MMAP_PAGES:-}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench/unwind.sh: run as root (sampling a container needs it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/unwind.sh: perf is missing: apt-get install linux-perf" >&2; exit 1; }
command -v readelf >/dev/null || { echo "bench/unwind.sh: readelf is missing: apt-get install binutils" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "bench/unwind.sh: no Docker engine answers: start dockerd" >&2; exit 1; }
[ -n "$(cgroup2_root)" ] || { echo "bench/unwind.sh: no cgroup2 mount found" >&2; exit 1; }

root=${CPERF_DEBIAN_ROOT:-target/debian-root/bookworm}
ensure_debian_root "$root"
cargo build --release --quiet
cperf="$here/target/release/cperf"
image=$(debian_image "$root")
work=$(mktemp -d)
containers=()
cleanup() {
    for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The Python workload: a few functions calling each other, forever.
py_script='
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def digits(n):
    return sum(int(c) for c in str(n))

def work():
    total = 0
    for i in range(20):
        total += digits(fib(18 + i % 4))
    return total

while True:
    work()
'
# The xz workload: one xz process compressing a tar of /usr (128 MB here) over and over, from a pipe.
xz_script='tar -cf /tmp/data /usr 2>/dev/null; while :; do cat /tmp/data; done | xz -T1 -c >/dev/null'

# Starts workload $1 (python or xz) in a new container and waits until its process runs; sets cid (the
# container's id), cgpath (its cgroup below the cgroup2 mount, without the leading /, as perf -G takes
# it) and exe (the executable's file name).
start_workload() {
    local name="cperf-bench-unwind-$1-$$" comm pid p i
    case $1 in
        python) cid=$(docker run -d --rm --name "$name" "$image" python3 -c "$py_script"); exe=python3.11; comm=python3 ;;
        xz) cid=$(docker run -d --rm --name "$name" "$image" sh -c "$xz_script"); exe=xz; comm=xz ;;
    esac
    containers+=("$name")
    pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
    cgpath=$(sed -n 's|^0::/||p' "/proc/$pid/cgroup")
    [ -n "$cgpath" ] || { echo "bench/unwind.sh: no cgroup2 path for container $name" >&2; exit 1; }
    for i in $(seq 300); do
        for p in $(cat "$(cgroup2_root)/$cgpath/cgroup.procs"); do
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$comm" ] && break 2
        done
        [ "$i" = 300 ] && { echo "bench/unwind.sh: $comm did not start in container $name" >&2; exit 1; }
        sleep 0.2
    done
}

# The executables the workloads run, and the file offsets of their entry points (name=offset ...).
entries=
for e in python3.11 xz cat dash tar; do entries+=" $e=$(entry_file_offset "$root/usr/bin/$e")"; done
# awk functions: hex(s), a hexadecimal number; at_entry(module, offset), whether offset in the file named
# module is within 64 bytes from the entry point of one of the executables in $entries.
awk_entries='
    function hex(s,   v, i) { s = tolower(s); sub(/^0x/, "", s); v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
    function at_entry(module, off,   n, i, kv, e) {
        if (!parsed) { n = split(entries, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], e, "="); entry[e[1]] = e[2] + 0 }; parsed = 1 }
        return (module in entry) && off >= entry[module] && off < entry[module] + 64
    }
'
# Samples, complete samples, user frames and the sum of the squares of the samples' user depths, from
# `cperf report --folded --user-only` on stdin (lines `thread;outermost;...;innermost count`); $1 (the
# recorded samples) counts the samples missing from it as incomplete, of depth 0.
cperf_stacks() {
    awk -v entries="$entries" -v samples="$1" "$awk_entries"'
        function outermost(f,   m, off) {
            if (f == "_start" || f ~ /^(__)?clone3?(@|$)/) return 1
            if (f !~ /^\[.*\+0x[0-9a-f]+\]$/) return 0
            m = substr(f, 2, length(f) - 2); off = m; sub(/\+0x[0-9a-f]+$/, "", m); sub(/.*\+0x/, "", off)
            return at_entry(m, hex(off))
        }
        {
            c = $NF
            n = split(substr($0, 1, length($0) - length($NF) - 1), f, ";")
            total += c; frames += c * (n - 1); squares += c * (n - 1) * (n - 1)
            if (n >= 2 && outermost(f[2])) complete += c
        }
        END { if (samples > total) total = samples; printf "%d %d %d %d\n", total, complete, frames, squares }'
}

# Samples, complete samples, user frames, the sum of the squares of the samples' user depths and the
# samples perf script saw lost, from `perf script -F comm,tid,ip,sym,dso --no-inline --show-lost-events` on stdin: a sample is a line
# `comm tid`, then its frames `\taddress symbol (dso)`, innermost first, kernel frames before user ones.
perf_stacks() {
    awk -v entries="$entries" "$awk_entries"'
        function outermost(sym, dso, addr) {
            if (sym == "_start" || sym ~ /^(__)?clone3?(@|$)/) return 1
            sub(/.*\//, "", dso)
            return at_entry(dso, hex(addr))
        }
        function flush() {
            if (!in_sample) return
            total++; frames += depth; squares += depth * depth
            if (depth > 0 && outermost(sym, dso, addr)) complete++
        }
        /^\t/ {
            a = $1; d = $NF; gsub(/^\(|\)$/, "", d)
            if (d ~ /kernel\.kallsyms|^\[guest/ || (length(a) == 16 && a ~ /^ffff/)) next
            s = $0; sub(/^\t *[0-9a-f]+ /, "", s); sub(/ \([^()]*\)$/, "", s)
            depth++; sym = s; dso = d; addr = a
            next
        }
        /PERF_RECORD_LOST/ { for (i = 1; i < NF; i++) if ($i == "lost") lost += $(i + 1); next }
        /^$/ { next }
        { flush(); in_sample = 1; depth = 0; sym = ""; dso = ""; addr = "" }
        END { flush(); printf "%d %d %d %d %d\n", total, complete, frames, squares, lost }'
}

# Records the running workload with recorder $1 at $2 Hz and appends the figures to the arrays below,
# keyed "$workload $1 $2" (per run, space-separated; the sample counts of the stack judgement summed).
# Returns 1, keeping nothing, when the recording has no samples.
declare -A cpu stop samples lost bps scomp sdepth judged complete frames squares ring
record_once() {
    local cond=$1 hz=$2 key="$workload $1 $2" out="$work/recording" pid t0 t1 t2 used n l s t c f f2
    local -a cmd
    case $cond in
        cperf-g) cmd=("$cperf" record -G "$cid" -e cpu-clock -F "$hz" -g) ;;
        cperf-dwarf8k) cmd=("$cperf" record -G "$cid" -e cpu-clock -F "$hz" --call-graph dwarf,8192) ;;
        cperf-fp) cmd=("$cperf" record -G "$cid" -e cpu-clock -F "$hz" --call-graph fp) ;;
        perf-dwarf) cmd=(perf record -e cpu-clock -F "$hz" -a -G "$cgpath" --call-graph dwarf) ;;
        perf-dwarf32k) cmd=(perf record -e cpu-clock -F "$hz" -a -G "$cgpath" --call-graph dwarf,32768) ;;
    esac
    case $cond in cperf-*) [ -z "$MMAP_PAGES" ] || cmd+=(-m "$MMAP_PAGES") ;; esac
    rm -f "$out"
    t0=$(date +%s.%N)
    "${cmd[@]}" -o "$out" >/dev/null 2>"$work/err" &
    pid=$!
    sleep "$SECS"
    kill -0 "$pid" 2>/dev/null || { echo "bench/unwind.sh: ${cmd[*]} stopped early:" >&2; cat "$work/err" >&2; exit 1; }
    used=$(cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.6f", s / 1e9 }')
    # The ring per CPU: the largest perf_event mapping of the recorder, less its metadata page, in KiB.
    ring[$key]=$(awk '/perf_event/ { split($1, r, "-"); n = hex(r[2]) - hex(r[1]); if (n > m) m = n } END { print m ? (m - 4096) / 1024 : "?" }
        function hex(s,   v, i) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }' "/proc/$pid/maps")
    t1=$(date +%s.%N)
    kill -INT "$pid"
    wait "$pid" || true
    t2=$(date +%s.%N)
    [ -s "$out" ] || { echo "bench/unwind.sh: ${cmd[*]} wrote nothing:" >&2; cat "$work/err" >&2; exit 1; }
    case $cond in
        cperf-*)
            n=$(sed -n 's/^cperf record: \([0-9,]*\) samples.*/\1/p' "$work/err" | tr -d ,)
            l=$(sed -n 's/^cperf record: .*, \([0-9,]*\) lost,.*/\1/p' "$work/err" | tr -d ,)
            read -r t c f f2 < <("$cperf" report -i "$out" --folded --user-only | cperf_stacks "$n")
            s=$(sed -n 's/.*user stacks (.*): [0-9,]* of [0-9,]* complete (\([0-9.]*\)%), mean depth \([0-9.]*\) frames.*/\1 \2/p' "$work/err")
            [ -n "$s" ] || s="n/a n/a"
            ;;
        perf-*)
            read -r t c f f2 l < <(perf script -i "$out" -F comm,tid,ip,sym,dso --no-inline --show-lost-events 2>/dev/null | perf_stacks)
            n=$t
            # The event's own count of lost samples (ring full or sample too large), when perf has it.
            s=$(perf report -i "$out" --stats 2>/dev/null | awk '/^cpu-clock/ { e = 1 } e && $1 == "LOST_SAMPLES" { print $3; exit }')
            [ "${s:-0}" -le "$l" ] || l=$s
            s=
            ;;
    esac
    if [ "${n:-0}" = 0 ]; then
        echo "bench/unwind.sh: warning: no samples in ${cmd[*]} (its start-up slower than ${SECS} s?); its messages:" >&2
        cat "$work/err" >&2
        return 1
    fi
    cpu[$key]+=" $(awk -v c="$used" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", c * 1000 / (b - a) }')"
    stop[$key]+=" $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')"
    samples[$key]+=" $n"
    [ -z "$s" ] || { scomp[$key]+=" ${s% *}"; sdepth[$key]+=" ${s#* }"; }
    lost[$key]=$(( ${lost[$key]:-0} + ${l:-0} ))
    bps[$key]+=" $(awk -v b="$(stat -c %s "$out")" -v n="$n" 'BEGIN { printf "%.1f", n ? b / n : 0 }')"
    judged[$key]=$(( ${judged[$key]:-0} + t )); complete[$key]=$(( ${complete[$key]:-0} + c ))
    frames[$key]=$(( ${frames[$key]:-0} + f )); squares[$key]=$(( ${squares[$key]:-0} + f2 ))
    echo "$workload run $run $cond $hz Hz: $n samples, ${cpu[$key]##* } ms CPU/s, ${bps[$key]##* } bytes/sample," \
        "$(awk -v t="$t" -v c="$c" -v f="$f" 'BEGIN { printf "%.1f%% complete, mean user depth %.2f", t ? c * 100 / t : 0, t ? f / t : 0 }')" >&2
}

# The median of the numbers in $1 (space-separated), or n/a when one of them is not a number.
med() {
    case " $1 " in *" n/a "*) echo n/a; return ;; esac
    echo "$1" | tr ' ' '\n' | { grep . || true; } | median 2
}
# The entry $2 of the associative array named $1.
field() {
    local -n array=$1
    echo "${array[$2]:-n/a}"
}
# Over all samples of all runs of key $1: the share of complete samples (%), its standard error, the
# mean user depth and its standard error.
pooled() {
    awk -v t="${judged[$1]}" -v c="${complete[$1]}" -v f="${frames[$1]}" -v f2="${squares[$1]}" 'BEGIN {
        if (!t) { print "0 0 0 0"; exit }
        p = c / t; d = f / t; v = f2 / t - d * d
        printf "%.1f %.2f %.2f %.3f\n", p * 100, sqrt(p * (1 - p) / t) * 100, d, sqrt(v > 0 ? v / t : 0)
    }'
}
# "met" when $1 >= $3; "met within sampling noise" when $1 falls short of $3 by less than twice the
# standard error of the difference ($2 and $4 are the standard errors of $1 and $3); else "NOT met".
ge_noise() {
    awk -v a="$1" -v sa="$2" -v b="$3" -v sb="$4" 'BEGIN {
        e = 2 * sqrt(sa * sa + sb * sb)
        if (a >= b) print "met"
        else if (b - a < e) printf "met within sampling noise (short by %.3g, 2 standard errors %.3g)\n", b - a, e
        else print "NOT met"
    }'
}
# $1 KiB, in KiB or MiB.
kib() { awk -v k="$1" 'BEGIN { if (k == "?") print "?"; else if (k >= 1024) printf "%g MiB\n", k / 1024; else printf "%g KiB\n", k }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
# "met" when $1 <= $2 (numbers), else "NOT met".
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "met" : "NOT met" }'; }

recorders="cperf-g cperf-dwarf8k cperf-fp perf-dwarf perf-dwarf32k"
declare -A label=(
    [cperf-g]='cperf -g (dwarf,32768)' [cperf-dwarf8k]='cperf --call-graph dwarf,8192'
    [cperf-fp]='cperf --call-graph fp' [perf-dwarf]='perf --call-graph dwarf (8192)'
    [perf-dwarf32k]='perf --call-graph dwarf,32768'
)
conds=()
for hz in 99 999; do for r in $recorders; do conds+=("$r:$hz"); done; done
started=$(date +%s)

echo "# cperf record -g (CFI unwinding while recording) vs perf record --call-graph dwarf, $(nproc) CPUs, kernel $(uname -r), $(perf --version)"
echo "# $RUNS runs of ${SECS} s per recorder and rate, rotated order; Debian root $root (image $image)"
echo "# rings: cperf's default${MMAP_PAGES:+ overridden by -m $MMAP_PAGES}, perf's default (no -m); the ring column is the one per CPU as mapped"
for workload in python xz; do
    start_workload "$workload"
    echo "# $workload: container ${cid:0:12}, cgroup /$cgpath;$entries" >&2
    for run in $(seq "$RUNS"); do
        k=$(( (run - 1) % ${#conds[@]} ))
        for c in "${conds[@]:$k}" "${conds[@]:0:$k}"; do
            record_once "${c%:*}" "${c#*:}" || record_once "${c%:*}" "${c#*:}" ||
                { echo "bench/unwind.sh: ${c%:*} at ${c#*:} Hz recorded no samples twice" >&2; exit 1; }
        done
    done
    docker rm -f "cperf-bench-unwind-$workload-$$" >/dev/null

    declare -A m=() best=()
    for hz in 99 999; do
        for r in $recorders; do
            key="$workload $r $hz"
            for f in cpu stop samples bps scomp sdepth; do m[$f $r $hz]=$(med "$(field "$f" "$key")"); done
            read -r "m[comp $r $hz]" "m[comp_se $r $hz]" "m[depth $r $hz]" "m[depth_se $r $hz]" < <(pooled "$key")
        done
    done
    echo
    echo "### $workload ($exe, Debian 12, stripped, no frame pointers): $RUNS runs of ${SECS} s"
    echo
    echo "Medians over runs; lost summed over runs; complete and depth over the samples of all runs."
    echo
    echo "| recorder | Hz | ring/CPU | samples | lost | recorder CPU (ms/s) | bytes/sample | complete | mean user depth | cperf's summary: complete, depth | stop (s) |"
    echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    for hz in 99 999; do
        for r in $recorders; do
            own="${m[scomp $r $hz]}%, ${m[sdepth $r $hz]}"
            case $r in perf-*) own= ;; cperf-fp) own="(none with fp)" ;; esac
            echo "| ${label[$r]} | $hz | $(kib "${ring[$workload $r $hz]}") | ${m[samples $r $hz]} | ${lost[$workload $r $hz]} | ${m[cpu $r $hz]} | ${m[bps $r $hz]} | ${m[comp $r $hz]}% | ${m[depth $r $hz]} | $own | ${m[stop $r $hz]} |"
        done
    done
    echo
    for hz in 99 999; do
        echo "- $hz Hz, cperf -g / perf dwarf (8192): recorder CPU $(ratio "${m[cpu cperf-g $hz]}" "${m[cpu perf-dwarf $hz]}"), bytes/sample $(ratio "${m[bps cperf-g $hz]}" "${m[bps perf-dwarf $hz]}");" \
            "/ perf dwarf,32768: recorder CPU $(ratio "${m[cpu cperf-g $hz]}" "${m[cpu perf-dwarf32k $hz]}"), bytes/sample $(ratio "${m[bps cperf-g $hz]}" "${m[bps perf-dwarf32k $hz]}");" \
            "cperf -g / cperf fp: bytes/sample $(ratio "${m[bps cperf-g $hz]}" "${m[bps cperf-fp $hz]}")"
    done
    echo
    echo "Goals (cperf -g against perf's better figure of its two):"
    for hz in 99 999; do
        best=$(printf '%s\n' "${m[cpu perf-dwarf $hz]}" "${m[cpu perf-dwarf32k $hz]}" | sort -g | head -1)
        echo "- recorder CPU at $hz Hz <= perf's: ${m[cpu cperf-g $hz]} vs ${best} ms/s: $(le "${m[cpu cperf-g $hz]}" "$best")"
        two_fp=$(awk -v a="${m[bps cperf-fp $hz]}" 'BEGIN { print 2 * a }')
        fiftieth=$(printf '%s\n' "${m[bps perf-dwarf $hz]}" "${m[bps perf-dwarf32k $hz]}" | sort -g | head -1 | awk '{ printf "%.1f", $1 / 50 }')
        echo "- bytes/sample at $hz Hz <= 2x fp (${two_fp}) and <= 1/50 of perf's (${fiftieth}): ${m[bps cperf-g $hz]}:" \
            "$(le "${m[bps cperf-g $hz]}" "$two_fp"), $(le "${m[bps cperf-g $hz]}" "$fiftieth")"
        for f in comp depth; do
            b=perf-dwarf
            awk -v a="${m[$f perf-dwarf32k $hz]}" -v b="${m[$f perf-dwarf $hz]}" 'BEGIN { exit !(a > b) }' && b=perf-dwarf32k
            best[$f]="${m[$f $b $hz]} ${m[${f}_se $b $hz]}"
        done
        echo "- completeness at $hz Hz >= perf's: ${m[comp cperf-g $hz]}% vs ${best[comp]% *}%:" \
            "$(ge_noise "${m[comp cperf-g $hz]}" "${m[comp_se cperf-g $hz]}" ${best[comp]})"
        echo "- mean user depth at $hz Hz >= perf's: ${m[depth cperf-g $hz]} vs ${best[depth]% *} frames:" \
            "$(ge_noise "${m[depth cperf-g $hz]}" "${m[depth_se cperf-g $hz]}" ${best[depth]})"
    done
    echo "- no lost samples at 999 Hz: cperf -g lost ${lost[$workload cperf-g 999]} in $RUNS runs: $(le "${lost[$workload cperf-g 999]}" 0) (perf dwarf ${lost[$workload perf-dwarf 999]}, dwarf,32768 ${lost[$workload perf-dwarf32k 999]})"
    unset m best
done
echo
echo "# took $(( $(date +%s) - started )) s"
