//! People written straight into the store, for tests that need an identity
//! without running a directory sync.

use clavis_core::{AuthenticatorKind, AuthenticatorStatus, LifecycleStatus, Oid};
use clavis_store::models::{AuthenticatorRow, IdentityRow};
use clavis_store::{Db, JsonList};

/// Inserts an identity with this status and returns its oid.
pub async fn insert_person(
    db: &Db,
    family_name: &str,
    given_name: &str,
    status: LifecycleStatus,
) -> Oid {
    let oid = Oid::new_random();
    let mut conn = db.conn().await.expect("conn");
    IdentityRow::insert_all(
        &mut conn,
        vec![IdentityRow {
            oid,
            status,
            birth_family_name: family_name.into(),
            used_family_name: None,
            birth_given_names: vec![given_name.to_string()].into(),
            birth_date: Some("1990-01-01".into()),
            birth_place: None,
            birth_country: None,
            sex: None,
            email: None,
            phone: None,
            rpps: None,
            adeli: None,
            contract_type: None,
            arrival_date: None,
            departure_date: None,
            professions: JsonList::default(),
            search_text: clavis_core::names::normalize_search_text(&format!(
                "{family_name} {given_name}"
            )),
            created_at: 0,
            updated_at: 0,
            status_changed_at: 0,
        }],
    )
    .await
    .expect("insert identity");
    oid
}

/// Inserts an active FIDO2 key `id` of `oid`, labelled "Clé bleue", with a
/// placeholder credential (for tests about what revoking or listing a key
/// does, not about signing with it), and returns it.
pub async fn insert_key(db: &Db, oid: Oid, id: &str) -> AuthenticatorRow {
    let key = AuthenticatorRow {
        id: id.into(),
        oid,
        kind: AuthenticatorKind::Fido2,
        credential_id: format!("cred-{id}"),
        credential: "{}".into(),
        aaguid: None,
        label: "Clé bleue".into(),
        status: AuthenticatorStatus::Active,
        status_reason: None,
        created_at: 0,
        last_used_at: None,
    };
    let mut conn = db.conn().await.expect("conn");
    key.insert(&mut conn).await.expect("insert key");
    key
}

/// Inserts an active permanent badge `id` of `oid` (a placeholder UID and
/// reference derived from `id`: for tests about what revoking or listing
/// a badge does, not about reading a card), and returns it.
pub async fn insert_badge(db: &Db, oid: Oid, id: &str) -> clavis_store::models::BadgeRow {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(id.as_bytes()));
    let badge = clavis_store::models::BadgeRow {
        id: id.into(),
        oid,
        uid: digest[..14].to_uppercase(),
        reference_hash: digest,
        key_version: 1,
        kind: clavis_core::BadgeKind::Permanent,
        status: clavis_core::BadgeStatus::Active,
        status_reason: None,
        expires_at: None,
        created_at: 0,
        created_by: clavis_core::Actor::Cli("it".into()),
        last_used_at: None,
    };
    let mut conn = db.conn().await.expect("conn");
    badge.insert(&mut conn).await.expect("insert badge");
    badge
}
