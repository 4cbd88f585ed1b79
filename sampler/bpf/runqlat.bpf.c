// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// cperf's run-queue latency: how long tasks wait, runnable, for a CPU (`cperf runqlat`).
//
// A task is enqueued when it is woken (sched_wakeup, sched_wakeup_new) or preempted while runnable
// (sched_switch with the previous task still TASK_RUNNING); the time is kept in the task's local
// storage. When it is
// switched in (sched_switch's next task), the wait goes into a log2 histogram of microseconds (or
// milliseconds) in `hists`, keyed by target slot and, with per-process or per-thread histograms, by
// pid or tid.
//
// Target slots: with `n_targets == 0` every task counts into slot 0. Otherwise a task counts into
// the slot of the first target cgroup it is in, or below (as perf's -G and bpf_task_under_cgroup
// count descendants): its cgroup v2 (task->cgroups->dfl_cgrp) and each ancestor are looked up by
// id (the cgroup directory's inode number, kernfs_node->id) in `target_ids`. It is the *waiting*
// task's cgroup, read from the task, not that of `current` (bpf_get_current_cgroup_id would give the
// waker's at wakeup, and the previous task's at a switch).
//
// No kernel headers: only UAPI headers and libbpf's helper headers; the kernel structs read are
// declared here with preserve_access_index and relocated against the running kernel's BTF when aya
// loads the program (CO-RE). `__state` (5.14+) and `state` (before) are both handled.

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_SLOTS 27
#define MAX_TARGETS 64
#define MAX_DEPTH 32
#define TASK_RUNNING 0
#define TASK_COMM_LEN 16

struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup_subsys_state {
	struct cgroup_subsys_state *parent;
} __attribute__((preserve_access_index));

struct cgroup {
	struct cgroup_subsys_state self;
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int __state;
	int pid;
	int tgid;
	struct css_set *cgroups;
	char comm[TASK_COMM_LEN];
} __attribute__((preserve_access_index));

/* Kernels before 5.14 call it `state`. */
struct task_struct___o {
	long state;
} __attribute__((preserve_access_index));

/* Set by the loader. */
const volatile __u32 n_targets = 0;   /* 0: every task counts, into slot 0 */
const volatile __u32 millis = 0;      /* histograms of milliseconds, not microseconds */
const volatile __u32 per = 0;         /* 0: one histogram per slot; 1: per process; 2: per thread */

struct hist_key {
	__u32 slot;
	__u32 id;  /* pid or tid with per-process or per-thread histograms, else 0 */
};

struct hist {
	__u32 slots[MAX_SLOTS];
	__u64 count;
	__u64 sum;  /* in the histogram's unit */
	char comm[TASK_COMM_LEN];
};

/* Cgroup id -> target slot. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TARGETS);
	__type(key, __u64);
	__type(value, __u32);
} target_ids SEC(".maps");

/* What the program keeps on each task it has seen: when it was enqueued (0: it is not waiting), and
 * its target slot, with the cgroup the slot was found for (recomputed only when the task moves to
 * another cgroup). Task-local storage: a pointer away from the task, where a hash map by thread id
 * costs a hash lookup at every wakeup and switch. */
struct task_data {
	__u64 ts;
	__u64 cgroup;
	__s32 slot;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_data);
} tasks SEC(".maps");

/* Histograms per CPU: no atomic instructions, and no cache line bouncing between CPUs that update
 * the same histogram (a ping-pong between two CPUs otherwise pays for it at every switch); summed
 * by the reader. One per target slot in an array; per process or thread in a hash. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct hist);
} target_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hist_key);
	__type(value, struct hist);
} hists SEC(".maps");

static struct hist zero;

static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return (__u32)BPF_CORE_READ((struct task_struct___o *)t, state);
}

/* The target slot of task `t`, or -1 when it is in none. */
static __always_inline int slot_of(struct task_struct *t)
{
	struct cgroup *cg;

	if (n_targets == 0)
		return 0;
	cg = t->cgroups->dfl_cgrp;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		__u64 id;
		__u32 *slot;

		if (!cg)
			break;
		id = BPF_CORE_READ(cg, kn, id);
		slot = bpf_map_lookup_elem(&target_ids, &id);
		if (slot)
			return *slot;
		/* `self` is the first member of struct cgroup: its parent css is the parent cgroup. */
		cg = (struct cgroup *)BPF_CORE_READ(cg, self.parent);
	}
	return -1;
}

/* The time, read once per program run and only if needed: reading the clock is one of the dearest
 * things the program does (tens of nanoseconds in a VM). */
static __always_inline __u64 clock_once(__u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_ns();
	return *now;
}

static __always_inline void enqueue(struct task_struct *t, __u64 *now)
{
	struct task_data *d;

	if (!t->pid)
		return; /* the idle task */
	d = bpf_task_storage_get(&tasks, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!d)
		return;
	if (n_targets) {
		__u64 cgroup = (__u64)t->cgroups->dfl_cgrp;

		if (cgroup != d->cgroup || !d->cgroup) {
			d->cgroup = cgroup;
			d->slot = slot_of(t);
		}
		if (d->slot < 0)
			return;
	} else {
		d->slot = 0;
	}
	d->ts = clock_once(now);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffff) << 4; v >>= shift; r |= shift;
	shift = (v > 0xff) << 3; v >>= shift; r |= shift;
	shift = (v > 0xf) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

SEC("tp_btf/sched_wakeup")
int cperf_runq_wakeup(unsigned long long *ctx)
{
	/* TP_PROTO(struct task_struct *p) */
	__u64 now = 0;

	enqueue((struct task_struct *)ctx[0], &now);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int cperf_runq_wakeup_new(unsigned long long *ctx)
{
	/* TP_PROTO(struct task_struct *p) */
	__u64 now = 0;

	enqueue((struct task_struct *)ctx[0], &now);
	return 0;
}

SEC("tp_btf/sched_switch")
int cperf_runq_switch(unsigned long long *ctx)
{
	/* TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next, ...) */
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	struct hist_key key = {};
	struct task_data *d;
	struct hist *h;
	__u64 delta;
	__u32 bucket;

	__u64 now = 0;

	if (task_state(prev) == TASK_RUNNING)
		enqueue(prev, &now);
	if (!next->pid)
		return 0;
	d = bpf_task_storage_get(&tasks, next, 0, 0);
	if (!d || !d->ts)
		return 0;
	delta = clock_once(&now) - d->ts;
	d->ts = 0;
	if ((__s64)delta < 0)
		return 0;
	delta /= millis ? 1000000 : 1000;
	if (per == 0) {
		__u32 slot = d->slot;

		h = bpf_map_lookup_elem(&target_hists, &slot);
		if (!h)
			return 0;
	} else {
		key.slot = d->slot;
		key.id = per == 1 ? next->tgid : next->pid;
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h) {
			bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
			h = bpf_map_lookup_elem(&hists, &key);
			if (!h)
				return 0;
			bpf_probe_read_kernel_str(&h->comm, sizeof(h->comm), next->comm);
		}
	}
	/* Bucket i holds [2^i, 2^(i+1)), bucket 0 also 0: runqlat's buckets. */
	bucket = log2_u64(delta);
	if (bucket >= MAX_SLOTS)
		bucket = MAX_SLOTS - 1;
	h->slots[bucket]++;
	h->count++;
	h->sum += delta;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
