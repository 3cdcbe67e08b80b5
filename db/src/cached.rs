//! `cached(query)`: keep a prepared statement that diesel would throw away after one use.
//!
//! diesel never caches an `UPDATE` (nor an SQLite `IN (…)` list): a changeset of optional
//! fields could in principle yield a factorial number of SQL texts, and an unbounded cache is
//! worse than re-preparing. Ours yield a handful. Re-preparing is not free: on PostgreSQL
//! diesel-async prepares an uncached statement in a round trip of its own before executing it,
//! and the runner's steps update a phase, a session or a run in most transactions. Wrapped
//! queries are cached by their SQL text and bind types, which is always correct; only the
//! bound on the cache's size is ours to keep, by wrapping only statements with few shapes.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// Marks `query` as safe to cache (see the module docs for when that holds).
pub(crate) fn cached<Q>(query: Q) -> Cached<Q> {
    Cached(query)
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Cached<Q>(Q);

impl<Q, DB> QueryFragment<DB> for Cached<Q>
where
    Q: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static id: the cache keys a wrapped statement by its SQL text, never by its Rust type,
/// because one type (a changeset of optional fields) renders several texts.
impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}
