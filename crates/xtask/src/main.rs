//! Developer chores, in Rust so they run wherever cargo does (`cargo xtask <task>`).
//!
//! - `cargo xtask test`: the whole test suite, exactly what CI runs (`.ci/run` calls it):
//!   formatting, clippy with warnings denied, then every test of the workspace.
//! - `cargo xtask bench [N]`: the store benchmark against the peer data set (default N = 1M).
//! - `cargo xtask bench-postgres [N]`: the same ingest and query suite on the PostgreSQL backend,
//!   on a throwaway cluster with durable settings.
//! - `cargo xtask with-postgres CMD...`: runs CMD with a throwaway PostgreSQL and the
//!   `TRAIL_TEST_*` variables set (e.g. `cargo xtask with-postgres cargo test -p trail-postgres`).
//! - `cargo xtask docs`: regenerates docs/events.md from the UAM catalogue.

mod docs;
mod moto;
mod postgres;

use std::process::Command;

use anyhow::{bail, Context, Result};

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
            moto::ensure()?;
            let pg = postgres::TestCluster::start()?;
            let env = pg.env();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            run("cargo", &["test", "--workspace"], &env)?;
            Ok(())
        }
        Some("with-postgres") if args.len() > 1 => {
            let pg = postgres::TestCluster::start()?;
            let env = pg.env();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let rest: Vec<&str> = args[2..].iter().map(String::as_str).collect();
            run(&args[1], &rest, &env)
        }
        Some("bench") => {
            let n = args.get(1).map(String::as_str).unwrap_or("1000000");
            run(
                "cargo",
                &["bench", "-p", "trail-store", "--bench", "store_bench"],
                &[("TRAIL_BENCH_N", n)],
            )
        }
        Some("bench-postgres") => {
            let n = args.get(1).map(String::as_str).unwrap_or("1000000");
            let pg = postgres::TestCluster::start_for(postgres::Profile::Bench)?;
            let mut env = pg.env();
            env.push(("TRAIL_BENCH_N".into(), n.into()));
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            run(
                "cargo",
                &["bench", "-p", "trail-postgres", "--bench", "pg_bench"],
                &env,
            )
        }
        Some("docs") => docs::generate(),
        _ => bail!(
            "usage: cargo xtask test | cargo xtask bench [N] | cargo xtask bench-postgres [N] | cargo xtask with-postgres CMD... | cargo xtask docs"
        ),
    }
}
