//! tollgate-client against local servers: typed errors and retries.

mod common;
mod errors;
mod jitter;
mod retry;
