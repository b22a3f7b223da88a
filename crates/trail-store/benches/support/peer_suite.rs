//! The peers' query suite (`../shared/bench/queries.json`) as Trail queries, answers in the
//! peers' JSON shape and the comparison with their golden file: shared by the store benchmark
//! and the PostgreSQL one, so both run and check exactly the same suite.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use trail_model::{timefmt, LegacyHit, Outcome, SearchAnswer, SearchQuery, SortOrder};

pub fn shared_bench() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

fn query_from(params: &Value) -> SearchQuery {
    let mut q = SearchQuery::new();
    let ints = |k: &str| {
        params
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default()
    };
    q.data_source_ids = ints("dataSourceId");
    q.project_ids = ints("projectId");
    q.profile_ids = ints("profileId");
    if let Some(rt) = params.get("recordType").and_then(Value::as_str) {
        q.record_types = vec![rt.to_string()];
    }
    if let Some(o) = params.get("outcome").and_then(Value::as_str) {
        q.outcomes = vec![Outcome::parse(o).expect("known outcome")];
    }
    q.min_time_ms = params
        .get("minDate")
        .and_then(Value::as_str)
        .and_then(timefmt::parse_iso_ms);
    q.max_time_ms = params
        .get("maxDate")
        .and_then(Value::as_str)
        .and_then(timefmt::parse_iso_ms);
    q.blob_id = params
        .get("blobId")
        .and_then(Value::as_str)
        .map(str::to_string);
    q.purpose = params.get("purpose").and_then(Value::as_i64);
    q.offset = params.get("offset").and_then(Value::as_u64).unwrap_or(0);
    q.size = params.get("size").and_then(Value::as_u64).unwrap_or(50) as usize;
    if params.get("sortOrder").and_then(Value::as_str) == Some("asc") {
        q.sort_order = SortOrder::Asc;
    }
    q
}

/// The answer in the peers' JSON shape (hits rendered as legacy hits), as the server sends it.
fn render(a: &SearchAnswer) -> Value {
    let hits: Vec<Value> = a
        .hits
        .iter()
        .map(|h| serde_json::to_value(LegacyHit::from_document(&h.document).unwrap()).unwrap())
        .collect();
    let ids = |v: &[trail_model::FacetEntry]| {
        v.iter()
            .map(|f| json!({"name": f.name, "id": f.id, "count": f.count.to_string()}))
            .collect::<Vec<_>>()
    };
    let names = |v: &[trail_model::NameCount]| {
        v.iter()
            .map(|f| json!({"name": f.name, "count": f.count.to_string()}))
            .collect::<Vec<_>>()
    };
    json!({
        "hits": hits,
        "facets": {
            "datasources": ids(&a.facets.datasources),
            "projects": ids(&a.facets.projects),
            "users": ids(&a.facets.users),
            "recordTypes": names(&a.facets.record_types),
            "outcomes": names(&a.facets.outcomes),
        },
        "minDate": a.min_time_ms.map(timefmt::format_iso_ms),
        "maxDate": a.max_time_ms.map(timefmt::format_iso_ms),
        "count": a.count,
    })
}

/// Compares with the peers' answer: page dateTimes, count, min/max and facets (ties within a
/// page may order differently between engines, as the peers' own digest allows).
fn same_as_reference(mine: &Value, reference: &Value) -> bool {
    let times = |v: &Value| {
        v["hits"]
            .as_array()
            .map(|h| h.iter().map(|x| x["dateTime"].clone()).collect::<Vec<_>>())
    };
    times(mine) == times(reference)
        && mine["count"] == reference["count"]
        && mine["minDate"] == reference["minDate"]
        && mine["maxDate"] == reference["maxDate"]
        && mine["facets"] == reference["facets"]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs every query of the suite `runs` times through `search` (timing the search and the
/// rendering of its answer), and reports per query the median and max milliseconds, the count,
/// and whether the answer equals the peers' golden file (at N = 1M, where there is one).
pub fn run(
    n: usize,
    runs: usize,
    mut search: impl FnMut(&SearchQuery) -> SearchAnswer,
) -> Vec<Value> {
    let suite: Value = serde_json::from_str(
        &std::fs::read_to_string(shared_bench().join("queries.json")).unwrap(),
    )
    .unwrap();
    let reference: Option<Value> = (n == 1_000_000)
        .then(|| {
            std::fs::read_to_string(
                shared_bench().join("results/reference_answers_n1000000_seed42.json"),
            )
            .ok()
        })
        .flatten()
        .map(|s| serde_json::from_str(&s).unwrap());
    let mut rows = Vec::new();
    // `TRAIL_BENCH_ONLY=q02,q08` runs just those queries (for profiling one of them).
    let only = std::env::var("TRAIL_BENCH_ONLY").unwrap_or_default();
    for q in suite["queries"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        if !only.is_empty() && !only.split(',').any(|o| name.starts_with(o)) {
            continue;
        }
        let query = query_from(&q["params"]);
        let first = render(&search(&query));
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let body = serde_json::to_vec(&render(&search(&query))).unwrap();
            std::hint::black_box(body);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let matches = reference
            .as_ref()
            .map(|r| same_as_reference(&first, &r[name]));
        rows.push(json!({"name": name, "median_ms": median(times.clone()), "max_ms": times.iter().cloned().fold(0.0, f64::max), "count": first["count"], "matches_reference": matches}));
    }
    rows
}
