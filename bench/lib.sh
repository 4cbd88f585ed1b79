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

# Makes sure $1 is a Debian 12 root (minbase, with python3 and xz-utils): when it lacks usr/bin/python3
# and usr/bin/xz, builds it with debootstrap into a temporary directory beside it, renamed to $1 only once
# complete (a half-built root is never taken for a whole one).
ensure_debian_root() {
    local dir=$1 tmp
    [ -x "$dir/usr/bin/python3" ] && [ -x "$dir/usr/bin/xz" ] && return 0
    command -v debootstrap >/dev/null || { echo "$0: no Debian root at $dir and no debootstrap to build it: apt-get install debootstrap, or set CPERF_DEBIAN_ROOT" >&2; exit 1; }
    [ ! -e "$dir" ] || { echo "$0: $dir exists but has no usr/bin/python3 and usr/bin/xz: remove it or set CPERF_DEBIAN_ROOT" >&2; exit 1; }
    mkdir -p "$(dirname "$dir")"
    tmp=$(mktemp -d "$dir.partial.XXXXXX")
    echo "$0: building a Debian 12 root in $dir with debootstrap (a few minutes)" >&2
    if ! debootstrap --variant=minbase --include=python3,xz-utils bookworm "$tmp" http://deb.debian.org/debian >"$tmp.log" 2>&1; then
        echo "$0: debootstrap failed; its log: $tmp.log" >&2
        rm -rf "$tmp"
        exit 1
    fi
    rm -f "$tmp.log"
    # -T: never into a directory someone else completed meanwhile (then theirs is kept).
    mv -T "$tmp" "$dir" 2>/dev/null || { [ -x "$dir/usr/bin/xz" ] && rm -rf "$tmp"; } || { echo "$0: could not rename $tmp to $dir" >&2; exit 1; }
}

# Prints the tag of a Docker image made from the root $1 (docker import of its files), importing it
# unless an image made from the same root (its path and the time its package list last changed, as a
# label) is already there.
debian_image() {
    local dir stamp tag=cperf-bench-debian:bookworm
    dir=$(cd "$1" && pwd)
    stamp="$dir@$(stat -c %Y "$dir/var/lib/dpkg/status")"
    if [ "$(docker image inspect -f '{{ index .Config.Labels "cperf.bench.root" }}' "$tag" 2>/dev/null)" != "$stamp" ]; then
        echo "$0: importing $dir as the Docker image $tag" >&2
        tar -C "$dir" -c . | docker import -c "LABEL cperf.bench.root=$stamp" - "$tag" >/dev/null
    fi
    echo "$tag"
}

# Prints the file offset of the ELF entry point (e_entry) of $1: the offset in the file of the address
# e_entry, through the PT_LOAD segment that holds it (what `[module+0xOFFSET]` frames and perf script's
# addresses of user frames are in), in decimal.
entry_file_offset() {
    readelf -hlW "$1" | awk '
        function hex(s,   v, i) { s = tolower(s); sub(/^0x/, "", s); v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
        /Entry point address:/ { entry = hex($NF) }
        $1 == "LOAD" { off = hex($2); va = hex($3); sz = hex($5); if (entry >= va && entry < va + sz) { printf "%d\n", entry - va + off; found = 1; exit } }
        END { if (!found) exit 1 }'
}
