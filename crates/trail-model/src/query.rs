//! A search over the audit log and its answer, independent of HTTP and of any storage engine.
//!
//! Semantics every backend implements (and the conformance tests check):
//! - Values within one filter are alternatives (OR); different filters must all hold (AND).
//! - `min_time_ms`/`max_time_ms` are inclusive bounds on the event time.
//! - `purpose` matches events whose purpose ids contain it.
//! - `scope`, when set, restricts everything (hits, count, min/max, facets) to events touching
//!   one of those data sources: a data owner's view.
//! - Hits are ordered by event time in `sort_order`; ties by commit sequence in the same
//!   direction (so a descending page is exactly the reverse of the ascending one).
//! - Facets are computed over the whole matching set: top [`FACET_LIMIT`] by count descending,
//!   ties by id ascending (data sources, projects, users) or by name ascending (record types,
//!   outcomes). An event with several data sources counts once for each of them.

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::Dimensions;

/// How many entries each facet lists at most.
pub const FACET_LIMIT: usize = 25;

/// Direction of the time sort.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// One audit search. Empty filter lists mean "no restriction".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub data_source_ids: Vec<i64>,
    pub project_ids: Vec<i64>,
    pub profile_ids: Vec<i64>,
    pub record_types: Vec<String>,
    pub outcomes: Vec<Outcome>,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
    pub blob_id: Option<String>,
    pub purpose: Option<i64>,
    /// Data-owner scope: only events touching one of these data sources.
    pub scope: Option<Vec<i64>>,
    pub offset: u64,
    pub size: usize,
    pub sort_order: SortOrder,
}

impl SearchQuery {
    /// A query with Immuta's defaults: no filter, 50 hits, newest first.
    pub fn new() -> Self {
        SearchQuery {
            size: 50,
            ..Default::default()
        }
    }

    /// Whether an event with these dimensions is among the query's matches: the filter
    /// semantics stated for one event (paging and sort order do not apply). Every filter must
    /// hold; an empty list restricts nothing; a list matches an event holding any of its values.
    pub fn admits(&self, d: &Dimensions) -> bool {
        let any_in = |list: &[i64], v: Option<i64>| v.is_some_and(|v| list.contains(&v));
        let touches = |list: &[i64]| d.data_sources.iter().any(|ds| list.contains(&ds.id));
        (self.data_source_ids.is_empty() || touches(&self.data_source_ids))
            && self.scope.as_deref().is_none_or(touches)
            && (self.project_ids.is_empty()
                || any_in(&self.project_ids, d.project.as_ref().map(|p| p.id)))
            && (self.profile_ids.is_empty() || any_in(&self.profile_ids, d.profile_id))
            && (self.record_types.is_empty() || self.record_types.contains(&d.record_type))
            && (self.outcomes.is_empty() || self.outcomes.contains(&d.outcome))
            && self.min_time_ms.is_none_or(|m| d.event_time_ms >= m)
            && self.max_time_ms.is_none_or(|m| d.event_time_ms <= m)
            && self
                .blob_id
                .as_ref()
                .is_none_or(|b| d.blob_id.as_ref() == Some(b))
            && self.purpose.is_none_or(|p| d.purpose_ids.contains(&p))
    }
}

/// A facet entry with an id (data sources, projects, users).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetEntry {
    pub id: i64,
    pub name: Option<String>,
    pub count: u64,
}

/// A facet entry keyed by name (record types, outcomes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameCount {
    pub name: String,
    pub count: u64,
}

/// The five facets of `GET /audit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    pub datasources: Vec<FacetEntry>,
    pub projects: Vec<FacetEntry>,
    pub users: Vec<FacetEntry>,
    pub record_types: Vec<NameCount>,
    pub outcomes: Vec<NameCount>,
}

/// A stored event as the store hands it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Dense commit sequence, from 1.
    pub seq: u64,
    /// SHA-256 of the stored document bytes.
    pub hash: [u8; 32],
    /// When Trail acknowledged it, epoch milliseconds.
    pub received_ms: i64,
    pub event_time_ms: i64,
    /// The document exactly as received.
    pub document: String,
}

/// The answer to one [`SearchQuery`], all parts from one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchAnswer {
    pub hits: Vec<StoredEvent>,
    pub count: u64,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
    pub facets: Facets,
}

/// Sorts and truncates facet entries by the documented order.
pub fn finish_id_facet(mut entries: Vec<FacetEntry>) -> Vec<FacetEntry> {
    entries.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    entries.truncate(FACET_LIMIT);
    entries
}

/// Sorts and truncates name-keyed facet entries by the documented order.
pub fn finish_name_facet(mut entries: Vec<NameCount>) -> Vec<NameCount> {
    entries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    entries.truncate(FACET_LIMIT);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search record of the kind Trail writes about its own readers: no data source, no
    /// project, a profile, `auditQuery`, success.
    fn read_record() -> Dimensions {
        crate::parse_event(
            r#"{"id":"r1","dateTime":"1700000000000","recordType":"auditQuery","profileId":7,"success":true}"#,
        )
        .unwrap()
    }

    #[test]
    fn admits_applies_every_filter_to_one_event() {
        let d = read_record();
        let q = |f: fn(&mut SearchQuery)| {
            let mut q = SearchQuery::new();
            f(&mut q);
            q.admits(&d)
        };
        assert!(q(|_| {}));
        assert!(q(
            |q| q.record_types = vec!["sqlQuery".into(), "auditQuery".into()]
        ));
        assert!(q(|q| q.profile_ids = vec![7]));
        assert!(q(|q| q.max_time_ms = Some(1_700_000_000_000)));
        assert!(!q(|q| q.data_source_ids = vec![1]));
        assert!(!q(|q| q.scope = Some(vec![1])));
        assert!(!q(|q| q.project_ids = vec![1]));
        assert!(!q(|q| q.profile_ids = vec![8]));
        assert!(!q(|q| q.record_types = vec!["sqlQuery".into()]));
        assert!(!q(|q| q.outcomes = vec![Outcome::Failure]));
        assert!(!q(|q| q.max_time_ms = Some(1_699_999_999_999)));
        assert!(!q(|q| q.min_time_ms = Some(1_700_000_000_001)));
        assert!(!q(|q| q.blob_id = Some("b".into())));
        assert!(!q(|q| q.purpose = Some(3)));
    }
}
