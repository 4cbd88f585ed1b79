//! What the commands measure, as users name it: containers (`-G`) described for headings, and the
//! threads of a process (`-p`).

use anyhow::bail;
use sampler::container::Resolved;

/// A phrase for headings and summaries: `container 'web' (runc, cgroup /x/y)`.
pub fn describe_container(resolved: &Resolved) -> String {
    let c = &resolved.container;
    let label = c
        .name
        .clone()
        .or_else(|| c.id.as_ref().map(|id| id.chars().take(12).collect()))
        .unwrap_or_else(|| resolved.given.clone());
    format!("container '{label}' ({}, cgroup {})", c.runtime, c.cgroup)
}

/// The threads of process `pid`, sorted.
pub fn threads_of(pid: u32) -> anyhow::Result<Vec<u32>> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir)
        .map_err(|_| anyhow::anyhow!("no such process {pid}: check the pid with: ps -p {pid}"))?;
    let mut tids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    tids.sort_unstable();
    if tids.is_empty() {
        bail!("process {pid} has no threads left (it exited)");
    }
    Ok(tids)
}
