//! Trail's event model: what an audit event is, which dimensions Trail derives from it, and the
//! types of a search and its answer.
//!
//! Architecture invariant: this crate does no I/O. It parses and validates bytes it is handed and
//! describes queries; storage, HTTP and files live in other crates.

pub mod catalog;
pub mod docs;
pub mod event;
pub mod legacy;
pub mod mapping;
pub mod outcome;
pub mod query;
pub mod query_payload;
mod scan;
pub mod timefmt;
pub mod validate;

pub use event::{parse_event, Dimensions, EventError, EventForm, NamedId};
pub use legacy::LegacyHit;
pub use mapping::{legacy_to_uam, uam_to_legacy};
pub use outcome::Outcome;
pub use query::{FacetEntry, Facets, NameCount, SearchAnswer, SearchQuery, SortOrder, StoredEvent};
pub use query_payload::QueryAuditPayload;
pub use validate::{validate_event, Checked};
