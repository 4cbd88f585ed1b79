#!/bin/sh
# Builds a minimal Debian 12 root with Debian's own python3 and xz (stripped, no frame pointers) at DIR,
# once: it is built in DIR.tmp-<pid> and renamed to DIR when complete, under a lock (DIR.lock) so that
# parallel callers (test binaries, CI) build it once and wait for it. Needs root and debootstrap; the
# Debian mirror is reached as a package registry.
#
#   sh tests/support/build-debian-root.sh DIR
set -eu
dir=${1:?usage: build-debian-root.sh DIR}
[ -d "$dir" ] && exit 0
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
[ -d "$dir" ] && exit 0
# A build that died half-way left its temporary directory; no one else builds while we hold the lock.
rm -rf "$dir".tmp-*
tmp="$dir.tmp-$$"
if ! debootstrap --variant=minbase --include=python3,xz-utils bookworm "$tmp" http://deb.debian.org/debian \
    >"$tmp.log" 2>&1; then
    echo "debootstrap of $dir failed:" >&2
    tail -20 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    exit 1
fi
rm -f "$tmp.log"
mv "$tmp" "$dir"
