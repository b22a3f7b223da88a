use std::sync::Arc;

use serde_json::json;
use sha2::Digest;
use trail_model::{SearchQuery, SortOrder};
use trail_postgres::{testdb, PgOptions, PostgresStore};
use trail_store::{
    AppendResult, AuditStore, MetadataStore, NewEvent, NewUser, Permission, StoreError,
};

async fn store(prefix: &str) -> (PostgresStore, String) {
    let url = testdb::fresh_database(prefix).await.expect("test database");
    (PostgresStore::connect(&url).await.expect("connect"), url)
}

fn legacy(id: &str, time_ms: i64, ds: &[(i64, Option<&str>)], user: Option<(i64, &str)>) -> String {
    let mut v = json!({
        "id": id,
        "dateTime": time_ms.to_string(),
        "recordType": "sqlQuery",
        "userId": user.map(|u| u.1),
        "profileId": user.map(|u| u.0),
        "success": true,
    });
    if let Some((id, name)) = ds.first() {
        v["dataSourceId"] = json!(id);
        v["dataSourceName"] = json!(name);
    }
    v.to_string()
}

fn ev(doc: &str) -> NewEvent {
    NewEvent::parse(doc.to_string()).expect("valid event")
}

#[tokio::test]
async fn documents_come_back_byte_identical_with_dense_seqs_and_the_sha256_of_their_bytes() {
    let (s, _) = store("bytes").await;
    // Odd spacing, key order jsonb would change, unicode, and a NUL escape jsonb refuses.
    let docs = [
        "{ \"recordType\":\"sqlQuery\",  \"id\":\"a\", \"dateTime\":\"1700000000000\" }",
        r#"{"id":"b","dateTime":"1700000000001","recordType":"sqlQuery","userId":"\u00e9l\u00e8ve","profileId":3}"#,
        r#"{"id":"c","dateTime":"1700000000002","recordType":"sqlQuery","note":"nul \u0000 here"}"#,
    ];
    let r = s
        .append(docs.iter().map(|d| ev(d)).collect())
        .await
        .unwrap();
    assert_eq!(r.stored, 3);
    assert_eq!(
        r.results,
        (1..=3)
            .map(|seq| AppendResult::Stored { seq })
            .collect::<Vec<_>>()
    );
    for (i, (id, doc)) in ["a", "b", "c"].iter().zip(docs).enumerate() {
        let got = s.get(id).await.unwrap().expect("stored");
        assert_eq!(got.document, doc, "document {id} byte-identical");
        assert_eq!(got.seq, i as u64 + 1);
        let want: [u8; 32] = sha2::Sha256::digest(doc.as_bytes()).into();
        assert_eq!(got.hash, want);
    }
    assert!(s.get("nope").await.unwrap().is_none());
    // Duplicates: within the batch and against stored events, with the first one's seq.
    let r = s
        .append(vec![
            ev(&legacy("d", 1, &[], None)),
            ev(&legacy("a", 1, &[], None)),
            ev(&legacy("d", 2, &[], None)),
        ])
        .await
        .unwrap();
    assert_eq!(
        r.results,
        vec![
            AppendResult::Stored { seq: 4 },
            AppendResult::Duplicate { seq: 1 },
            AppendResult::Duplicate { seq: 4 },
        ]
    );
    assert_eq!((r.stored, r.duplicates), (1, 2));
    let st = s.stats().await.unwrap();
    assert_eq!((st.events, st.last_seq), (4, 4));
    let scanned: Vec<u64> = s.scan(1, 10).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(scanned, vec![2, 3, 4]);
}

#[tokio::test]
async fn events_of_any_month_and_outside_the_partitioned_years_are_stored_and_found() {
    let (s, url) = store("months").await;
    // 1969 (default partition), 2001, 2026, 2250 (default partition).
    let times = [
        -86_400_000_i64,
        980_000_000_000,
        1_790_000_000_000,
        8_800_000_000_000,
    ];
    let batch = times
        .iter()
        .enumerate()
        .map(|(i, t)| ev(&legacy(&format!("m{i}"), *t, &[(7, Some("seven"))], None)))
        .collect();
    s.append(batch).await.unwrap();
    let mut q = SearchQuery::new();
    q.sort_order = SortOrder::Asc;
    let a = s.search(q).await.unwrap();
    assert_eq!(a.count, 4);
    assert_eq!(
        a.hits.iter().map(|h| h.event_time_ms).collect::<Vec<_>>(),
        times.to_vec()
    );
    assert_eq!(
        (a.min_time_ms, a.max_time_ms),
        (Some(times[0]), Some(times[3]))
    );
    // The months got their own partitions; the out-of-range ones went to the default.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let parts: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'trail_events'::regclass",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for p in [
        "trail_events_2001_01",
        "trail_events_2026_09",
        "trail_events_default",
    ] {
        assert!(parts.iter().any(|x| x == p), "{p} in {parts:?}");
    }
    let in_default: i64 = client
        .query_one("SELECT count(*) FROM trail_events_default", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_default, 2);
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_with_a_clear_error() {
    let (s, url) = store("newer").await;
    drop(s);
    // Migrating again is a no-op.
    PostgresStore::connect(&url)
        .await
        .expect("second start on the same schema");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "INSERT INTO trail_schema_migrations VALUES (9999, 'from the future', 0)",
            &[],
        )
        .await
        .unwrap();
    match PostgresStore::connect(&url).await {
        Err(StoreError::Database(m)) => {
            assert!(m.contains("9999") && m.contains("newer"), "{m}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started on a newer schema"),
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable_not_an_internal_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let opts = PgOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        ..PgOptions::default()
    };
    match PostgresStore::connect_with(&format!("postgres://trail@127.0.0.1:{port}/x"), opts).await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("PostgreSQL"), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("connected to nothing"),
    }
    match PostgresStore::connect("not a url").await {
        Err(StoreError::Invalid(m)) => assert!(m.contains("postgres://"), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("accepted a bad URL"),
    }
}

#[tokio::test]
async fn two_pools_appending_at_once_get_one_gap_free_sequence() {
    let (a, url) = store("twopools").await;
    let a = Arc::new(a);
    let b = Arc::new(PostgresStore::connect(&url).await.unwrap());
    let mut tasks = Vec::new();
    for (n, s) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..4 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for k in 0..10 {
                    // Overlapping ids between the two nodes: each is stored once.
                    let batch = (0..20)
                        .map(|i| {
                            ev(&legacy(
                                &format!("e{t}-{k}-{i}"),
                                1_700_000_000_000 + i,
                                &[],
                                None,
                            ))
                        })
                        .collect();
                    s.append(batch).await.unwrap();
                }
                n
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = a.scan(0, 10_000).await.unwrap();
    assert_eq!(all.len(), 4 * 10 * 20, "each id once");
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=800).collect::<Vec<_>>(), "gap-free");
    assert_eq!(b.stats().await.unwrap().last_seq, 800);
}

#[tokio::test]
async fn latest_names_win_and_an_event_without_a_name_keeps_the_old_one() {
    let (s, _) = store("names").await;
    s.append(vec![
        ev(&legacy("1", 10, &[(5, Some("old"))], Some((9, "u-old")))),
        ev(&legacy("2", 20, &[(5, Some("new"))], Some((9, "u-new")))),
    ])
    .await
    .unwrap();
    s.append(vec![ev(&legacy("3", 30, &[(5, None)], None))])
        .await
        .unwrap();
    let a = s.search(SearchQuery::new()).await.unwrap();
    assert_eq!(a.facets.datasources.len(), 1);
    assert_eq!(a.facets.datasources[0].name.as_deref(), Some("new"));
    assert_eq!(a.facets.datasources[0].count, 3);
    assert_eq!(a.facets.users[0].name.as_deref(), Some("u-new"));
}

#[tokio::test]
async fn keys_hash_only_authenticate_and_revoke() {
    let (s, url) = store("keys").await;
    let u = s
        .create_user(NewUser {
            user_id: "ann@example.com".into(),
            email: None,
            name: "Ann".into(),
            permissions: vec![Permission::Audit],
            owned_data_sources: vec![3, 4],
        })
        .await
        .unwrap();
    let dup = s
        .create_user(NewUser {
            user_id: "ann@example.com".into(),
            ..Default::default()
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(m)) if m.contains(&u.profile_id.to_string())));
    let (info, secret) = s.create_key(u.profile_id, "k").await.unwrap();
    let (who, key) = s.authenticate(&secret).await.unwrap().expect("live key");
    assert_eq!((who, key.id.clone()), (u.clone(), info.id.clone()));
    assert!(s.authenticate("wrong").await.unwrap().is_none());
    // Only the hash is in the database.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let leaked: i64 = client
        .query_one(
            "SELECT count(*) FROM trail_api_keys WHERE position($1::bytea in hash) > 0",
            &[&secret.as_bytes()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);
    assert!(matches!(
        s.create_key(999, "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.import_key(u.profile_id, "short", "too-short").await,
        Err(StoreError::Invalid(_))
    ));
    let revoked = s.revoke_key(&info.id).await.unwrap();
    assert!(revoked.revoked_ms.is_some());
    assert!(s.authenticate(&secret).await.unwrap().is_none());
    assert!(matches!(
        s.revoke_key("abc").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.list_keys(Some(u.profile_id)).await.unwrap(),
        vec![revoked]
    );
}
