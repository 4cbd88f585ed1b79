//! Running jobs on scoped threads — and on the calling thread when the system refuses a thread
//! (`RLIMIT_NPROC`, memory), so that a refusal costs time, never a panic. Used by the symbolizer
//! and by cperf's printers.

/// The results of `jobs`, in order: the first runs on the calling thread, each other on a thread
/// of its own, or on the calling thread after the first if none can be had. A panic in a job is
/// passed on to the caller.
pub fn run<J, T>(jobs: &[J]) -> Vec<T>
where
    J: Fn() -> T + Sync,
    T: Send,
{
    std::thread::scope(|scope| {
        let spawned: Vec<_> = jobs
            .iter()
            .skip(1)
            .map(|job| std::thread::Builder::new().spawn_scoped(scope, job).ok())
            .collect();
        let first = jobs.first().map(|job| job());
        let rest = spawned.into_iter().zip(jobs.iter().skip(1)).map(|(thread, job)| match thread {
            Some(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => job(),
        });
        first.into_iter().chain(rest).collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_in_order() {
        let jobs: Vec<_> = (0..5).map(|i| move || i * 10).collect();
        assert_eq!(super::run(&jobs), [0, 10, 20, 30, 40]);
        let none: [fn() -> u8; 0] = [];
        assert!(super::run(&none).is_empty());
    }
}
