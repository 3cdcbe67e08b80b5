//! `approval_requests`: human gates and approvals, requested idempotently and decided once.

use devflow_core::{Code, Error, Result, canonical_json};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;
use crate::records::{ApprovalRecord, convert_all};
use crate::schema::approval_requests;
use crate::{ApprovalRow, ApprovalState, NewApproval, new_id, now_ms};

impl Tx {
    /// Inserts a pending request, or gets the one stored under the idempotency key. A stored
    /// request for another run, phase or gate, or with another canonical payload, is
    /// `InternalStateCorruption`. The stored state is returned as it is; callers check it.
    pub async fn insert_or_get_approval(
        &mut self,
        request: &NewApproval<'_>,
    ) -> Result<ApprovalRow> {
        let payload = canonical_json(request.payload);
        let values = (
            approval_requests::id.eq(new_id()),
            approval_requests::run_id.eq(request.run_id),
            approval_requests::phase_id.eq(request.phase_id),
            approval_requests::gate_key.eq(request.gate_key),
            approval_requests::state.eq(ApprovalState::Pending.as_str()),
            approval_requests::idempotency_key.eq(request.idempotency_key),
            approval_requests::payload.eq(&payload),
            approval_requests::created_at.eq(now_ms()),
        );
        let inserted: Option<ApprovalRecord> =
            on_conn!(self, |c| diesel::insert_into(approval_requests::table)
                .values(values)
                .on_conflict(approval_requests::idempotency_key)
                .do_nothing()
                .returning(approval_requests::all_columns)
                .get_result(c)
                .await)
            .optional()
            .or_db("insert approval request")?;
        if let Some(record) = inserted {
            return ApprovalRow::try_from(record);
        }

        let query = approval_requests::table
            .filter(approval_requests::idempotency_key.eq(request.idempotency_key));
        let stored: ApprovalRecord =
            on_conn!(self, |c| query.get_result(c).await).or_db("read approval request")?;
        let stored = ApprovalRow::try_from(stored)?;
        let same = stored.run_id == request.run_id
            && stored.phase_id == request.phase_id
            && stored.gate_key == request.gate_key
            && canonical_json(&stored.payload) == payload;
        if !same {
            return Err(Error::corruption(format!(
                "approval request {} replayed with another run, phase, gate or payload than stored",
                request.idempotency_key
            ))
            .in_phase(request.run_id, request.phase_id));
        }
        Ok(stored)
    }

    /// The run's approval requests, oldest first.
    pub async fn approvals(&mut self, run_id: &str) -> Result<Vec<ApprovalRow>> {
        let query = approval_requests::table
            .filter(approval_requests::run_id.eq(run_id))
            .order((approval_requests::created_at.asc(), approval_requests::id.asc()));
        let records: Vec<ApprovalRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list approval requests")?;
        convert_all(records)
    }

    /// Decides a pending request. One that is not pending (or does not exist) is
    /// `InvalidInput`: a decision is made once.
    pub async fn decide_approval(
        &mut self,
        id: &str,
        state: ApprovalState,
        decided_by: &str,
        note: Option<&str>,
    ) -> Result<()> {
        if state == ApprovalState::Pending {
            return Err(Error::new(
                Code::InvalidInput,
                "an approval request is decided as approved or rejected, not pending",
            ));
        }
        let target = approval_requests::table
            .filter(approval_requests::id.eq(id))
            .filter(approval_requests::state.eq(ApprovalState::Pending.as_str()));
        let changes = (
            approval_requests::state.eq(state.as_str()),
            approval_requests::decided_by.eq(decided_by),
            approval_requests::decision_note.eq(note),
            approval_requests::decided_at.eq(now_ms()),
        );
        let updated =
            on_conn!(self, |c| cached(diesel::update(target).set(changes)).execute(c).await)
                .or_db("decide approval request")?;
        if updated == 1 {
            return Ok(());
        }
        let query = approval_requests::table
            .filter(approval_requests::id.eq(id))
            .select(approval_requests::state);
        let current: Option<String> = on_conn!(self, |c| query.get_result(c).await)
            .optional()
            .or_db("read approval request")?;
        Err(match current {
            Some(current) => Error::new(
                Code::InvalidInput,
                format!("approval request {id} is already {current}"),
            )
            .with_hint(format!("approval_state={current}")),
            None => Error::new(Code::InvalidInput, format!("approval request {id} does not exist")),
        })
    }
}
