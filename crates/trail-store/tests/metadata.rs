//! Users and keys in redb: hashes only, revocation, persistence.

use trail_store::{NewUser, Permission};

use crate::support::open_small;

#[test]
fn keys_authenticate_until_revoked_and_only_hashes_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let meta = store.metadata();
    let user = meta
        .create_user_sync(NewUser {
            user_id: "katie@example.com".into(),
            email: Some("katie@example.com".into()),
            name: "Katie".into(),
            permissions: vec![Permission::Audit],
            owned_data_sources: vec![],
        })
        .unwrap();
    let (info, secret) = meta.create_key_sync(user.profile_id, "laptop").unwrap();
    assert_eq!(secret.len(), 64, "256 bits, hex");
    let (u, k) = meta.authenticate_sync(&secret).unwrap().expect("valid key");
    assert_eq!(
        (u.profile_id, k.id.clone()),
        (user.profile_id, info.id.clone())
    );
    assert!(meta.authenticate_sync("not-a-key").unwrap().is_none());
    drop(meta);
    drop(store);
    let raw = std::fs::read(dir.path().join("meta.redb")).unwrap();
    assert!(
        !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret itself is never written"
    );
    let store = open_small(dir.path());
    let meta = store.metadata();
    assert!(
        meta.authenticate_sync(&secret).unwrap().is_some(),
        "keys survive a restart"
    );
    meta.revoke_key_sync(&info.id).unwrap();
    assert!(meta.authenticate_sync(&secret).unwrap().is_none());
    assert!(
        meta.create_user_sync(NewUser {
            user_id: "katie@example.com".into(),
            ..Default::default()
        })
        .is_err(),
        "userIds are unique"
    );
}
