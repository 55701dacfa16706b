#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "not_found")]
    NotFound,
    Forgotten,
}
fn main() {}
