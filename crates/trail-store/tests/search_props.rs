//! Property test: random event sets and random searches, engine against the naive oracle, for
//! exact equality of hits (documented tie order: time, then sequence, in the sort direction),
//! count, min/max and all five facets, before and after a reopen.

use proptest::prelude::*;
use serde_json::json;
use trail_model::{Outcome, SearchAnswer, SearchQuery, SortOrder};
use trail_store::embedded::EmbeddedStore;
use trail_store::{AppendResult, NewEvent};

use crate::oracle::Oracle;
use crate::support::{legacy_doc, small_options};

const T0: i64 = 1_700_000_000_000;
const RECORD_TYPES: [&str; 4] = ["sqlQuery", "apiKey", "dataSourceSave", "SnowflakeQuery"];

#[derive(Clone, Debug)]
struct GenEvent {
    id: u16,
    time: i64,
    uam: bool,
    ds: Vec<(i64, u8)>,
    project: Option<(i64, u8)>,
    profile: Option<i64>,
    record_type: usize,
    outcome: usize,
    blob: Option<u8>,
    purposes: Option<Vec<i64>>,
}

fn gen_event() -> impl Strategy<Value = GenEvent> {
    (
        (
            0u16..300,
            0i64..40,
            any::<bool>(),
            prop::collection::vec((1i64..7, 0u8..2), 0..3),
        ),
        (
            prop::option::of((1i64..5, 0u8..2)),
            prop::option::of(-1i64..5),
            0usize..4,
            0usize..6,
        ),
        (
            prop::option::of(0u8..3),
            prop::option::of(prop::collection::vec(1i64..5, 0..3)),
        ),
    )
        .prop_map(
            |((id, time, uam, ds), (project, profile, record_type, outcome), (blob, purposes))| {
                GenEvent {
                    id,
                    time,
                    uam,
                    ds,
                    project,
                    profile,
                    record_type,
                    outcome,
                    blob,
                    purposes,
                }
            },
        )
}

fn document(e: &GenEvent) -> String {
    let id = format!("e{}", e.id);
    let t = T0 + e.time;
    if e.uam {
        let status = ["SUCCESS", "FAILURE", "UNAUTHORIZED"][e.outcome % 3];
        let mut targets: Vec<serde_json::Value> = e
            .ds
            .iter()
            .map(|(d, v)| json!({"type": "DATASOURCE", "id": d.to_string(), "name": format!("ds{d}-{v}")}))
            .collect();
        if let Some((p, v)) = e.project {
            targets.push(json!({"type": "PROJECT", "id": p, "name": format!("p{p}-{v}")}));
        }
        let mut payload = json!({"type": "QueryAuditPayload", "version": 1, "technologyContext": {"type": "SnowflakeContext"}});
        if let Some(p) = &e.purposes {
            payload["purposeIds"] = json!(p);
        }
        json!({
            "id": id,
            "tenantId": "t",
            "eventTimestamp": trail_model::timefmt::format_iso_ms(t),
            "action": "QUERY",
            "actionStatus": status,
            "actor": {"type": "USER_ACTOR", "id": e.profile.map(|p| format!("user{p}")), "profileId": e.profile.map(|p| p.to_string())},
            "targetType": "DATASOURCE",
            "targets": targets,
            "auditPayload": payload,
        })
        .to_string()
    } else {
        let ds_name = e.ds.first().map(|(d, v)| (*d, format!("ds{d}-{v}")));
        let pj_name = e.project.map(|(p, v)| (p, format!("p{p}-{v}")));
        let user = e.profile.map(|p| (p, format!("user{p}")));
        let blob = e.blob.map(|b| format!("blob{b}"));
        legacy_doc(
            &id,
            t,
            ds_name.as_ref().map(|(d, n)| (*d, n.as_str())),
            pj_name.as_ref().map(|(p, n)| (*p, n.as_str())),
            user.as_ref().map(|(p, n)| (*p, n.as_str())),
            RECORD_TYPES[e.record_type],
            Outcome::ALL[e.outcome].as_str(),
            blob.as_deref(),
            e.purposes.clone(),
        )
    }
}

fn gen_query() -> impl Strategy<Value = SearchQuery> {
    (
        (
            prop::collection::vec(1i64..8, 0..3),
            prop::collection::vec(1i64..6, 0..2),
            prop::collection::vec(-1i64..6, 0..3),
            prop::collection::vec(0usize..5, 0..2),
        ),
        (
            prop::collection::vec(0usize..6, 0..3),
            prop::option::of(0i64..40),
            prop::option::of(0i64..40),
            prop::option::of(0u8..4),
            prop::option::of(0i64..6),
        ),
        (
            prop::option::of(prop::collection::vec(1i64..7, 0..3)),
            0u64..60,
            0usize..40,
            any::<bool>(),
        ),
    )
        .prop_map(
            |((ds, pj, pf, rt), (oc, min, max, blob, purpose), (scope, offset, size, asc))| {
                SearchQuery {
                    data_source_ids: ds,
                    project_ids: pj,
                    profile_ids: pf,
                    record_types: rt
                        .into_iter()
                        .map(|i| {
                            RECORD_TYPES
                                .get(i)
                                .copied()
                                .unwrap_or("unknownType")
                                .to_string()
                        })
                        .collect(),
                    outcomes: oc.into_iter().map(|i| Outcome::ALL[i]).collect(),
                    min_time_ms: min.map(|m| T0 + m),
                    max_time_ms: max.map(|m| T0 + m),
                    blob_id: blob.map(|b| format!("blob{b}")),
                    purpose,
                    scope,
                    offset,
                    size,
                    sort_order: if asc { SortOrder::Asc } else { SortOrder::Desc },
                }
            },
        )
}

/// Checks `q` through both evaluations: the thread pool's (a search alone) and the calling
/// thread's (a search beside others).
fn check(store: &EmbeddedStore, oracle: &Oracle, q: &SearchQuery) -> Result<(), TestCaseError> {
    let pooled = store.search_blocking(q).unwrap();
    let on_this_thread = store.search_on_this_thread_blocking(q).unwrap();
    check_answer(pooled, oracle, q)?;
    check_answer(on_this_thread, oracle, q)?;
    check_cursor_scan(store, oracle, q)
}

fn check_answer(got: SearchAnswer, oracle: &Oracle, q: &SearchQuery) -> Result<(), TestCaseError> {
    let want = oracle.search(q);
    let got_seqs: Vec<u64> = got.hits.iter().map(|h| h.seq).collect();
    prop_assert_eq!(&got_seqs, &want.hit_seqs, "hits for {:?}", q);
    for h in &got.hits {
        let (_, _, doc) = &oracle.events[h.seq as usize - 1];
        prop_assert_eq!(
            &h.document,
            doc,
            "stored document is returned exactly as received"
        );
    }
    prop_assert_eq!(got.count, want.count, "count for {:?}", q);
    prop_assert_eq!(got.min_time_ms, want.min, "minDate for {:?}", q);
    prop_assert_eq!(got.max_time_ms, want.max, "maxDate for {:?}", q);
    prop_assert_eq!(&got.facets, &want.facets, "facets for {:?}", q);
    Ok(())
}

/// `scan_matching` pages of a few sizes, from the start and from a cursor in the middle, bounded
/// below the last sequence, concatenate to the oracle's matching set in sequence order.
fn check_cursor_scan(
    store: &EmbeddedStore,
    oracle: &Oracle,
    q: &SearchQuery,
) -> Result<(), TestCaseError> {
    let last = oracle.events.len() as u64;
    for (after, up_to, page) in [(0, last, 7), (last / 3, last, 1000), (0, last * 2 / 3, 64)] {
        let mut got = Vec::new();
        let mut cursor = after;
        loop {
            let events = store
                .scan_matching_blocking(q, cursor, up_to, page)
                .unwrap();
            prop_assert!(events.len() <= page);
            got.extend(events.iter().map(|e| e.seq));
            match events.last() {
                Some(e) if events.len() == page => cursor = e.seq,
                _ => break,
            }
        }
        let want = oracle.matching_seqs(q, after, up_to);
        prop_assert_eq!(
            &got,
            &want,
            "scan_matching after {} up to {} for {:?}",
            after,
            up_to,
            q
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn search_matches_the_naive_oracle(
        events in prop::collection::vec(gen_event(), 0..400),
        batch_sizes in prop::collection::vec(1usize..90, 1..20),
        queries in prop::collection::vec(gen_query(), 1..10),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with(dir.path(), small_options()).unwrap();
        let mut oracle = Oracle { events: Vec::new() };
        let mut seen = std::collections::HashSet::new();
        let mut rest = events.as_slice();
        let mut sizes = batch_sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let docs: Vec<NewEvent> = batch.iter().map(|e| NewEvent::parse(document(e)).unwrap()).collect();
            let report = store.append_blocking(docs.clone()).unwrap();
            for (ev, r) in docs.into_iter().zip(report.results) {
                match r {
                    AppendResult::Stored { seq } => {
                        prop_assert!(seen.insert(ev.dims.id.clone()), "a repeated id was stored twice");
                        prop_assert_eq!(seq as usize, oracle.events.len() + 1, "sequence numbers are dense");
                        oracle.events.push((seq, ev.dims, ev.document));
                    }
                    AppendResult::Duplicate { seq } => {
                        prop_assert!(seen.contains(&ev.dims.id));
                        prop_assert_eq!(&oracle.events[seq as usize - 1].1.id, &ev.dims.id);
                    }
                }
            }
        }
        // Besides each random query, its record-type, outcome, purpose, data-source and scope
        // filters each alone (with its time range), which sealed blocks answer from per-value
        // facet counts.
        let queries: Vec<SearchQuery> = queries
            .iter()
            .flat_map(|q| {
                let alone = SearchQuery {
                    min_time_ms: q.min_time_ms,
                    max_time_ms: q.max_time_ms,
                    offset: q.offset,
                    size: q.size,
                    sort_order: q.sort_order,
                    ..SearchQuery::new()
                };
                let record_types = SearchQuery { record_types: q.record_types.clone(), ..alone.clone() };
                let outcomes = SearchQuery { outcomes: q.outcomes.clone(), ..alone.clone() };
                let purpose = SearchQuery { purpose: q.purpose, ..alone.clone() };
                let data_sources = SearchQuery { data_source_ids: q.data_source_ids.clone(), ..alone.clone() };
                let scope = SearchQuery { scope: q.scope.clone(), ..alone };
                [q.clone(), record_types, outcomes, purpose, data_sources, scope]
            })
            .collect();
        for q in &queries {
            check(&store, &oracle, q)?;
        }
        drop(store);
        // After the reopen, with every sealed block's derived indexes (per-value counts, time
        // order) built: above, they were built or not as the background thread got to them.
        let reopened = EmbeddedStore::open_with(dir.path(), small_options()).unwrap();
        reopened.prepare_sealed_blocks();
        for q in &queries {
            check(&reopened, &oracle, q)?;
        }
        let mut all = SearchQuery::new();
        all.size = 10;
        check(&reopened, &oracle, &all)?;
    }
}

/// Full-size sealed blocks (65,536 rows) with dense matches take other counting paths (posting
/// list intersections, narrowed columns) than the small blocks above; check them too.
#[test]
fn dense_matches_in_full_size_sealed_blocks_agree_with_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let mut oracle = Oracle { events: Vec::new() };
    let events: Vec<GenEvent> = (0..70_000u32)
        .map(|i| GenEvent {
            id: 0,
            time: (i as i64 * 7919) % 100_000,
            uam: i % 10 == 0,
            // One data source, a seventh of the rows two or three (extra data sources).
            ds: (0..1 + usize::from(i % 7 == 0) + usize::from(i % 21 == 0))
                .map(|j| (1 + ((i as usize + 2 * j) % 6) as i64, (i % 2) as u8))
                .collect(),
            project: (i % 3 == 0).then_some((1 + (i as i64 % 4), 0)),
            profile: Some(i as i64 % 300),
            record_type: (i as usize * 31) % 4,
            outcome: (i as usize * 17) % 6,
            blob: None,
            // Dense purposes (1 to 4, a fifth of the rows holding two), a sparse one (5).
            purposes: (i % 5 != 4).then(|| {
                let mut p = vec![1 + (i as i64 % 4)];
                if i % 5 == 0 {
                    p.push(1 + (i as i64 + 1) % 4);
                }
                if i % 50 == 1 {
                    p.push(5);
                }
                p
            }),
        })
        .collect();
    for (chunk_no, chunk) in events.chunks(5_000).enumerate() {
        let docs: Vec<NewEvent> = chunk
            .iter()
            .enumerate()
            .map(|(j, e)| {
                NewEvent::parse(document(e).replacen(
                    "\"e0\"",
                    &format!("\"d{}\"", chunk_no * 5_000 + j),
                    1,
                ))
                .unwrap()
            })
            .collect();
        let report = store.append_blocking(docs.clone()).unwrap();
        assert_eq!(report.stored, 5_000);
        for (ev, r) in docs.into_iter().zip(report.results) {
            let AppendResult::Stored { seq } = r else {
                panic!("unexpected duplicate")
            };
            oracle.events.push((seq, ev.dims, ev.document));
        }
    }
    let mut queries = vec![SearchQuery::new()];
    let mut q = SearchQuery::new();
    q.record_types = vec!["sqlQuery".into()];
    queries.push(q.clone());
    q.data_source_ids = vec![2, 3];
    queries.push(q);
    let mut q = SearchQuery::new();
    q.outcomes = vec![Outcome::Success, Outcome::UserError];
    q.min_time_ms = Some(T0 + 10_000);
    q.sort_order = SortOrder::Asc;
    queries.push(q);
    // One counted dimension alone, over whole blocks: answered from per-value facet counts.
    let mut q = SearchQuery::new();
    q.outcomes = vec![Outcome::Failure];
    queries.push(q.clone());
    q.outcomes = vec![Outcome::UserError, Outcome::Success, Outcome::UserError];
    q.min_time_ms = Some(T0 - 1);
    q.max_time_ms = Some(T0 + 1_000_000);
    queries.push(q);
    let mut q = SearchQuery::new();
    q.record_types = vec!["apiKey".into(), "SnowflakeQuery".into(), "apiKey".into()];
    queries.push(q);
    for data_sources in [vec![2], vec![1, 3, 5], vec![3, 1, 3]] {
        let mut q = SearchQuery::new();
        q.data_source_ids = data_sources.clone();
        queries.push(q.clone());
        q.max_time_ms = Some(T0 + 60_000);
        queries.push(q);
        let mut q = SearchQuery::new();
        q.scope = Some(data_sources);
        queries.push(q);
    }
    for purpose in [2, 5] {
        let mut q = SearchQuery::new();
        q.purpose = Some(purpose);
        queries.push(q.clone());
        q.max_time_ms = Some(T0 + 60_000);
        queries.push(q);
    }
    // Pages that walk a block's time order: a narrow time range (matches bunched in time),
    // a deep offset over every row, and both orders.
    let mut q = SearchQuery::new();
    q.min_time_ms = Some(T0 + 20_000);
    q.max_time_ms = Some(T0 + 20_999);
    queries.push(q.clone());
    q.sort_order = SortOrder::Asc;
    q.record_types = vec!["sqlQuery".into()];
    queries.push(q);
    let mut q = SearchQuery::new();
    q.offset = 30_000;
    q.size = 100;
    queries.push(q.clone());
    q.sort_order = SortOrder::Asc;
    queries.push(q);
    for q in &queries {
        check(&store, &oracle, q).unwrap();
    }
    drop(store);
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    reopened.prepare_sealed_blocks();
    for q in &queries {
        check(&reopened, &oracle, q).unwrap();
    }
}
