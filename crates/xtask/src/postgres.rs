//! A throwaway PostgreSQL cluster for the tests: the PostgreSQL backend, the conformance suite
//! and the multi-node tests run against a real server, never a mock, and CI must not depend on
//! one being set up by hand.
//!
//! [`TestCluster::start`] finds `initdb` under `/usr/lib/postgresql/*/bin` (newest version), or
//! installs Debian's `postgresql` with apt-get when it is absent; creates a cluster in a fresh
//! temporary directory (as the `postgres` OS user when running as root: `initdb` refuses root);
//! starts it on a free loopback port with a private socket directory; and hands out the
//! variables the tests read:
//!
//! - `TRAIL_TEST_POSTGRES_URL`: `postgres://trail@127.0.0.1:PORT/postgres` (trust auth, a
//!   superuser, so each test can `CREATE DATABASE` its own);
//! - `TRAIL_TEST_POSTGRES_DATA`, `TRAIL_TEST_PG_CTL`, `TRAIL_TEST_PG_OS_USER`: the data
//!   directory, `pg_ctl`, and the OS user to run it as (empty when not root), for the fault test
//!   that restarts the server.
//!
//! Dropping the cluster stops it (`pg_ctl stop -m immediate`) and removes the directory, also
//! when the tests failed. `fsync=off` for tests (they restart the server but never the machine);
//! [`Profile::Bench`] keeps PostgreSQL durable for `cargo xtask bench-postgres`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

pub struct TestCluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    os_user: Option<String>,
}

fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn install() -> Result<()> {
    eprintln!("xtask: PostgreSQL not found; installing Debian's postgresql with apt-get");
    let apt = |args: &[&str]| -> Result<()> {
        let st = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        if !st.success() {
            bail!("`apt-get {}` failed ({st})", args.join(" "));
        }
        Ok(())
    };
    apt(&["update"])?;
    apt(&["install", "-y", "--no-install-recommends", "postgresql"])
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot find a free loopback port")?;
    Ok(l.local_addr()?.port())
}

/// What a cluster is for: tests (fast, `fsync=off`) or benchmarks (durable, like the peers'
/// PostgreSQL of `../shared/bench/RESULTS.md`: fsync on, 2 GB shared buffers, work_mem 64 MB,
/// JIT off).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Test,
    Bench,
}

impl TestCluster {
    pub fn start() -> Result<TestCluster> {
        Self::start_for(Profile::Test)
    }

    pub fn start_for(profile: Profile) -> Result<TestCluster> {
        let bin = match find_bin() {
            Some(b) => b,
            None => {
                install()?;
                find_bin().context(
                    "PostgreSQL was installed but no initdb is under /usr/lib/postgresql/*/bin",
                )?
            }
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let root = std::env::temp_dir().join(format!(
            "trail-test-pg-{}-{}",
            std::process::id(),
            nanos % 1_000_000_000
        ));
        std::fs::create_dir_all(root.join("socket"))
            .with_context(|| format!("cannot create {}", root.display()))?;
        let os_user = is_root().then(|| "postgres".to_string());
        let cluster = TestCluster {
            root,
            bin,
            port: free_port()?,
            os_user,
        };
        if let Some(u) = &cluster.os_user {
            let st = Command::new("chown")
                .args(["-R", u])
                .arg(&cluster.root)
                .status()?;
            if !st.success() {
                bail!("cannot chown {} to {u}", cluster.root.display());
            }
        }
        let data = cluster.data_dir();
        cluster.pg(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "trail",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        let tuning = match profile {
            Profile::Test => "fsync = off\nfull_page_writes = off\nshared_buffers = 128MB\n",
            Profile::Bench => {
                "shared_buffers = 2GB\nwork_mem = 64MB\njit = off\nmax_wal_size = 8GB\n\
                 checkpoint_timeout = 30min\n"
            }
        };
        let conf = format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 400\n{tuning}",
            cluster.port,
            path_str(&cluster.root.join("socket"))?
        );
        let conf_path = data.join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing)
            .with_context(|| format!("cannot write {}", conf_path.display()))?;
        let log = cluster.root.join("postgres.log");
        cluster.pg(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        eprintln!(
            "xtask: throwaway PostgreSQL ({}) on 127.0.0.1:{} in {}",
            cluster.bin.display(),
            cluster.port,
            cluster.root.display()
        );
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn pg(&self, tool: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(tool);
        let mut cmd = match &self.os_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = cmd
            .args(args)
            .current_dir(&self.root)
            .output()
            .with_context(|| format!("cannot run {}", program.display()))?;
        if !out.status.success() {
            bail!(
                "`{tool} {}` failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The variables the tests read.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "TRAIL_TEST_POSTGRES_URL".into(),
                format!("postgres://trail@127.0.0.1:{}/postgres", self.port),
            ),
            (
                "TRAIL_TEST_POSTGRES_DATA".into(),
                self.data_dir().display().to_string(),
            ),
            (
                "TRAIL_TEST_PG_CTL".into(),
                self.bin.join("pg_ctl").display().to_string(),
            ),
            (
                "TRAIL_TEST_PG_OS_USER".into(),
                self.os_user.clone().unwrap_or_default(),
            ),
        ]
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("path {} is not UTF-8", p.display()))
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        if let Some(d) = data.to_str() {
            if let Err(e) = self.pg("pg_ctl", &["-D", d, "-m", "immediate", "-w", "stop"]) {
                eprintln!("xtask: stopping the test PostgreSQL: {e:#}");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("xtask: removing {}: {e}", self.root.display());
        }
    }
}
