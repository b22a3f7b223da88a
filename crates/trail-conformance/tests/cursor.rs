//! `scan_matching`, the cursor behind exports, on both backends: pages of a fixed prefix
//! concatenate to exactly the matching set, whatever is appended meanwhile, and the packed form
//! (`scan_matching_packed`) holds the same events.

use std::sync::Arc;

use tempfile::TempDir;
use trail_model::{Outcome, SearchQuery, SortOrder};
use trail_store::embedded::EmbeddedStore;
use trail_store::{AuditStore, NewEvent};

use crate::support::{fixture, postgres_store, Spec};

fn events(specs: &[Spec]) -> Vec<NewEvent> {
    specs
        .iter()
        .map(|s| NewEvent::parse(s.doc().to_string()).expect("fixture event"))
        .collect()
}

fn queries() -> Vec<SearchQuery> {
    let mut v = Vec::new();
    v.push(SearchQuery::new());
    let mut q = SearchQuery::new();
    q.data_source_ids = vec![1, 3];
    v.push(q);
    let mut q = SearchQuery::new();
    q.scope = Some(vec![2]);
    q.outcomes = vec![Outcome::Failure, Outcome::Success];
    v.push(q);
    let mut q = SearchQuery::new();
    q.purpose = Some(17);
    q.min_time_ms = Some(crate::support::T0 + 30 * 60_000);
    v.push(q);
    v
}

async fn check(store: Arc<dyn AuditStore>, name: &str) {
    let specs = fixture(300);
    store.append(events(&specs[..200])).await.unwrap();
    let up_to = store.stats().await.unwrap().last_seq;
    assert_eq!(up_to, 200, "{name}");
    for (qi, q) in queries().into_iter().enumerate() {
        let mut all = q.clone();
        all.size = 10_000;
        all.sort_order = SortOrder::Asc;
        let want: Vec<u64> = {
            let mut seqs: Vec<u64> = store
                .search(all)
                .await
                .unwrap()
                .hits
                .iter()
                .map(|h| h.seq)
                .filter(|s| *s <= up_to)
                .collect();
            seqs.sort_unstable();
            seqs
        };
        assert!(!want.is_empty(), "{name}: query {qi} matches something");
        // Pages of 7, with appends between pages that must not show up.
        let mut got = Vec::new();
        let mut after = 0;
        let mut extra = 200;
        loop {
            let page = store
                .scan_matching(q.clone(), after, up_to, 7)
                .await
                .unwrap();
            assert!(
                page.windows(2).all(|w| w[0].seq < w[1].seq),
                "{name}: ascending"
            );
            got.extend(page.iter().map(|e| e.seq));
            let packed = store
                .scan_matching_packed(q.clone(), after, up_to, 7)
                .await
                .unwrap();
            let unpacked: Vec<_> = (0..packed.events.len())
                .map(|i| packed.to_stored(i).unwrap())
                .collect();
            assert_eq!(
                unpacked, page,
                "{name}: the packed page is the same events, documents byte for byte"
            );
            if extra < 300 {
                store
                    .append(events(&specs[extra..extra + 10]))
                    .await
                    .unwrap();
                extra += 10;
            }
            match page.last() {
                Some(last) if page.len() == 7 => after = last.seq,
                _ => break,
            }
        }
        assert_eq!(got, want, "{name}: query {qi}");
        // Re-append the same events for the next query: all duplicates, nothing changes.
        let r = store.append(events(&specs[200..extra])).await.unwrap();
        assert_eq!(r.stored, 0, "{name}");
    }
}

#[tokio::test]
async fn scan_matching_pages_concatenate_to_the_matching_prefix_on_the_embedded_store() {
    let dir = TempDir::new().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    check(Arc::new(store), "embedded").await;
}

#[tokio::test]
async fn scan_matching_pages_concatenate_to_the_matching_prefix_on_postgres() {
    check(postgres_store("cursor").await, "postgres").await;
}
