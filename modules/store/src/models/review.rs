//! `review_campaigns` and `review_items`: the yearly review of
//! habilitations — a campaign's snapshot of the habilitations it covers,
//! and each reviewer's decision on each.

use crate::schema::review_campaigns::{self, dsl as cdsl};
use crate::schema::review_items::{self, dsl as idsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, ClientId, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A review campaign.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = review_campaigns)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ReviewCampaignRow {
    pub id: String,
    pub title: String,
    /// The application it covers, or…
    pub client_id: Option<ClientId>,
    /// …the service whose people's habilitations it covers.
    pub service: Option<String>,
    pub created_by: Actor,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub closed_by: Option<Actor>,
}

impl ReviewCampaignRow {
    /// Records a new campaign.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(review_campaigns::table)
            .values(self)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// One campaign.
    pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => cdsl::review_campaigns
            .find(id)
            .select(ReviewCampaignRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Campaigns, newest first.
    pub async fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => cdsl::review_campaigns
            .order((cdsl::created_at.desc(), cdsl::id.asc()))
            .limit(limit)
            .select(ReviewCampaignRow::as_select())
            .load(c)
            .await)?)
    }

    /// Closes an open campaign; whether it was open.
    pub async fn close(
        conn: &mut DbConn,
        id: &str,
        at: i64,
        by: &Actor,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                cdsl::review_campaigns.find(id).filter(cdsl::closed_at.is_null()),
            )
            .set((cdsl::closed_at.eq(Some(at)), cdsl::closed_by.eq(Some(by.clone()))))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}

/// One habilitation under review in a campaign.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = review_items)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ReviewItemRow {
    pub campaign_id: String,
    pub oid: Oid,
    pub client_id: ClientId,
    pub role: String,
    /// `kept` or `removed`; `None` while undecided.
    pub decision: Option<String>,
    pub decided_by: Option<Actor>,
    pub decided_at: Option<i64>,
}

impl ReviewItemRow {
    /// Records a campaign's items.
    pub async fn insert_all(conn: &mut DbConn, rows: Vec<Self>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        crate::execute_batched!(conn, rows, |chunk| diesel::insert_into(review_items::table)
            .values(chunk))
    }

    /// A campaign's items, by application, person and role.
    pub async fn for_campaign(conn: &mut DbConn, id: &str) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => idsl::review_items
            .filter(idsl::campaign_id.eq(id))
            .order((idsl::client_id.asc(), idsl::oid.asc(), idsl::role.asc()))
            .select(ReviewItemRow::as_select())
            .load(c)
            .await)?)
    }

    /// Records a decision on an undecided item; whether it was undecided
    /// (a second reviewer's decision on the same item changes nothing).
    #[allow(clippy::too_many_arguments)]
    pub async fn decide(
        conn: &mut DbConn,
        id: &str,
        oid: Oid,
        client_id: &ClientId,
        role: &str,
        decision: &str,
        by: &Actor,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                idsl::review_items
                    .filter(idsl::campaign_id.eq(id))
                    .filter(idsl::oid.eq(oid))
                    .filter(idsl::client_id.eq(client_id))
                    .filter(idsl::role.eq(role))
                    .filter(idsl::decision.is_null()),
            )
            .set((
                idsl::decision.eq(Some(decision.to_string())),
                idsl::decided_by.eq(Some(by.clone())),
                idsl::decided_at.eq(Some(at)),
            ))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}
