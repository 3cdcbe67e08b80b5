//! `artifacts`: each distinct content an agent wrote at an expected path, and its validation.

use devflow_core::{Error, Result, canonical_json};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;
use crate::records::{ArtifactRecord, convert_all};
use crate::schema::artifacts;
use crate::{ArtifactRow, NewArtifact, new_id, now_ms};

impl Tx {
    /// Inserts the artifact, or gets the one stored for the same (run, path, hash). The same
    /// bytes validated again must give the same verdict in the same phase against the same
    /// schema; a stored row that differs is `InternalStateCorruption` (the reference's
    /// assertArtifactReplayMatches).
    pub async fn insert_or_get_artifact(
        &mut self,
        artifact: &NewArtifact<'_>,
    ) -> Result<ArtifactRow> {
        let validation_error = canonical_json(artifact.validation_error);
        let values = (
            artifacts::id.eq(new_id()),
            artifacts::run_id.eq(artifact.run_id),
            artifacts::phase_id.eq(artifact.phase_id),
            artifacts::path.eq(artifact.path),
            artifacts::schema_id.eq(artifact.schema_id),
            artifacts::hash.eq(artifact.hash),
            artifacts::valid.eq(artifact.valid),
            artifacts::validation_error.eq(&validation_error),
            artifacts::created_at.eq(now_ms()),
        );
        let inserted: Option<ArtifactRecord> =
            on_conn!(self, |c| diesel::insert_into(artifacts::table)
                .values(values)
                .on_conflict((artifacts::run_id, artifacts::path, artifacts::hash))
                .do_nothing()
                .returning(artifacts::all_columns)
                .get_result(c)
                .await)
            .optional()
            .or_db("insert artifact")?;
        if let Some(record) = inserted {
            return ArtifactRow::try_from(record);
        }

        let query = artifacts::table
            .filter(artifacts::run_id.eq(artifact.run_id))
            .filter(artifacts::path.eq(artifact.path))
            .filter(artifacts::hash.eq(artifact.hash));
        let stored: ArtifactRecord =
            on_conn!(self, |c| query.get_result(c).await).or_db("read artifact")?;
        let stored = ArtifactRow::try_from(stored)?;
        let same = stored.phase_id == artifact.phase_id
            && stored.schema_id == artifact.schema_id
            && stored.valid == artifact.valid
            && canonical_json(&stored.validation_error) == validation_error;
        if !same {
            return Err(Error::corruption(format!(
                "artifact {} (sha256 {}) replayed with another phase, schema or validation than stored",
                artifact.path, artifact.hash
            ))
            .in_phase(artifact.run_id, artifact.phase_id));
        }
        Ok(stored)
    }

    pub async fn artifact(&mut self, id: &str) -> Result<Option<ArtifactRow>> {
        let query = artifacts::table.filter(artifacts::id.eq(id));
        let record: Option<ArtifactRecord> =
            on_conn!(self, |c| query.get_result(c).await).optional().or_db("read artifact")?;
        record.map(ArtifactRow::try_from).transpose()
    }

    /// Every artifact the run recorded, oldest first.
    pub async fn artifacts(&mut self, run_id: &str) -> Result<Vec<ArtifactRow>> {
        let query = artifacts::table
            .filter(artifacts::run_id.eq(run_id))
            .order((artifacts::created_at.asc(), artifacts::id.asc()));
        let records: Vec<ArtifactRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list artifacts")?;
        convert_all(records)
    }

    /// The newest artifact of the phase at `path` for `schema_id`.
    pub async fn latest_artifact(
        &mut self,
        run_id: &str,
        phase_id: &str,
        path: &str,
        schema_id: &str,
    ) -> Result<Option<ArtifactRow>> {
        let query = artifacts::table
            .filter(artifacts::run_id.eq(run_id))
            .filter(artifacts::phase_id.eq(phase_id))
            .filter(artifacts::path.eq(path))
            .filter(artifacts::schema_id.eq(schema_id))
            .order((artifacts::created_at.desc(), artifacts::id.desc()));
        let record: Option<ArtifactRecord> = on_conn!(self, |c| query.get_result(c).await)
            .optional()
            .or_db("read latest artifact")?;
        record.map(ArtifactRow::try_from).transpose()
    }
}
