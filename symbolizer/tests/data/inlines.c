/* Fixture for the symbolizer's comparison with binutils' addr2line: static functions inlined two
 * and three deep (one from a header), a clone made by constant propagation, a cold part split out of
 * its function, recursion, an exported function called through a pointer, and a second file. */
#include <stdio.h>
#include <stdlib.h>
#include "inlines.h"

int other_file(int x);
int exported_entry(int x);

static inline int leaf(int x)
{
    return header_mix(x) ^ (x << 3);
}

static inline int middle(int x)
{
    int s = 0;
    for (int i = 0; i < x; i++)
        s += leaf(s + i);
    return s;
}

static __attribute__((noinline)) int outer(int x)
{
    return middle(x) + leaf(x);
}

static __attribute__((noinline)) int scaled(int x, int k)
{
    return x * k + middle(k);
}

static __attribute__((noinline)) int checked(int x)
{
    if (__builtin_expect(x == 12345, 0)) {
        for (int i = 0; i < x; i++)
            fprintf(stderr, "unlikely %d %d %s\n", x, leaf(i), i % 3 ? "a" : "b");
        abort();
    }
    return x + 1;
}

static __attribute__((noinline)) int recurse(int n)
{
    return n <= 1 ? 1 : n + recurse(n - 1) * 3 % 1000;
}

int exported_entry(int x)
{
    return outer(x) + checked(x);
}

int main(int argc, char **argv)
{
    (void)argv;
    int (*volatile fp)(int) = exported_entry;
    int r = fp(argc) + scaled(argc, 7) + recurse(argc + 5) + other_file(argc);
    printf("%d\n", r);
    return 0;
}
