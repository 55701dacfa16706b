#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "upstream_down", status = 502, message = "The upstream is down.")]
    Upstream { source: String },
}
fn main() {}
