//! What an audit event records: the closed list of audited actions.
//!
//! Stored as the dotted strings the log has always held, so the hash chain
//! of earlier events is unchanged. `docs/operations.md` lists them for
//! operators; a new audited action is a new variant here, so the list and
//! the code cannot drift apart.

use crate::text_enum;

text_enum! {
    /// An audited action.
    pub enum AuditAction: "audit action" {
        /// A directory account (login) was created for an identity.
        AccountCreated = "account.created",
        /// A directory account changed (login, source attributes).
        AccountUpdated = "account.updated",
        /// A directory account was disabled (by its source, or a departure).
        AccountDisabled = "account.disabled",
        /// A disabled directory account was enabled again by its source.
        AccountEnabled = "account.enabled",
        /// A source gave a login another identity already holds.
        AccountConflict = "account.conflict",
        /// An identity was created from a source record.
        IdentityCreated = "identity.created",
        /// Attributes or the lifecycle state of an identity changed.
        IdentityUpdated = "identity.updated",
        /// The terms of a manual identity (a person outside HR) were set:
        /// sponsor, reason, end date.
        ManualTermsSet = "identity.manual_terms",
        /// An operator suspended a person (with a reason).
        IdentitySuspended = "identity.suspended",
        /// An operator lifted the suspension they or another placed.
        IdentityReinstated = "identity.reinstated",
        /// An identity's service, unit or professions changed (a move).
        IdentityAssignmentChanged = "identity.assignment_changed",
        /// A source record was joined to an identity.
        SourceRecordLinked = "source_record.linked",
        /// A source stopped listing a person.
        SourceRecordMissing = "source_record.missing",
        /// A reconciliation case was opened for an operator.
        CaseOpened = "case.opened",
        /// An operator resolved a reconciliation case.
        CaseResolved = "case.resolved",
        /// An operator started a sync run from the console.
        SyncRequested = "sync.requested",
        /// A sync run finished.
        SyncFinished = "sync.finished",
        /// A sync run failed and changed nothing of its failing batch.
        SyncFailed = "sync.failed",
        /// An operator role was granted.
        RoleGranted = "role.granted",
        /// An operator role was withdrawn.
        RoleRevoked = "role.revoked",
        /// An application role (habilitation) was granted.
        HabilitationGranted = "habilitation.granted",
        /// An application role (habilitation) was withdrawn.
        HabilitationRevoked = "habilitation.revoked",
        /// A review campaign of habilitations was opened.
        ReviewOpened = "review.opened",
        /// A reviewer kept or removed a habilitation.
        ReviewDecided = "review.decided",
        /// A review campaign was closed.
        ReviewClosed = "review.closed",
        /// An admin API token was created.
        ApiTokenCreated = "api_token.created",
        /// An admin API token was revoked.
        ApiTokenRevoked = "api_token.revoked",
        /// A backup copy of the database was taken (`clavis backup`).
        BackupTaken = "backup.taken",
        /// The database was restored from a backup copy (`clavis restore`);
        /// recorded in the restored database.
        BackupRestored = "backup.restored",
        /// A FIDO2 enrolment link was issued.
        EnrolmentLinkIssued = "enrolment_link.issued",
        /// A FIDO2 enrolment link was used to register a key.
        EnrolmentLinkUsed = "enrolment_link.used",
        /// A FIDO2 key was registered.
        KeyAdded = "key.added",
        /// A FIDO2 key was refused at registration (model not allowed…).
        KeyRefused = "key.refused",
        /// A FIDO2 key was removed.
        KeyRemoved = "key.removed",
        /// A FIDO2 key was suspended with its holder.
        KeySuspended = "key.suspended",
        /// A FIDO2 key suspended with its holder was made usable again when
        /// their suspension was lifted.
        KeyRestored = "key.restored",
        /// A login succeeded and opened a session.
        LoginSucceeded = "login.succeeded",
        /// A login was refused.
        LoginFailed = "login.failed",
        /// An SSO session was opened.
        SessionCreated = "session.created",
        /// An SSO session ended (logout, expiry, departure, revocation…).
        SessionEnded = "session.ended",
        /// A badge was personalised and recorded for a holder.
        BadgeIssued = "badge.issued",
        /// The badge office began personalising a card.
        BadgeEnrolmentStarted = "badge.enrolment_started",
        /// Personalising a card failed.
        BadgeEnrolmentFailed = "badge.enrolment_failed",
        /// A card failed the DESFire check at login.
        BadgeCheckFailed = "badge.check_failed",
        /// A recognised badge was refused (revoked, suspended, expired…).
        BadgeRefused = "badge.refused",
        /// A badge's keys were brought to the current version.
        BadgeRekeyed = "badge.rekeyed",
        /// Bringing a badge's keys to the current version failed.
        BadgeRekeyFailed = "badge.rekey_failed",
        /// A badge was suspended.
        BadgeSuspended = "badge.suspended",
        /// A badge suspended with its holder was made usable again when their
        /// suspension was lifted.
        BadgeRestored = "badge.restored",
        /// A badge was revoked.
        BadgeRevoked = "badge.revoked",
        /// A holder's PIN was set or replaced.
        BadgePinSet = "badge.pin_set",
        /// A wrong PIN was entered.
        BadgePinFailed = "badge.pin_failed",
        /// Too many wrong PINs: the holder's PIN is locked for a while.
        BadgePinLocked = "badge.pin_locked",
        /// An operator lifted a PIN lock.
        BadgePinUnlocked = "badge.pin_unlocked",
        /// A workstation was registered for badge login.
        WorkstationRegistered = "workstation.registered",
        /// A workstation's agent credential was replaced.
        WorkstationCredentialRotated = "workstation.credential_rotated",
        /// A workstation was revoked.
        WorkstationRevoked = "workstation.revoked",
        /// An OpenID client was registered.
        OidcClientAdded = "oidc.client.added",
        /// An OpenID client was removed.
        OidcClientRemoved = "oidc.client.removed",
        /// An OpenID client's registration changed (e.g. marked as Pro
        /// Santé Connect).
        OidcClientUpdated = "oidc.client.updated",
        /// An OpenID client's secret was replaced.
        OidcClientSecretRotated = "oidc.client.secret_rotated",
        /// A `private_key_jwt` assertion was presented a second time.
        OidcClientAssertionReplayed = "oidc.client_assertion.replayed",
        /// An authorization code was issued to a client. Written until codes
        /// were sealed (they write nothing now: `oidc.tokens.issued` says
        /// what the authorisation was); older journals hold it.
        OidcAuthorized = "oidc.authorized",
        /// Tokens were issued at the token endpoint.
        OidcTokensIssued = "oidc.tokens.issued",
        /// An authorization code was presented a second time (its tokens are revoked).
        OidcCodeReplayed = "oidc.code.replayed",
        /// A rotated-out refresh token was presented (its grant is revoked).
        OidcRefreshReused = "oidc.refresh.reused",
        /// A token was revoked by its client.
        OidcTokenRevoked = "oidc.token.revoked",
        /// The ID-token signing key was rotated.
        OidcKeyRotated = "oidc.key.rotated",
        /// A back-channel logout was delivered to an application.
        OidcBackchannelDelivered = "oidc.backchannel.delivered",
        /// A back-channel logout delivery failed and will be retried.
        OidcBackchannelFailed = "oidc.backchannel.failed",
        /// A back-channel logout was given up after its last attempt.
        OidcBackchannelGivenUp = "oidc.backchannel.given_up",
        /// A person's local identity was linked to their national identity
        /// through Pro Santé Connect (first time or renewal).
        PscLinked = "psc.linked",
        /// Pro Santé Connect named someone else (or no one): nothing stored,
        /// a case opened.
        PscLinkRefused = "psc.link_refused",
        /// A link to Pro Santé Connect was removed (by the person, an
        /// operator, a departure or a suspension).
        PscUnlinked = "psc.unlinked",
        /// An answer from Pro Santé Connect failed its checks (issuer,
        /// audience, nonce, signature, state…): nothing stored.
        PscResponseRefused = "psc.response_refused",
        /// Clavis asserted a person to Pro Santé Connect (FI tiers), with
        /// the amr and acr it sent.
        PscAsserted = "psc.asserted",
        /// Clavis refused to assert a person to Pro Santé Connect (no valid
        /// link, declined, method not accepted, person gone).
        PscAssertionRefused = "psc.assertion_refused",
        /// An operator was refused a console page or action their roles do
        /// not allow.
        ConsoleDenied = "console.denied",
        /// An operator tried to act on themselves, or on someone holding a
        /// role they do not hold: refused.
        ConsoleTargetRefused = "console.target_refused",
        /// The audit journal (or a search of it) was exported.
        AuditExported = "audit.exported",
        /// The compliance report was issued (its format, the SHA-256 of
        /// the document served, the chain head it names, its figures).
        ComplianceReported = "compliance.reported",
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;
    use std::collections::HashSet;

    #[test]
    fn every_action_has_its_own_dotted_text_that_reads_back() {
        let mut seen = HashSet::new();
        for a in AuditAction::ALL {
            let text = a.as_str();
            assert!(seen.insert(text), "{text} named twice");
            assert!(text.contains('.'), "{text} is not dotted");
            assert_eq!(text.parse::<AuditAction>(), Ok(*a));
        }
        assert!("login.maybe".parse::<AuditAction>().is_err());
    }
}
