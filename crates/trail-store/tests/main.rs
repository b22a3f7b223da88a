//! Integration tests of the storage layer: one test binary (one link) for the whole crate.

mod basics;
mod corruption;
mod crash;
mod metadata;
mod oracle;
mod search_props;
mod support;
