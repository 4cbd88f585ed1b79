//! Writers for `cperf containers`: the resolvable containers as an aligned text table or as JSON.
//!
//! Formatting only: the containers come from [`sampler::container::Resolver::list`], and nothing here
//! does I/O besides writing to the given writer.

use std::io::{self, Write};

use sampler::container::Container;

use crate::escape::escape;

/// How many characters of an id the table shows (as `docker ps` does).
const SHORT_ID: usize = 12;

/// The first [`SHORT_ID`] characters of an id.
fn short_id(id: &str) -> String {
    id.chars().take(SHORT_ID).collect()
}

/// Writes `containers` as a table with a header line and the columns ID (first 12 characters),
/// NAME, RUNTIME, PIDS (how many processes) and CGROUP; unknown values show as `-`, control
/// characters in names as escapes ([`crate::escape`]).
pub fn write_table(out: &mut dyn Write, containers: &[Container]) -> io::Result<()> {
    let header = ["ID", "NAME", "RUNTIME", "PIDS", "CGROUP"].map(str::to_owned);
    let rows: Vec<[String; 5]> = containers
        .iter()
        .map(|c| {
            [
                c.id.as_deref().map_or_else(|| "-".to_owned(), |id| escape(&short_id(id)).into_owned()),
                c.name.as_deref().map_or_else(|| "-".to_owned(), |n| escape(n).into_owned()),
                c.runtime.to_string(),
                c.pids.len().to_string(),
                escape(&c.cgroup).into_owned(),
            ]
        })
        .collect();
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = width - cell.chars().count();
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Writes `containers` as one JSON object and a newline:
/// `{"containers":[{"id":…,"name":…,"runtime":…,"cgroup":…,"pids":[…]}]}` (unknown id or name is `null`).
pub fn write_json(out: &mut dyn Write, containers: &[Container]) -> io::Result<()> {
    #[derive(serde::Serialize)]
    struct Listing<'a> {
        containers: &'a [Container],
    }
    crate::escape::write_json(&mut *out, &Listing { containers }, false)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sampler::container::Runtime;

    fn sample() -> Vec<Container> {
        vec![
            Container {
                id: Some("4f1e8c0b9a7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f".into()),
                name: Some("web".into()),
                runtime: Runtime::Docker,
                cgroup: "/system.slice/docker-4f1e8c0b9a7d.scope".into(),
                pids: vec![10, 11, 12],
            },
            Container {
                id: Some("probe1".into()),
                name: None,
                runtime: Runtime::Runc,
                cgroup: "/probe1".into(),
                pids: vec![],
            },
        ]
    }

    #[test]
    fn table_is_aligned_with_short_ids() {
        let mut out = Vec::new();
        write_table(&mut out, &sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\
ID            NAME  RUNTIME  PIDS  CGROUP
4f1e8c0b9a7d  web   docker   3     /system.slice/docker-4f1e8c0b9a7d.scope
probe1        -     runc     0     /probe1
"
        );
    }

    #[test]
    fn empty_table_is_just_the_header() {
        let mut out = Vec::new();
        write_table(&mut out, &[]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "ID  NAME  RUNTIME  PIDS  CGROUP\n");
    }

    #[test]
    fn json_has_every_field() {
        let mut out = Vec::new();
        write_json(&mut out, &sample()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let first = &v["containers"][0];
        assert_eq!(first["runtime"], "docker");
        assert_eq!(first["name"], "web");
        assert_eq!(first["pids"], serde_json::json!([10, 11, 12]));
        assert_eq!(v["containers"][1]["name"], serde_json::Value::Null);
        assert_eq!(v["containers"][1]["cgroup"], "/probe1");
        assert!(out.ends_with(b"}\n"));
    }

    /// Names, ids and cgroups come from runtime state a container can influence: escaped.
    #[test]
    fn control_characters_are_escaped() {
        let c = Container {
            id: Some("ab\x1b[2Jcd".into()),
            name: Some("web\n\x07".into()),
            runtime: Runtime::Runc,
            cgroup: "/x\ry".into(),
            pids: vec![],
        };
        let mut out = Vec::new();
        write_table(&mut out, std::slice::from_ref(&c)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(
            text.contains("ab\\e[2Jcd") && text.contains("web\\n\\x07") && text.contains("/x\\ry"),
            "{text}"
        );
        let mut out = Vec::new();
        write_json(&mut out, &[c]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["containers"][0]["name"], "web\n\x07", "JSON keeps the exact name");
    }
}
