//! A real Docker engine for the integration tests: images imported from a [`Bundle`]'s root filesystem
//! (no registry is reachable), containers run, exec'd into, stopped and removed by name.
//!
//! `.ci/run` installs Debian's `docker.io` and starts `dockerd`; [`docker_ready`] checks that the daemon
//! answers and, under `CPERF_REQUIRE_PRIVILEGED=1`, turns its absence into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{describe, run, run_ok, unique_id, Bundle};

/// True when `docker info` answers (the daemon runs); otherwise a skip, or a failure under
/// `CPERF_REQUIRE_PRIVILEGED=1` (CI starts dockerd).
pub fn docker_ready() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let out = Command::new("docker")
            .arg("info")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run docker: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("docker info failed (is dockerd running?): {}", describe(&out)))
        }
    });
    match ready {
        Ok(()) => true,
        Err(reason) => {
            if std::env::var_os("CPERF_REQUIRE_PRIVILEGED").is_some_and(|v| v == "1") {
                panic!("CPERF_REQUIRE_PRIVILEGED=1 but there is no Docker engine: {reason}");
            }
            eprintln!("skipped: {reason}");
            false
        }
    }
}

/// An image made with `docker import` from a bundle's root filesystem; removed on drop.
#[derive(Debug)]
pub struct Image {
    tag: String,
}

impl Image {
    /// Imports `bundle`'s rootfs (busybox plus whatever fixtures it was given) as a new image.
    pub fn import(bundle: &Bundle, test: &str) -> Image {
        Image::import_dir(bundle.rootfs(), test)
    }

    /// Imports the root filesystem at `dir` (a Debian root, for instance) as a new image.
    pub fn import_dir(dir: &Path, test: &str) -> Image {
        let tag = format!("{}:test", unique_id(test));
        let script = format!("tar -C '{}' -c . | docker import - '{tag}' >/dev/null", dir.display());
        run_ok(Command::new("sh").args(["-c", &script]));
        Image { tag }
    }

    /// The image's name.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.tag])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A container run by the Docker engine under a unique name; `docker rm -f` on drop.
#[derive(Debug)]
pub struct DockerContainer {
    name: String,
    id: String,
}

impl DockerContainer {
    /// `docker run -d --name <unique> <extra...> <image> <args...>`.
    pub fn run(image: &Image, test: &str, extra: &[&str], args: &[&str]) -> DockerContainer {
        let name = unique_id(test);
        let out = run_ok(
            Command::new("docker")
                .args(["run", "-d", "--name", &name])
                .args(extra)
                .arg(image.tag())
                .args(args),
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(id.len(), 64, "docker run printed no container id: {}", describe(&out));
        DockerContainer { name, id }
    }

    /// The name given with `--name`, as `docker ps` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full 64-hex id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host pid of the container's first process (0 when it is not running).
    pub fn pid(&self) -> u32 {
        let out = run_ok(Command::new("docker").args(["inspect", "-f", "{{.State.Pid}}", &self.id]));
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    }

    /// A path inside the running container, as the host reaches it (`/proc/<pid>/root/...`).
    pub fn host_path(&self, inside: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root/{}", self.pid(), inside.trim_start_matches('/')))
    }

    /// Waits until `inside` exists in the running container.
    pub fn wait_for_file(&self, inside: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.host_path(inside).exists() {
            assert!(
                Instant::now() < deadline,
                "{inside} did not appear in docker container {} within {timeout:?}: {}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `docker exec <name> <args...>`, run to completion.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        run(Command::new("docker").arg("exec").arg(&self.name).args(args))
    }

    /// `docker stop -t 0`: the container stays, stopped.
    pub fn stop(&self) {
        run_ok(Command::new("docker").args(["stop", "-t", "0", &self.name]));
    }

    /// What the container printed.
    pub fn logs(&self) -> String {
        let out = run(Command::new("docker").args(["logs", &self.name]));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }
}

impl Drop for DockerContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
