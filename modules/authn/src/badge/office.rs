//! The badge office's rules: whom an operator may encode a badge for, and
//! when the holder's PIN may be set from the desk.
//!
//! A badge and a PIN are a way into someone's account, so the desk must
//! not become a way to be someone else:
//! - an operator never encodes a badge or sets a PIN for themselves;
//! - an operator who is not an administrator only serves holders whose
//!   operator roles they hold too (no badge-office clerk can encode a card
//!   for an administrator, a helpdesk agent or an auditor);
//! - a PIN that already exists is replaced only with the holder's current
//!   PIN typed at the desk (checked with the usual lockout); a holder who
//!   forgot theirs keeps their PIN and goes to the helpdesk, whose
//!   `clavis badge set-pin` runs on the appliance itself;
//! - someone who already signs in with a security key and has no PIN
//!   chooses their first PIN themselves, on `/me` after a fresh login: the
//!   desk never chooses it for them;
//! - a PIN set by anyone but its holder is remembered until the holder's
//!   next badge login tells them (and audited `badge.pin_set` with the
//!   operator as actor).

use super::pin::{self, BadgePolicy, Pin, PinHasher};
use super::records::BadgeError;
use chrono::{DateTime, Utc};
use clavis_core::roles::{self, OperatorRole, TargetRefusal};
use clavis_core::{Actor, AuthenticatorStatus, Oid};
use clavis_store::DbConn;
use clavis_store::models::{AuthenticatorRow, BadgePinRow, IdentityRoleRow};

/// Why the badge office refuses an operator's request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfficeRefusal {
    /// The operator is the holder.
    #[error("an operator cannot encode a badge or set a PIN for themselves")]
    Themselves,
    /// The holder has an operator role the operator has not.
    #[error("the holder has the role {0}, which the operator does not hold")]
    AboveOperator(String),
    /// The holder has a PIN; replacing it needs their current one.
    #[error("the holder already has a PIN: their current PIN is needed to replace it")]
    CurrentPinRequired,
    /// The holder signs in with a security key: they choose their first
    /// PIN themselves, on `/me` after a fresh login.
    #[error("the holder has a security key: they choose their own PIN on their account page")]
    HolderChoosesOwnPin,
}

/// Whether `operator` may serve `holder` at the badge office: the rule
/// every operator action on a person obeys
/// ([`clavis_core::roles::may_target`]).
pub async fn check_holder(conn: &mut DbConn, operator: Oid, holder: Oid) -> Result<(), BadgeError> {
    let mine = OperatorRole::parse_all(&IdentityRoleRow::for_identity(conn, operator).await?);
    let theirs = OperatorRole::parse_all(&IdentityRoleRow::for_identity(conn, holder).await?);
    match roles::may_target(operator, &mine, holder, &theirs) {
        Ok(()) => Ok(()),
        Err(TargetRefusal::Themselves) => Err(OfficeRefusal::Themselves.into()),
        Err(TargetRefusal::HigherRole(r)) => {
            Err(OfficeRefusal::AboveOperator(r.to_string()).into())
        }
    }
}

/// Sets `holder`'s PIN from the desk, on behalf of `operator`: the holder
/// rules above, then the current PIN if one exists (a wrong one counts
/// towards the holder's lockout), then the new PIN (policy checked;
/// audited; the holder told at their next badge login).
#[allow(clippy::too_many_arguments)]
pub async fn set_holder_pin(
    conn: &mut DbConn,
    hasher: &PinHasher,
    policy: &BadgePolicy,
    now: DateTime<Utc>,
    operator: Oid,
    holder: Oid,
    new_pin: &Pin,
    current_pin: Option<&Pin>,
) -> Result<(), BadgeError> {
    check_holder(conn, operator, holder).await?;
    pin::check_policy(new_pin.expose(), policy.pin_min, policy.pin_max)?;
    let has_pin = BadgePinRow::find(conn, holder).await?.is_some();
    if !has_pin
        && AuthenticatorRow::for_identity(conn, holder)
            .await?
            .iter()
            .any(|a| a.status == AuthenticatorStatus::Active)
    {
        // Someone who can already sign in proves themselves with that key;
        // the desk choosing their first PIN would be a way in for the desk.
        return Err(OfficeRefusal::HolderChoosesOwnPin.into());
    }
    if has_pin {
        let Some(current) = current_pin.filter(|p| !p.expose().is_empty()) else {
            return Err(OfficeRefusal::CurrentPinRequired.into());
        };
        // A wrong one counts towards the holder's lockout, audited with
        // the operator who typed it.
        pin::check_pin(
            conn,
            hasher,
            policy,
            now,
            holder,
            current,
            &Actor::Identity(operator),
        )
        .await?;
    }
    pin::set_pin(
        conn,
        hasher,
        policy,
        now,
        holder,
        new_pin,
        &Actor::Identity(operator),
    )
    .await
}
