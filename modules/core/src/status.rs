//! The closed vocabularies of stored records: statuses, kinds, purposes
//! and end reasons, each stored as the string it names.
//!
//! A value read from the database that is not one of these is corrupt data
//! (`StoreError::Corrupt`), never silently some default.

use crate::text_enum;

text_enum! {
    /// Where a badge stands.
    pub enum BadgeStatus: "badge status" {
        /// Opens sessions.
        Active = "active",
        /// Barred for now (the holder's departure or suspension).
        Suspended = "suspended",
        /// Withdrawn for good (lost, returned, replaced).
        Revoked = "revoked",
    }
}

text_enum! {
    /// A staff badge or one lent for a few days.
    pub enum BadgeKind: "badge kind" {
        /// The holder's own badge.
        Permanent = "permanent",
        /// Lent by the badge office until a set end.
        Temporary = "temporary",
    }
}

text_enum! {
    /// What a badge transaction is for.
    pub enum BadgeTxPurpose: "badge transaction purpose" {
        /// Signing in with badge + PIN.
        Login = "login",
        /// Personalising a blank card for a holder at the badge office.
        Enrol = "enrol",
    }
}

text_enum! {
    /// How far a badge transaction has gone.
    pub enum BadgeTxStatus: "badge transaction status" {
        /// Card answers are being relayed.
        Open = "open",
        /// Login: the badge is recognised, the PIN is awaited.
        Identified = "identified",
        /// Login: a PIN is being checked (one at a time per transaction).
        Checking = "checking",
        /// Finished well (enrolment recorded, or login ready to finish).
        Done = "done",
        /// Refused; `failure` says why.
        Failed = "failed",
        /// Login: the session it opened exists; it cannot be used again.
        Used = "used",
    }
}

text_enum! {
    /// Where a FIDO2 key (or other authenticator) stands.
    pub enum AuthenticatorStatus: "authenticator status" {
        /// Signs in.
        Active = "active",
        /// Barred with its holder (departure, suspension).
        Suspended = "suspended",
        /// Removed by its holder or an operator.
        Revoked = "revoked",
    }
}

text_enum! {
    /// What an authenticator is.
    pub enum AuthenticatorKind: "authenticator kind" {
        /// A FIDO2 security key (WebAuthn credential).
        Fido2 = "fido2",
    }
}

text_enum! {
    /// A WebAuthn ceremony in progress.
    pub enum CeremonyKind: "ceremony kind" {
        /// Registering a new key.
        Register = "register",
        /// Signing in with a key (ceremonies stored before logins were
        /// sealed into their own token; none is stored any more).
        Login = "login",
        /// A sealed login ceremony, finished: kept until its end so that
        /// it is finished once.
        LoginSpent = "login_spent",
    }
}

text_enum! {
    /// A reconciliation case.
    pub enum CaseStatus: "case status" {
        /// Awaiting an operator.
        Open = "open",
        /// Decided by an operator.
        Resolved = "resolved",
    }
}

text_enum! {
    /// A directory sync run.
    pub enum SyncRunStatus: "sync run status" {
        /// Under way (or its node died: see the run's lease).
        Running = "running",
        /// Every page applied.
        Succeeded = "succeeded",
        /// Stopped on an error; applied pages stay applied.
        Failed = "failed",
    }
}

text_enum! {
    /// Whether a sync read everything or only what changed.
    pub enum SyncMode: "sync mode" {
        /// Every record of the source.
        Full = "full",
        /// Records changed since the last cursor.
        Incremental = "incremental",
    }
}

/// A run starts running.
impl Default for SyncRunStatus {
    fn default() -> Self {
        Self::Running
    }
}

/// What a run does unless asked for a full one (a source without a cursor
/// yet is read in full all the same).
impl Default for SyncMode {
    fn default() -> Self {
        Self::Incremental
    }
}

text_enum! {
    /// Why an SSO session ended.
    pub enum SessionEndReason: "session end reason" {
        /// The person signed out.
        Logout = "logout",
        /// Its 4 hours ran out.
        Expired = "expired",
        /// Unused for longer than the idle timeout (when one is set).
        Idle = "idle",
        /// Ended by an operator.
        Revoked = "revoked",
        /// The person left the hospital.
        Departed = "departed",
        /// The person was suspended.
        Suspended = "suspended",
        /// A new login in the same browser replaced it.
        Replaced = "replaced",
        /// Another person badged in at the same workstation (fast user
        /// switching).
        Switched = "switched",
        /// Every directory account of the person was disabled (AD).
        AccountDisabled = "account_disabled",
    }
}

text_enum! {
    /// How a session was opened: what Pro Santé Connect is told (through
    /// `[psc.amr]`) when Clavis asserts the person to it.
    pub enum LoginMethod: "login method" {
        /// A FIDO2 security key with user verification.
        Fido2 = "fido2",
        /// A DESFire badge and its holder's PIN.
        Badge = "badge",
        /// Pro Santé Connect itself (e-CPS or CPS), for a forgotten badge.
        Psc = "psc",
    }
}

text_enum! {
    /// Why a link to Pro Santé Connect ended.
    pub enum PscUnlinkReason: "PSC unlink reason" {
        /// The person removed it from their page.
        ByPerson = "by_person",
        /// An operator removed it (the reason is in the audit).
        ByOperator = "by_operator",
        /// The person left the hospital.
        Departed = "departed",
        /// The person was suspended.
        Suspended = "suspended",
        /// A new verification replaced it.
        Renewed = "renewed",
        /// HR changed the identity's RPPS: the verified one is no longer it.
        RppsChanged = "rpps_changed",
    }
}

text_enum! {
    /// An OAuth token the provider issued.
    pub enum TokenKind: "token kind" {
        /// A bearer access token.
        Access = "access",
        /// A refresh token.
        Refresh = "refresh",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text_and_json() {
        for s in SessionEndReason::ALL {
            assert_eq!(s.as_str().parse::<SessionEndReason>(), Ok(*s));
            let json = serde_json::to_string(s).expect("serialises");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(
                serde_json::from_str::<SessionEndReason>(&json).ok(),
                Some(*s)
            );
        }
        for s in BadgeTxStatus::ALL {
            assert_eq!(s.to_string().parse::<BadgeTxStatus>(), Ok(*s));
        }
    }

    #[test]
    fn an_unknown_text_names_what_and_the_accepted_values() {
        let e = "lost".parse::<BadgeStatus>().unwrap_err();
        assert_eq!(e.what, "badge status");
        assert_eq!(
            e.to_string(),
            "invalid badge status: \"lost\" is not one of active, suspended, revoked"
        );
        // Case matters: the stored strings are exact.
        assert!("Active".parse::<BadgeStatus>().is_err());
        assert!(serde_json::from_str::<BadgeStatus>("\"lost\"").is_err());
    }
}
