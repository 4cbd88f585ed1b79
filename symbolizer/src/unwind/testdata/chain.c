/* Test program of symbolizer::unwind: dumps its registers, stack and /proc/self/maps at a known
 * point (in c, or in a signal handler interrupting spin) for the unwinder's tests to walk. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define NOIPA __attribute__((noipa))
#define CAPTURE()                                                                   \
    __asm__ volatile("mov %%rsp, %0\n\tmov %%rbp, %1\n\tlea 0(%%rip), %%rax\n\tmov %%rax, %2" \
                     : "=m"(g_rsp), "=m"(g_rbp), "=m"(g_rip)::"rax", "memory")

unsigned long g_rsp, g_rbp, g_rip;
static const char *out_dir;
static volatile int done;

NOIPA void dump(void) {
    char path[4096], line[4096];
    unsigned long lo, hi, end = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    snprintf(path, sizeof path, "%s/maps", out_dir);
    FILE *copy = fopen(path, "w");
    while (fgets(line, sizeof line, maps)) {
        fputs(line, copy);
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= g_rsp && g_rsp < hi) end = hi;
    }
    fclose(maps);
    fclose(copy);
    unsigned long len = end - g_rsp;
    if (len > 65536) len = 65536;
    snprintf(path, sizeof path, "%s/stack", out_dir);
    FILE *out = fopen(path, "w");
    unsigned long header[4] = {g_rip, g_rsp, g_rbp, len};
    fwrite(header, 8, 4, out);
    fwrite((void *)g_rsp, 1, len, out);
    fclose(out);
}

NOIPA int c(int x) { CAPTURE(); dump(); return x * 2 + 1; }
NOIPA int b(int x) { return c(x + 1) * 3 + 1; }
NOIPA int a(int x) { return b(x + 1) * 5 + 1; }
NOIPA void *thread_fn(void *arg) { return (void *)(long)a((int)(long)arg); }
NOIPA void handler(int sig) { (void)sig; CAPTURE(); dump(); done = 1; }
NOIPA void spin(void) { while (!done) __asm__ volatile(""); }

int main(int argc, char **argv) {
    out_dir = argv[2];
    if (!strcmp(argv[1], "thread")) {
        pthread_t t;
        void *r;
        pthread_create(&t, 0, thread_fn, (void *)(long)argc);
        pthread_join(t, &r);
        return (int)(long)r == 0;
    }
    if (!strcmp(argv[1], "signal")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = handler;
        sigaction(SIGPROF, &sa, 0);
        /* One expiry, after 1 ms of CPU time: inside spin, which only returns once it came. */
        struct itimerval it = {{0, 0}, {0, 1000}};
        setitimer(ITIMER_PROF, &it, 0);
        spin();
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_PROF, &off, 0);
        return 0;
    }
    return a(argc) == 0;
}
