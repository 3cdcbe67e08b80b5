//! Getting the role's agent ready for a phase: re-adopt the session it already has, or start
//! one (the reference's `startSessionAndRecord` and `resumeExistingSessionAndRecord`).

use devflow_core::{Error, Result, SessionState};
use devflow_db::SessionRow;
use devflow_session::{SessionHandle, retry_recoverable};

use crate::context::{Ctx, handle_from_row};
use crate::crash::crash_point;
use crate::failure::At;
use crate::policy::Site;

impl Ctx {
    pub(crate) async fn start_session(&self, attempt: u32) -> Result<SessionHandle> {
        let fresh_id = self.adapter.reserve_session_id();
        let existing = self.claim_session_row(&fresh_id).await?;
        if let Some(row) = &existing {
            // A session that failed to a person is replaced by a fresh agent: the run only got
            // back to executing because a person resumed or approved it. (The reference, which
            // has no resume, refuses to reuse it and fails the run.)
            match row.state {
                SessionState::Created | SessionState::Bootstrapping => {}
                SessionState::FailedNeedsHuman => {
                    // The failed agent may still be on screen; a person asked for a fresh one.
                    let _ = self.adapter.dispose(&handle_from_row(row)).await;
                }
                _ => return self.resume_session(attempt, row).await,
            }
        }
        let session_id = existing.map_or(fresh_id, |row| row.id);
        let at = At::session(attempt, &session_id);
        crash_point!("before_session_start");
        let started = self.adapter.start(&self.session_spec(&session_id)).await;
        let handle = self.on_error(Site::SessionStart, at, started).await?;
        crash_point!("after_session_start");
        let recorded = if handle.session_id == session_id {
            self.record_session_started(&handle).await
        } else {
            Err(Error::corruption("the session adapter did not honor the reserved session id")
                .with_hint(format!("expected={session_id};actual={}", handle.session_id)))
        };
        if let Err(error) = recorded {
            let disposed = self.adapter.dispose(&handle).await;
            let error = self.fail_at(Site::SessionStart, error, at).await;
            return Err(disposed.err().unwrap_or(error));
        }
        Ok(handle)
    }

    async fn resume_session(&self, attempt: u32, row: &SessionRow) -> Result<SessionHandle> {
        // A session that failed to a person is never resumed: `start_session` replaces it.
        debug_assert_ne!(row.state, SessionState::FailedNeedsHuman);
        let at = At::session(attempt, &row.id);
        let recorded = handle_from_row(row);
        let resumed =
            retry_recoverable("resume", &self.retry, || self.adapter.resume(&recorded)).await;
        let handle = self.on_error(Site::SessionResume, at, resumed).await?;
        self.relocate_session(&handle, SessionState::Ready).await?;
        Ok(handle)
    }
}
