//! The `cperf` binary: parses the command line and hands plain options to one module per command.
//! Errors end here as one line on stderr and a non-zero exit; a closed pipe (`cperf … | head`) is not
//! an error.

mod cli;
mod containers;
mod containers_view;
mod escape;
mod numbers;
mod process_access;
mod record;
mod report;
mod runqlat;
mod signals;
mod stat;
mod symbolize;
mod targets;
mod uprobes;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match cli.command {
        Command::Stat(args) => args.into_options().and_then(|o| stat::run(o, &mut out)),
        Command::Record(args) => {
            args.into_options().and_then(|o| record::run(o, &mut std::io::stderr().lock()))
        }
        Command::Symbolize(args) => {
            let mut ready = stdin_ready;
            args.into_options()
                .and_then(|o| symbolize::run(o, &mut std::io::stdin().lock(), &mut ready, &mut out))
        }
        Command::Report(args) => {
            args.into_options().and_then(|o| report::run(o, &mut out, &mut std::io::stderr().lock()))
        }
        Command::Runqlat(args) => {
            args.into_options().and_then(|o| runqlat::run(o, &mut out, &mut std::io::stderr().lock()))
        }
        Command::Containers(args) => containers::run(args.json, &mut out).map(|()| 0),
    };
    let result = result.and_then(|code| out.flush().map(|()| code).map_err(Into::into));
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "cperf: error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// Whether stdin has input that can be read without waiting (or its end); a regular file always has.
fn stdin_ready() -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
}

/// The error and its causes on one line, without repeating a cause the message already contains.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    // Errors quote names and paths a container controls: no control character reaches the terminal.
    escape::escape(&line).into_owned()
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
