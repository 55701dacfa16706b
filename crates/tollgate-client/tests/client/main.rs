//! tollgate-client against local servers: typed errors and retries.

mod common;
mod errors;
mod hostile;
mod jitter;
mod retry;
