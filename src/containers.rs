//! `cperf containers`: lists what `-G` can resolve on this host.

use std::io::Write;

use anyhow::Context;
use sampler::container::Resolver;

use crate::containers_view;

/// Lists resolvable containers as a table or JSON.
pub fn run(json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let resolver = Resolver::new().context("cannot look up containers")?;
    let containers = resolver.list()?;
    if json {
        containers_view::write_json(out, &containers)?;
    } else {
        containers_view::write_table(out, &containers)?;
    }
    Ok(())
}
