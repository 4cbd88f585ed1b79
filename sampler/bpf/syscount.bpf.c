// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// cperf's in-kernel syscall counter: the fast path of `cperf stat -e 'syscalls:*'`.
//
// One program on each of the raw_syscalls tracepoints (sys_enter, sys_exit) replaces the ~720 per-syscall
// tracepoints perf opens; closing two attachments costs two RCU grace periods instead of ~720. Counts go
// to a per-CPU array indexed by (target slot, syscall number): `enter`, `exit`, and `errors` (returns < 0).
//
// Target slots: with `n_targets == 0` every task counts into slot 0 (system-wide). Otherwise slot i
// counts tasks in the cgroup stored at index i of `targets`, or any cgroup below it (the same rule as
// perf's PERF_FLAG_PID_CGROUP), via bpf_current_task_under_cgroup: the task making the syscall is
// always `current` here.
//
// With `follow_tasks` set, slot 0 counts the threads in `followed` instead, the way perf's inherited
// per-task events do (`perf stat -p`, `perf stat -- cmd`): the loader seeds it with thread ids; a
// thread or process created by a followed thread is followed (sched_process_fork); a task in `armed`
// becomes followed when it execs (sched_process_exec, perf's enable_on_exec); exited tasks are removed.
//
// Exactness against perf's syscalls:sys_{enter,exit}_* events: they skip 32-bit compat syscalls
// (ARCH_TRACE_IGNORE_COMPAT_SYSCALLS) and numbers outside the table; so do we. The syscall number at
// exit is read from pt_regs->orig_ax, as the kernel's own syscall_get_nr() does.
//
// The programs are BTF-typed raw tracepoints (tp_btf): `regs` and the current task are typed kernel
// pointers, so reading orig_ax and thread_info.status are plain loads rather than bpf_probe_read calls.
//
// No kernel headers: only UAPI headers (linux-libc-dev) and libbpf's helper headers; the two kernel
// structs read are declared here with preserve_access_index and relocated against the running kernel's
// BTF when aya loads the program (CO-RE).

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_SYSCALLS 1024
#define MAX_TARGETS 64
#define TS_COMPAT 0x0002

struct counts {
	__u64 enter;
	__u64 exit;
	__u64 errors;
};

struct pt_regs {
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct thread_info {
	__u32 status;
} __attribute__((preserve_access_index));

struct task_struct {
	struct thread_info thread_info;
	int pid;
} __attribute__((preserve_access_index));

/* Set by the loader: how many cgroup targets are in `targets` (0 = count every task). */
const volatile __u32 n_targets = 0;
/* Set by the loader: count the threads in `followed` (into slot 0) instead. */
const volatile __u32 follow_tasks = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} followed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} armed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/* max_entries is resized by the loader to (slots * MAX_SYSCALLS). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_TARGETS * MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct counts);
} counts SEC(".maps");

static __always_inline void add(__u32 slot, long nr, int is_exit, long ret)
{
	__u32 key = slot * MAX_SYSCALLS + (__u32)nr;
	struct counts *c = bpf_map_lookup_elem(&counts, &key);

	if (!c)
		return;
	if (is_exit) {
		c->exit++;
		if (ret < 0)
			c->errors++;
	} else {
		c->enter++;
	}
}

static __always_inline void account(long nr, int is_exit, long ret)
{
	struct task_struct *task;
	__u32 n = n_targets;

	if (nr < 0 || nr >= MAX_SYSCALLS)
		return;
	task = bpf_get_current_task_btf();
	if (task->thread_info.status & TS_COMPAT)
		return;
	if (follow_tasks) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();

		if (bpf_map_lookup_elem(&followed, &tid))
			add(0, nr, is_exit, ret);
		return;
	}
	if (n == 0) {
		add(0, nr, is_exit, ret);
		return;
	}
	for (__u32 i = 0; i < MAX_TARGETS; i++) {
		if (i >= n)
			break;
		if (bpf_current_task_under_cgroup(&targets, i) == 1)
			add(i, nr, is_exit, ret);
	}
}

SEC("tp_btf/sys_enter")
int cperf_sys_enter(unsigned long long *ctx)
{
	/* TP_PROTO(struct pt_regs *regs, long id) */
	account((long)ctx[1], 0, 0);
	return 0;
}

SEC("tp_btf/sys_exit")
int cperf_sys_exit(unsigned long long *ctx)
{
	/* TP_PROTO(struct pt_regs *regs, long ret) */
	struct pt_regs *regs = (struct pt_regs *)ctx[0];

	account((long)regs->orig_ax, 1, (long)ctx[1]);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int cperf_fork(unsigned long long *ctx)
{
	/* TP_PROTO(struct task_struct *parent, struct task_struct *child) */
	struct task_struct *parent = (struct task_struct *)ctx[0];
	struct task_struct *child = (struct task_struct *)ctx[1];
	__u32 parent_tid = parent->pid, child_tid = child->pid;
	__u8 one = 1;

	if (bpf_map_lookup_elem(&followed, &parent_tid))
		bpf_map_update_elem(&followed, &child_tid, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int cperf_exec(unsigned long long *ctx)
{
	/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	struct task_struct *task = (struct task_struct *)ctx[0];
	__u32 tid = task->pid;
	__u8 one = 1;

	if (bpf_map_lookup_elem(&armed, &tid)) {
		bpf_map_update_elem(&followed, &tid, &one, BPF_ANY);
		bpf_map_delete_elem(&armed, &tid);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int cperf_exit(unsigned long long *ctx)
{
	/* TP_PROTO(struct task_struct *p, ...) */
	struct task_struct *task = (struct task_struct *)ctx[0];
	__u32 tid = task->pid;

	bpf_map_delete_elem(&followed, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
