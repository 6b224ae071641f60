//! `badges` and `badge_pins`: DESFire badges and each identity's badge PIN.

use crate::schema::{badge_pins, badges};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, BadgeId, BadgeKind, BadgeStatus, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One badge.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = badges)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct BadgeRow {
    pub id: BadgeId,
    pub oid: Oid,
    /// The real UID (hex), read inside the authenticated session.
    pub uid: String,
    /// SHA-256 (hex) of the badge reference written on the card.
    pub reference_hash: String,
    pub key_version: i32,
    /// `permanent` or `temporary`.
    pub kind: BadgeKind,
    /// `active`, `suspended` or `revoked`.
    pub status: BadgeStatus,
    pub status_reason: Option<String>,
    /// Temporary badges: end of validity (unix seconds).
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub created_by: Actor,
    pub last_used_at: Option<i64>,
}

impl BadgeRow {
    /// Records a badge.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(badges::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// The badge carrying this reference.
    pub async fn find_by_reference(
        conn: &mut DbConn,
        hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        use badges::dsl;
        Ok(with_conn!(conn, c => dsl::badges
            .filter(dsl::reference_hash.eq(hash))
            .select(BadgeRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// The badges of an identity, newest first.
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        use badges::dsl;
        Ok(with_conn!(conn, c => dsl::badges
            .filter(dsl::oid.eq(oid))
            .order((dsl::created_at.desc(), dsl::id.asc()))
            .select(BadgeRow::as_select())
            .load(c)
            .await)?)
    }

    /// Sets the status of one badge if it is `from`; returns whether it
    /// changed.
    pub async fn set_status(
        conn: &mut DbConn,
        id: &BadgeId,
        from: BadgeStatus,
        to: BadgeStatus,
        reason: &str,
    ) -> Result<bool, StoreError> {
        use badges::dsl;
        let n = with_conn!(conn, c => diesel::update(dsl::badges.filter(dsl::id.eq(id)).filter(dsl::status.eq(from)))
            .set((dsl::status.eq(to), dsl::status_reason.eq(Some(reason))))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Makes active again the badges of an identity that were suspended
    /// with `reason` (their holder's suspension, now lifted); returns their
    /// ids. Revoked ones stay revoked; a temporary badge past its end stays
    /// unusable (its end is checked at each use).
    pub async fn restore_suspended_for(
        conn: &mut DbConn,
        oid: Oid,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        use badges::dsl;
        Ok(with_conn!(conn, c => diesel::update(
                dsl::badges
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::status.eq(BadgeStatus::Suspended))
                    .filter(dsl::status_reason.eq(reason)),
            )
            .set((dsl::status.eq(BadgeStatus::Active), dsl::status_reason.eq(None::<String>)))
            .returning(dsl::id)
            .get_results(c)
            .await)?)
    }

    /// How many active badges reach their end in `(from, to]` (temporary
    /// badges about to stop working).
    pub async fn count_expiring(conn: &mut DbConn, from: i64, to: i64) -> Result<i64, StoreError> {
        use badges::dsl;
        Ok(with_conn!(conn, c => dsl::badges
            .filter(dsl::expires_at.gt(from))
            .filter(dsl::expires_at.le(to))
            .filter(dsl::status.eq(BadgeStatus::Active))
            .count()
            .get_result(c)
            .await)?)
    }

    /// Changes the reason of an identity's suspended badges from `from` to
    /// `to` (a departure: what a suspension took stays taken).
    pub async fn retag_suspended_for(
        conn: &mut DbConn,
        oid: Oid,
        from: &str,
        to: &str,
    ) -> Result<usize, StoreError> {
        use badges::dsl;
        Ok(with_conn!(conn, c => diesel::update(
                dsl::badges
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::status.eq(BadgeStatus::Suspended))
                    .filter(dsl::status_reason.eq(from)),
            )
            .set(dsl::status_reason.eq(Some(to)))
            .execute(c)
            .await)?)
    }

    /// Suspends every active badge of an identity; returns their ids.
    pub async fn suspend_all_for(
        conn: &mut DbConn,
        oid: Oid,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        use badges::dsl;
        Ok(
            with_conn!(conn, c => diesel::update(dsl::badges.filter(dsl::oid.eq(oid)).filter(dsl::status.eq(BadgeStatus::Active)))
            .set((dsl::status.eq(BadgeStatus::Suspended), dsl::status_reason.eq(Some(reason))))
            .returning(dsl::id)
            .get_results(c)
            .await)?,
        )
    }

    /// Records the key version a badge now carries (after re-keying).
    pub async fn set_key_version(
        conn: &mut DbConn,
        id: &BadgeId,
        version: i32,
    ) -> Result<(), StoreError> {
        use badges::dsl;
        with_conn!(conn, c => diesel::update(dsl::badges.find(id)).set(dsl::key_version.eq(version)).execute(c).await)?;
        Ok(())
    }

    /// Records a use of a badge that is active and not past its end, in
    /// one conditional statement: `false` when it is not (the row is then
    /// left alone). Inside a login's transaction this also holds the row,
    /// so a revocation running at the same time commits either before
    /// (the login is refused) or after (it ends the new session).
    pub async fn use_if_active(
        conn: &mut DbConn,
        id: &BadgeId,
        now: i64,
    ) -> Result<bool, StoreError> {
        use badges::dsl;
        let n = with_conn!(conn, c => diesel::update(
                dsl::badges
                    .find(id)
                    .filter(dsl::status.eq(BadgeStatus::Active))
                    .filter(dsl::expires_at.is_null().or(dsl::expires_at.gt(now))),
            )
            .set(dsl::last_used_at.eq(Some(now)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}

/// The badge PIN of one identity. Its `Debug` never shows the hash.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = badge_pins)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct BadgePinRow {
    pub oid: Oid,
    /// argon2id PHC string (salted, peppered). Never logged.
    pub pin_hash: String,
    /// Wrong PINs in a row, counting the check in flight (counted first,
    /// undone when the PIN proves right).
    pub failures: i32,
    /// Badge login refused until then (unix seconds).
    pub locked_until: Option<i64>,
    pub updated_at: i64,
    /// A PIN check is in flight until then (unix seconds): no other check
    /// of this person's PIN starts meanwhile.
    pub checking_until: Option<i64>,
    /// The random token of the check holding the lease: only it settles.
    pub checking_by: Option<String>,
    /// Who replaced the holder's PIN, when it was not the holder; cleared
    /// once the holder's next login has told them.
    pub replaced_by: Option<Actor>,
    /// When (unix seconds), with `replaced_by`.
    pub replaced_at: Option<i64>,
}

impl std::fmt::Debug for BadgePinRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BadgePinRow")
            .field("oid", &self.oid)
            .field("pin_hash", &"[redacted]")
            .field("failures", &self.failures)
            .field("locked_until", &self.locked_until)
            .field("updated_at", &self.updated_at)
            .field("checking_until", &self.checking_until)
            .field("checking_by", &self.checking_by.as_ref().map(|_| "[lease]"))
            .field("replaced_by", &self.replaced_by)
            .field("replaced_at", &self.replaced_at)
            .finish()
    }
}

impl BadgePinRow {
    /// The PIN of an identity.
    pub async fn find(conn: &mut DbConn, oid: Oid) -> Result<Option<Self>, StoreError> {
        use badge_pins::dsl;
        Ok(with_conn!(conn, c => dsl::badge_pins
            .find(oid)
            .select(BadgePinRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Sets (or replaces) a PIN, clearing failures.
    pub async fn upsert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        use badge_pins::dsl;
        with_conn!(conn, c => diesel::insert_into(badge_pins::table)
            .values(self)
            .on_conflict(dsl::oid)
            .do_update()
            .set(self)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Saves the counter, the lock and the lease of a check in flight.
    pub async fn save_counter(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        use badge_pins::dsl;
        with_conn!(conn, c => diesel::update(dsl::badge_pins.find(&self.oid))
            .set((
                dsl::failures.eq(self.failures),
                dsl::locked_until.eq(self.locked_until),
                dsl::updated_at.eq(self.updated_at),
                dsl::checking_until.eq(self.checking_until),
            ))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Counts one PIN attempt of `oid` and leases its row to `owner` until
    /// `lease_until`, only if no lock holds at `now`, no other check's
    /// lease runs and fewer than `max_failures` wrong PINs are counted (a
    /// lock that ran out is cleared first and the count starts over). The
    /// attempt that reaches `max_failures` locks until `lock_until` at once
    /// (its own right PIN lifts it; a check cut off leaves it). Single
    /// conditional statements, so a concurrent reservation waits for this
    /// one and then finds the lease taken, on both backends. Returns the
    /// row as counted, or `None` when refused (read the row to know why).
    #[allow(clippy::too_many_arguments)]
    pub async fn reserve_check(
        conn: &mut DbConn,
        oid: Oid,
        now: i64,
        lease_until: i64,
        owner: &str,
        max_failures: i32,
        lock_until: i64,
    ) -> Result<Option<Self>, StoreError> {
        use badge_pins::dsl;
        with_conn!(conn, c => diesel::update(
                dsl::badge_pins.find(oid).filter(dsl::locked_until.le(now)),
            )
            .set((dsl::failures.eq(0), dsl::locked_until.eq(None::<i64>)))
            .execute(c)
            .await)?;
        let row: Option<Self> = with_conn!(conn, c => diesel::update(
                dsl::badge_pins
                    .find(oid)
                    .filter(dsl::locked_until.is_null())
                    .filter(dsl::failures.lt(max_failures))
                    .filter(dsl::checking_until.is_null().or(dsl::checking_until.le(now))),
            )
            .set((
                dsl::failures.eq(dsl::failures + 1),
                dsl::checking_until.eq(Some(lease_until)),
                dsl::checking_by.eq(Some(owner)),
                dsl::updated_at.eq(now),
            ))
            .returning(BadgePinRow::as_returning())
            .get_result(c)
            .await
            .optional())?;
        match row {
            Some(mut r) if r.failures >= max_failures => {
                with_conn!(conn, c => diesel::update(dsl::badge_pins.find(oid).filter(dsl::checking_by.eq(owner)))
                    .set(dsl::locked_until.eq(Some(lock_until)))
                    .execute(c)
                    .await)?;
                r.locked_until = Some(lock_until);
                Ok(Some(r))
            }
            other => Ok(other),
        }
    }

    /// Ends the check `owner` holds on `oid`'s PIN, setting its outcome:
    /// the count (`failures`), the lock, and the lease released. Does
    /// nothing and answers `false` when `owner` no longer holds the lease
    /// (it ran out and another check took it).
    pub async fn settle(
        conn: &mut DbConn,
        oid: Oid,
        owner: &str,
        failures: i32,
        locked_until: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        use badge_pins::dsl;
        let n = with_conn!(conn, c => diesel::update(dsl::badge_pins.find(oid).filter(dsl::checking_by.eq(owner)))
            .set((
                dsl::failures.eq(failures),
                dsl::locked_until.eq(locked_until),
                dsl::checking_until.eq(None::<i64>),
                dsl::checking_by.eq(None::<String>),
                dsl::updated_at.eq(now),
            ))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Forgets that the PIN was replaced by someone else at `at` (the
    /// holder has been told). False when it was already forgotten (told
    /// elsewhere meanwhile) or replaced again since: then tell nothing.
    pub async fn clear_replaced(conn: &mut DbConn, oid: Oid, at: i64) -> Result<bool, StoreError> {
        use badge_pins::dsl;
        let n = with_conn!(conn, c => diesel::update(
                dsl::badge_pins.find(oid).filter(dsl::replaced_at.eq(Some(at))),
            )
            .set((dsl::replaced_by.eq(None::<Actor>), dsl::replaced_at.eq(None::<i64>)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}

impl BadgeRow {
    /// One badge by id.
    pub async fn find(conn: &mut DbConn, id: &BadgeId) -> Result<Option<Self>, StoreError> {
        use badges::dsl;
        Ok(with_conn!(conn, c => dsl::badges
            .find(id)
            .select(BadgeRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Badges, newest first, optionally only those with a status.
    pub async fn list(
        conn: &mut DbConn,
        status: Option<BadgeStatus>,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        use badges::dsl;
        Ok(with_conn!(conn, c => {
            let mut q = dsl::badges.select(BadgeRow::as_select()).into_boxed();
            if let Some(s) = status {
                q = q.filter(dsl::status.eq(s));
            }
            q.order((dsl::created_at.desc(), dsl::id.asc()))
                .limit(limit)
                .load(c)
                .await
        })?)
    }
}
