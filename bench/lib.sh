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
