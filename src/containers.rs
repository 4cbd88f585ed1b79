//! `cperf containers`: lists what `-G` can resolve on this host. Runtime state this user may not
//! read (runc's, Docker's… as a user who is not root) hides the containers known only there: a
//! warning on stderr says which, and what to do.

use std::io::Write;

use anyhow::Context;
use sampler::container::Resolver;

use crate::containers_view;

/// Lists resolvable containers as a table or JSON.
pub fn run(json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let resolver = Resolver::new().context("cannot look up containers")?;
    let containers = resolver.list()?;
    let denied = resolver.unreadable();
    if !denied.is_empty() {
        writeln!(
            std::io::stderr().lock(),
            "cperf containers: warning: permission was denied reading {}: containers known only there are not listed; run cperf as root (sudo) or with CAP_DAC_READ_SEARCH",
            crate::escape::esc(&denied.join(", "))
        )?;
    }
    if json {
        containers_view::write_json(out, &containers)?;
    } else {
        containers_view::write_table(out, &containers)?;
    }
    Ok(())
}
