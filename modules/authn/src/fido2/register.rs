//! Registering a key: the first from a one-time enrolment link, more from
//! `/me` after a fresh login (the caller checks the login is fresh).
//!
//! Registration requires user verification (the key's PIN) and asks for a
//! discoverable credential where the key can hold one. When the DSI sets
//! an allow-list, the key must prove with an attestation that it is one
//! of the allowed models (AAGUID + vendor CA); a refusal is audited on its
//! own, outside the registration's rolled-back transaction.

use super::enrolment_link::valid_link;
use super::{Challenge, Fido2, b64};
use crate::config::AttestationPolicy;
use crate::error::AuthnError;
use base64::Engine;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, AuthenticatorKind, AuthenticatorStatus, CeremonyKind, LifecycleStatus, Oid,
};
use clavis_store::DbConn;
use clavis_store::models::{AuthenticatorRow, EnrolmentLinkRow, IdentityRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::*;

/// The server half of a registration, kept between its two requests.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
enum RegisterState {
    Plain { state: PasskeyRegistration },
    Attested { state: AttestedPasskeyRegistration },
}

impl Fido2 {
    /// The identity `oid`, if it may enrol a key (not departed nor
    /// suspended).
    pub(super) async fn ensure_can_enrol(
        conn: &mut DbConn,
        oid: Oid,
    ) -> Result<IdentityRow, AuthnError> {
        let identity = IdentityRow::find(conn, oid)
            .await?
            .ok_or(AuthnError::InvalidLink)?;
        if matches!(
            identity.status,
            LifecycleStatus::Departed | LifecycleStatus::Suspended
        ) {
            return Err(AuthnError::InvalidLink);
        }
        Ok(identity)
    }

    /// The options for the browser and the state to keep, excluding the
    /// keys the person already has.
    fn start_registration(
        &self,
        identity: &IdentityRow,
        existing: &[AuthenticatorRow],
    ) -> Result<(CreationChallengeResponse, RegisterState), AuthnError> {
        let user = identity.oid.as_uuid();
        let given = &identity.birth_given_names;
        let display = format!(
            "{} {}",
            given.first().map(String::as_str).unwrap_or(""),
            identity
                .used_family_name
                .as_deref()
                .unwrap_or(&identity.birth_family_name)
        );
        let exclude: Vec<CredentialID> = existing
            .iter()
            .filter_map(|a| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(&a.credential_id)
                    .ok()
            })
            .collect();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (mut ccr, state) = match (&self.cfg.attestation, &self.ca_list) {
            (AttestationPolicy::AllowList, Some(list)) => {
                let (ccr, s) = self.webauthn.start_attested_passkey_registration(
                    user,
                    &identity.oid.to_string(),
                    &display,
                    exclude,
                    list.clone(),
                    None,
                )?;
                (ccr, RegisterState::Attested { state: s })
            }
            _ => {
                let (ccr, s) = self.webauthn.start_passkey_registration(
                    user,
                    &identity.oid.to_string(),
                    &display,
                    exclude,
                )?;
                (ccr, RegisterState::Plain { state: s })
            }
        };
        // Ask for a discoverable credential (username-less login) where the
        // key can hold one; keys that cannot still work username-first.
        if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
            sel.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
            sel.user_verification = webauthn_rs_proto::UserVerificationPolicy::Required;
        }
        Ok((ccr, state))
    }

    /// Starts enrolling a key from an enrolment link.
    pub async fn begin_enrolment(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        link_token: &str,
    ) -> Result<Challenge<CreationChallengeResponse>, AuthnError> {
        let link = valid_link(conn, now, link_token).await?;
        self.begin_registration_for(conn, now, link.oid, Some(link.token_hash))
            .await
    }

    /// Starts adding a key for a signed-in identity (the caller checks the
    /// login is fresh).
    pub async fn begin_registration_for(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        oid: Oid,
        link_hash: Option<String>,
    ) -> Result<Challenge<CreationChallengeResponse>, AuthnError> {
        let identity = Self::ensure_can_enrol(conn, oid).await?;
        let existing = AuthenticatorRow::for_identity(conn, oid).await?;
        let (ccr, state) = self.start_registration(&identity, &existing)?;
        let stored = json!({"state": state, "link": link_hash});
        let ceremony =
            Self::store_ceremony(conn, now, CeremonyKind::Register, Some(oid), &stored).await?;
        Ok(Challenge {
            ceremony,
            options: ccr,
        })
    }

    /// Finishes a registration; returns the new authenticator's id. For a
    /// link ceremony the link is consumed in the same transaction.
    pub async fn finish_registration(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ceremony: &str,
        response: &RegisterPublicKeyCredential,
        label: &str,
        actor: &Actor,
    ) -> Result<String, AuthnError> {
        let added = conn
            .transaction(async |tx| {
                self.finish_registration_tx(tx, now, ceremony, response, label, actor)
                    .await
            })
            .await;
        if let Err(AuthnError::ModelNotAllowed) = added {
            // The refusal itself is audited, outside the failed work.
            clavis_audit::append_now(
                conn,
                now,
                vec![AuditEvent::new(
                    actor,
                    AuditAction::KeyRefused,
                    None,
                    json!({"reason": "model_not_allowed"}),
                )],
            )
            .await?;
        }
        added
    }

    async fn finish_registration_tx(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ceremony: &str,
        response: &RegisterPublicKeyCredential,
        label: &str,
        actor: &Actor,
    ) -> Result<String, AuthnError> {
        let row = Self::take_ceremony(conn, now, CeremonyKind::Register, ceremony).await?;
        let oid = row.oid.ok_or(AuthnError::CeremonyExpired)?;
        #[derive(Deserialize)]
        struct Stored {
            state: RegisterState,
            link: Option<String>,
        }
        let stored: Stored =
            serde_json::from_str(&row.state).map_err(|e| AuthnError::Corrupt(e.to_string()))?;
        Self::ensure_can_enrol(conn, oid).await?;
        let (passkey, aaguid): (Passkey, Option<String>) = match &stored.state {
            RegisterState::Plain { state } => (
                self.webauthn.finish_passkey_registration(response, state)?,
                None,
            ),
            RegisterState::Attested { state } => {
                let attested = self
                    .webauthn
                    .finish_attested_passkey_registration(response, state)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "attestation refused");
                        AuthnError::ModelNotAllowed
                    })?;
                let aaguid = match attested.attestation().metadata {
                    AttestationMetadata::Packed { aaguid }
                    | AttestationMetadata::Tpm { aaguid, .. } => Some(aaguid.to_string()),
                    _ => None,
                };
                (attested.into(), aaguid)
            }
        };
        if let Some(link) = &stored.link
            && !EnrolmentLinkRow::mark_used(conn, link, now.timestamp()).await?
        {
            return Err(AuthnError::InvalidLink);
        }
        let cred_id = b64(passkey.cred_id());
        if AuthenticatorRow::find_by_credential(conn, &cred_id)
            .await?
            .is_some()
        {
            return Err(AuthnError::AlreadyEnrolled);
        }
        let id = clavis_core::ids::new_record_id();
        let label: String = label.trim().chars().take(64).collect();
        AuthenticatorRow {
            id: id.clone(),
            oid,
            kind: AuthenticatorKind::Fido2,
            credential_id: cred_id,
            credential: serde_json::to_string(&passkey)
                .map_err(|e| AuthnError::Corrupt(e.to_string()))?,
            aaguid: aaguid.clone(),
            label: if label.is_empty() {
                "Clé de sécurité".into()
            } else {
                label
            },
            status: AuthenticatorStatus::Active,
            status_reason: None,
            created_at: now.timestamp(),
            last_used_at: None,
        }
        .insert(conn)
        .await?;
        let mut events = vec![AuditEvent::new(
            actor,
            AuditAction::KeyAdded,
            Some(oid.to_string()),
            json!({"authenticator_id": id, "aaguid": aaguid}),
        )];
        if stored.link.is_some() {
            events.push(AuditEvent::new(
                actor,
                AuditAction::EnrolmentLinkUsed,
                Some(oid.to_string()),
                json!({"authenticator_id": id}),
            ));
        }
        clavis_audit::append(conn, now, events).await?;
        Ok(id)
    }
}
