#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "upstream_failed", status = 502, message = "The upstream failed.")]
    Upstream(String),
}
fn main() {}
