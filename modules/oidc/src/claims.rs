//! What an ID token and userinfo say about a person, by scope:
//!
//! | scope | claims |
//! |---|---|
//! | `openid` | `sub` (the identity's `oid`) |
//! | `profile` | `family_name` (used name, else birth name), `given_name` (first given name), `name`, `preferred_username` (login) |
//! | `email` | `email` |
//! | `rpps` | national id (`8` + RPPS), RPPS, professions (TRE_G15 code and label) |
//! | `roles` | the person's roles in the requesting application |
//!
//! The names of the last four are configurable ([`crate::ClaimNames`]).
//! A client receives only the scopes it was registered for.

use crate::ClaimNames;
use clavis_core::ClientId;
use clavis_store::models::{Account, HabilitationRow, IdentityRow};
use clavis_store::{DbConn, StoreError};
use serde_json::{Map, Value, json};

/// TRE_G15 (ProfessionSante) labels of the professions Clavis knows by
/// name; other codes are sent with the code as label.
pub fn profession_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "10" => "Médecin",
        "21" => "Pharmacien",
        "26" => "Audioprothésiste",
        "28" => "Opticien-Lunetier",
        "31" => "Assistant dentaire",
        "32" => "Physicien médical",
        "40" => "Chirurgien-Dentiste",
        "50" => "Sage-Femme",
        "60" => "Infirmier",
        "69" => "Infirmier psychiatrique",
        "70" => "Masseur-Kinésithérapeute",
        "80" => "Pédicure-Podologue",
        "81" => "Orthoprothésiste",
        "82" => "Podo-Orthésiste",
        "83" => "Orthopédiste-Orthésiste",
        "84" => "Oculariste",
        "85" => "Epithésiste",
        "86" => "Technicien de laboratoire médical",
        "91" => "Orthophoniste",
        "92" => "Orthoptiste",
        "94" => "Ergothérapeute",
        "95" => "Diététicien",
        "96" => "Psychomotricien",
        "98" => "Manipulateur ERM",
        _ => return None,
    })
}

/// The claims of `identity` for `client_id` under `scopes` at `now`
/// (without the protocol claims `iss`, `aud`, `exp`…). `sub` is always
/// there; `roles` holds the habilitations in force on `now`'s local day.
pub async fn for_identity(
    conn: &mut DbConn,
    identity: &IdentityRow,
    client_id: &ClientId,
    scopes: &[&str],
    names: &ClaimNames,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Map<String, Value>, StoreError> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(identity.oid));
    let has = |s: &str| scopes.contains(&s);
    if has("profile") {
        let family = identity
            .used_family_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| identity.birth_family_name.clone());
        // Stored as a JSON list (all birth given names, in order); the
        // first is the one used.
        let given = identity
            .birth_given_names
            .iter()
            .find(|g| !g.is_empty())
            .cloned()
            .unwrap_or_default();
        m.insert("family_name".into(), json!(family));
        m.insert("given_name".into(), json!(given));
        m.insert("name".into(), json!(format!("{given} {family}").trim()));
        let login = Account::for_identity(conn, identity.oid)
            .await?
            .into_iter()
            .filter(|a| a.enabled)
            .map(|a| a.login)
            .min();
        if let Some(login) = login {
            m.insert("preferred_username".into(), json!(login));
        }
    }
    if has("email")
        && let Some(e) = &identity.email
    {
        m.insert("email".into(), json!(e));
    }
    if has("rpps") {
        if let Some(r) = &identity.rpps {
            m.insert(names.national_id.clone(), json!(format!("8{r}")));
            m.insert(names.rpps.clone(), json!(r));
        }
        let professions: Vec<Value> = identity
            .professions
            .iter()
            .map(|c| json!({"code": c, "label": profession_label(c).unwrap_or(c)}))
            .collect();
        m.insert(names.professions.clone(), Value::Array(professions));
    }
    if has("roles") {
        let today = now.with_timezone(&chrono::Local).date_naive().to_string();
        let roles = HabilitationRow::roles(conn, identity.oid, client_id, &today).await?;
        m.insert(names.roles.clone(), json!(roles));
    }
    Ok(m)
}
