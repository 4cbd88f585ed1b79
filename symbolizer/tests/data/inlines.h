/* Inlined into callers in inlines.c, so that frames come from two files. */
static inline __attribute__((always_inline)) int header_mix(int x)
{
    int y = x * 2654435761u;
    y ^= y >> 13;
    return y + 7;
}
