#[derive(Debug, tollgate_axum::ApiError)]
struct NotAnEnum {
    id: u64,
}
fn main() {}
