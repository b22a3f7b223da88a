//! The S3-compatible server the export tests run against: moto in server mode (PyPI
//! `moto[server]`). CI runs on a fresh machine, so `cargo xtask test` installs it when
//! `python3 -c 'import moto.server'` fails, before any test runs.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Makes sure `python3 -m moto.server` works, installing `moto[server]` with pip if needed.
pub fn ensure() -> Result<()> {
    let present = Command::new("python3")
        .args(["-c", "import moto.server"])
        .status()
        .context("python3 is needed for the S3 export tests (moto); install python3")?
        .success();
    if present {
        return Ok(());
    }
    eprintln!("xtask: installing moto[server] for the S3 export tests");
    let ok = |args: &[&str]| {
        Command::new("python3")
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let base = ["-m", "pip", "install", "--quiet", "moto[server]"];
    if ok(&base) {
        return Ok(());
    }
    // Debian's python marks its site-packages as externally managed.
    let mut forced = base.to_vec();
    forced.push("--break-system-packages");
    if ok(&forced) {
        return Ok(());
    }
    bail!("cannot install moto[server] with pip; install it by hand: python3 -m pip install 'moto[server]'")
}
