//! Developer chores, in Rust so they run wherever cargo does (`cargo xtask <task>`).
//!
//! - `cargo xtask test`: the whole test suite, exactly what CI runs (`.ci/run` calls it):
//!   formatting, clippy with warnings denied, then every test of the workspace.
//! - `cargo xtask bench [N]`: the store benchmark against the peer data set (default N = 1M).
//! - `cargo xtask docs`: regenerates docs/events.md from the UAM catalogue.

use std::process::Command;

use anyhow::{bail, Context, Result};

mod docs;

fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    eprintln!("xtask: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => {
            run("cargo", &["fmt", "--all", "--check"], &[])?;
            run(
                "cargo",
                &[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
                &[],
            )?;
            run("cargo", &["test", "--workspace"], &[])?;
            Ok(())
        }
        Some("bench") => {
            let n = args.get(1).map(String::as_str).unwrap_or("1000000");
            run(
                "cargo",
                &["bench", "-p", "trail-store", "--bench", "store_bench"],
                &[("TRAIL_BENCH_N", n)],
            )
        }
        Some("docs") => docs::generate(),
        _ => bail!("usage: cargo xtask test | cargo xtask bench [N] | cargo xtask docs"),
    }
}
