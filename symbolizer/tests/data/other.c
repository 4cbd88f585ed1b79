/* The fixture's second compilation unit. */
static inline int twice(int x)
{
    return x + x;
}

int other_file(int x)
{
    int s = 0;
    for (int i = 0; i < x * 3; i++)
        s += twice(i) ^ x;
    return s;
}
