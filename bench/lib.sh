# Shared by the benchmark scripts (sourced, not run).

# The cgroup2 mount point: field 5 of the /proc/self/mountinfo line whose filesystem type (the field
# after the " - " separator, which follows a variable number of optional fields) is cgroup2.
cgroup2_root() {
    awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo
}

# The median of the numbers on stdin, one per line (the mean of the middle two, with $1 decimals,
# default 3, for an even count).
median() {
    sort -n | awk -v d="${1:-3}" '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.*f\n", d, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Makes the cgroup cperf-bench-WHAT-<pid> ($1 is WHAT) under the cgroup2 mount and sets cgname (its
# path below the mount) and cg (its directory); exits with a message when cgroup2 is not mounted.
make_bench_cgroup() {
    local root
    root=$(cgroup2_root)
    [ -n "$root" ] || { echo "$0: no cgroup2 mount found" >&2; exit 1; }
    cgname="cperf-bench-$1-$$"
    cg="$root/$cgname"
    mkdir "$cg"
}

# Kills whatever is left in the cgroup made by make_bench_cgroup, and removes it.
remove_bench_cgroup() {
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.1
    rmdir "$cg" 2>/dev/null || true
}
