//! A naive in-memory implementation of the search semantics of `trail_model::query`, the
//! reference the engine is checked against. Deliberately simple: filter each event with
//! `SearchQuery::admits` (the semantics stated on one event), sort, count.

use std::collections::BTreeMap;

use trail_model::query::{finish_id_facet, finish_name_facet};
use trail_model::{Dimensions, FacetEntry, Facets, NameCount, SearchQuery, SortOrder};

pub struct Oracle {
    /// (seq, dims, document)
    pub events: Vec<(u64, Dimensions, String)>,
}

pub struct OracleAnswer {
    pub hit_seqs: Vec<u64>,
    pub count: u64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub facets: Facets,
}

impl Oracle {
    /// Sequence numbers of the matching events in `after + 1 ..= up_to`, ascending.
    pub fn matching_seqs(&self, q: &SearchQuery, after: u64, up_to: u64) -> Vec<u64> {
        self.events
            .iter()
            .filter(|(seq, d, _)| *seq > after && *seq <= up_to && q.admits(d))
            .map(|(seq, _, _)| *seq)
            .collect()
    }

    pub fn search(&self, q: &SearchQuery) -> OracleAnswer {
        let mut names_ds: BTreeMap<i64, Option<String>> = BTreeMap::new();
        let mut names_pj: BTreeMap<i64, Option<String>> = BTreeMap::new();
        let mut names_us: BTreeMap<i64, Option<String>> = BTreeMap::new();
        for (_, d, _) in &self.events {
            for n in &d.data_sources {
                let e = names_ds.entry(n.id).or_default();
                if n.name.is_some() {
                    *e = n.name.clone();
                }
            }
            if let Some(p) = &d.project {
                let e = names_pj.entry(p.id).or_default();
                if p.name.is_some() {
                    *e = p.name.clone();
                }
            }
            if let Some(p) = d.profile_id {
                let e = names_us.entry(p).or_default();
                if d.user_id.is_some() {
                    *e = d.user_id.clone();
                }
            }
        }
        let mut m: Vec<&(u64, Dimensions, String)> =
            self.events.iter().filter(|(_, d, _)| q.admits(d)).collect();
        m.sort_by_key(|(seq, d, _)| (d.event_time_ms, *seq));
        if q.sort_order == SortOrder::Desc {
            m.reverse();
        }
        let hit_seqs = m
            .iter()
            .skip(q.offset as usize)
            .take(q.size)
            .map(|(s, _, _)| *s)
            .collect();
        let mut ds: BTreeMap<i64, u64> = BTreeMap::new();
        let mut pj: BTreeMap<i64, u64> = BTreeMap::new();
        let mut us: BTreeMap<i64, u64> = BTreeMap::new();
        let mut rt: BTreeMap<String, u64> = BTreeMap::new();
        let mut oc: BTreeMap<String, u64> = BTreeMap::new();
        for (_, d, _) in &m {
            let mut seen = Vec::new();
            for n in &d.data_sources {
                if !seen.contains(&n.id) && q.scope.as_ref().is_none_or(|s| s.contains(&n.id)) {
                    *ds.entry(n.id).or_default() += 1;
                    seen.push(n.id);
                }
            }
            if let Some(p) = &d.project {
                *pj.entry(p.id).or_default() += 1;
            }
            if let Some(p) = d.profile_id {
                *us.entry(p).or_default() += 1;
            }
            *rt.entry(d.record_type.clone()).or_default() += 1;
            *oc.entry(d.outcome.as_str().to_string()).or_default() += 1;
        }
        let ids = |counts: BTreeMap<i64, u64>, names: &BTreeMap<i64, Option<String>>| {
            finish_id_facet(
                counts
                    .into_iter()
                    .map(|(id, count)| FacetEntry {
                        id,
                        name: names.get(&id).cloned().flatten(),
                        count,
                    })
                    .collect(),
            )
        };
        let named = |counts: BTreeMap<String, u64>| {
            finish_name_facet(
                counts
                    .into_iter()
                    .map(|(name, count)| NameCount { name, count })
                    .collect(),
            )
        };
        OracleAnswer {
            hit_seqs,
            count: m.len() as u64,
            min: m.iter().map(|(_, d, _)| d.event_time_ms).min(),
            max: m.iter().map(|(_, d, _)| d.event_time_ms).max(),
            facets: Facets {
                datasources: ids(ds, &names_ds),
                projects: ids(pj, &names_pj),
                users: ids(us, &names_us),
                record_types: named(rt),
                outcomes: named(oc),
            },
        }
    }
}
