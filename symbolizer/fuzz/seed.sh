#!/usr/bin/env bash
# Seed corpora for the fuzz targets, from this machine: small real ELF files (with and without
# DWARF, compressed, split), perf-map lines, kallsyms lines and mangled names.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/elf corpus/perfmap corpus/kallsyms corpus/demangle corpus/unwind
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -g -O1 -o "$work/pie" ../tests/data/inlines.c ../tests/data/other.c
cc -g -O1 -no-pie -o corpus/elf/nopie ../tests/data/inlines.c ../tests/data/other.c
cc -g -O1 -gz=zlib -o corpus/elf/zdebug ../tests/data/inlines.c ../tests/data/other.c
c++ -g -O1 -o corpus/elf/cxx ../tests/data/cxx.cc
cp "$work/pie" corpus/elf/pie
objcopy --only-keep-debug "$work/pie" corpus/elf/pie.debug
strip -o corpus/elf/pie.stripped "$work/pie"
cp /bin/true corpus/elf/true
# unwind: ip 0 (folded into the file), sp 0x1000, bp 0, the file's length, a real binary with
# .eh_frame and .eh_frame_hdr, 512 bytes of stack.
size=$(stat -c %s corpus/elf/nopie)
{ printf '\0\0\0\0\0\0\0\0\0\020\0\0\0\0\0\0\0\0\0\0\0\0\0\0'
  printf "\\$(printf %03o $((size & 255)))\\$(printf %03o $((size >> 8 & 255)))\\$(printf %03o $((size >> 16 & 255)))\\0"
  cat corpus/elf/nopie; head -c 512 /dev/zero; } >corpus/unwind/nopie
# unwind: a real sample, dumped by the unwinder's test program inside c (main -> a -> b -> c) of
# its static non-PIE build: registers, the binary, the stack.
cc -O2 -fomit-frame-pointer -no-pie -static -pthread -o "$work/chain" ../src/unwind/testdata/chain.c
"$work/chain" main "$work"
size=$(stat -c %s "$work/chain")
{ head -c 24 "$work/stack"
  printf "\\$(printf %03o $((size & 255)))\\$(printf %03o $((size >> 8 & 255)))\\$(printf %03o $((size >> 16 & 255)))\\0"
  cat "$work/chain"; tail -c +33 "$work/stack"; } >corpus/unwind/static-chain
printf '7f0000001000 40 LazyCompile:*fib /app/fib.js:3\n7f0000000000 100 Interpreter\n' >corpus/perfmap/node
head -200 /proc/kallsyms >corpus/kallsyms/head
printf '%s' _ZN4core3fmt5write17h0123456789abcdefE >corpus/demangle/rust-legacy
printf '%s' _RNvCs1234_7mycrate3foo >corpus/demangle/rust-v0
printf '%s' '_ZNSt6vectorIiSaIiEE9push_backERKi' >corpus/demangle/cxx
printf '%s' '_ZThn8_N3Foo3barEv' >corpus/demangle/cxx-thunk
ls -R corpus | head -30
