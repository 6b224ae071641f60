//! Sessions past their absolute lifetime, ended so that their applications
//! hear of it even if the user never comes back.

use crate::SsoError;
use crate::end::end;
use chrono::{DateTime, Utc};
use clavis_core::{Actor, SessionEndReason};
use clavis_store::DbConn;
use clavis_store::models::SsoSessionRow;

/// Ends (reason `expired`) the live sessions whose absolute lifetime is
/// over, so that their applications hear of it even if the user never
/// comes back. Returns how many. Run periodically by `clavis serve`.
pub async fn end_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, SsoError> {
    let ids = SsoSessionRow::expired_live(conn, now.timestamp(), 500).await?;
    let mut ended = 0;
    for id in ids {
        if conn
            .transaction(async |tx| {
                end(tx, now, &id, SessionEndReason::Expired, &Actor::Clavis).await
            })
            .await?
        {
            ended += 1;
        }
    }
    Ok(ended)
}
