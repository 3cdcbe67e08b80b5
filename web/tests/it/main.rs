//! devflow-web's one integration test binary: the notifier over a real outbox, on every
//! backend (`devflow_db::testing::backends()`).

mod notify;
