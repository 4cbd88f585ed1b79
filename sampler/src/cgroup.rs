//! cgroup v2: finding the mount, reading cpu.stat. (being written)
