//! Writing one object to a target: a local directory or an S3-compatible bucket.
//!
//! Both writes are all-or-nothing for a reader: the directory target writes a temporary file,
//! `fsync`s it, renames it over the final name and syncs the directory; an S3 `PUT` replaces the
//! object atomically. Writing the same name again with the same bytes (a retry after a failure
//! that came after the write) leaves the target as if it had been written once.
//!
//! S3 stack: `rusty-s3` signs requests (Sans-IO, SigV4 query-string signing, a handful of small
//! crates) and `ureq`, already a workspace dependency, sends them. `object_store` would bring
//! reqwest, hyper and their tower stack into every build of the server for one `PUT`; this pair
//! adds seconds, not minutes, to a cold build on two cores. Requests are path-style
//! (`<endpoint>/<bucket>/<key>`), which every S3-compatible server accepts. Each `PUT` uses a
//! fresh connection (no pool): objects are large, so connection setup is noise, and a broken
//! pooled connection can never turn one failure into a second, confusing one. `https` endpoints
//! need the crate's `tls` feature (rustls through ureq); without it they are rejected when the
//! configuration is validated.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::config::TargetSpec;

/// How long a signed request stays valid (covers a slow upload of a large object).
const SIGNATURE_TTL: Duration = Duration::from_secs(3600);

/// A place objects are written to.
pub(crate) enum Sink {
    Directory(PathBuf),
    S3 {
        bucket: Box<Bucket>,
        credentials: Credentials,
        agent: ureq::Agent,
    },
}

impl Sink {
    pub(crate) fn new(spec: &TargetSpec) -> Result<Sink, String> {
        match spec {
            TargetSpec::Directory { path, .. } => Ok(Sink::Directory(PathBuf::from(path))),
            TargetSpec::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key,
                ..
            } => {
                let url: url::Url = endpoint
                    .parse()
                    .map_err(|e| format!("the endpoint is not a URL: {e}"))?;
                let bucket = Bucket::new(url, UrlStyle::Path, bucket.clone(), region.clone())
                    .map_err(|e| format!("the bucket cannot be addressed: {e}"))?;
                let agent = ureq::AgentBuilder::new()
                    .max_idle_connections(0)
                    .timeout_connect(Duration::from_secs(10))
                    .timeout_read(Duration::from_secs(120))
                    .timeout_write(Duration::from_secs(300))
                    .build();
                Ok(Sink::S3 {
                    bucket: Box::new(bucket),
                    credentials: Credentials::new(access_key_id.clone(), secret_access_key.clone()),
                    agent,
                })
            }
        }
    }

    /// Writes `bytes` as object `name` (relative, `/`-separated). Blocking.
    pub(crate) fn put(&self, name: &str, bytes: &[u8], content_type: &str) -> Result<(), String> {
        match self {
            Sink::Directory(root) => put_file(root, name, bytes),
            Sink::S3 {
                bucket,
                credentials,
                agent,
            } => {
                let url = bucket
                    .put_object(Some(credentials), name)
                    .sign(SIGNATURE_TTL);
                match agent
                    .put(url.as_str())
                    .set("Content-Type", content_type)
                    .send_bytes(bytes)
                {
                    Ok(_) => Ok(()),
                    Err(ureq::Error::Status(code, resp)) => {
                        // S3 error bodies are short XML with a Code and Message; no secrets.
                        let mut body = resp.into_string().unwrap_or_default();
                        body.truncate(300);
                        Err(format!("S3 answered {code} to PUT {name}: {body}"))
                    }
                    // Not `Display` of the error: it would print the signed URL.
                    Err(ureq::Error::Transport(t)) => Err(format!(
                        "S3 PUT {name} failed: {} ({})",
                        t.kind(),
                        t.message().unwrap_or("no detail")
                    )),
                }
            }
        }
    }
}

fn put_file(root: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = root.join(name);
    let dir = path
        .parent()
        .ok_or_else(|| format!("object name {name} has no parent"))?;
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    fs::create_dir_all(dir).map_err(|e| io("cannot create directory", dir, e))?;
    let file_name = path
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| format!("object name {name} has no file name"))?;
    let tmp = dir.join(format!(".{file_name}.{:016x}.tmp", rand::random::<u64>()));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| io("cannot write", &tmp, e))?;
        f.sync_all().map_err(|e| io("cannot sync", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io("cannot rename onto", &path, e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("cannot sync directory", dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
