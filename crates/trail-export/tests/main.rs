//! Scheduled exports end to end: one test binary (one link). Real embedded store, real
//! directory, real S3-compatible server (moto in server mode, started per test); the only thing
//! between Trail and moto is a TCP proxy the test can cut.

mod directory;
mod s3;
mod shutdown;
mod support;
