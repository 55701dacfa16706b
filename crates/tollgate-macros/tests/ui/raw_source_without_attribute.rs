// `r#source` is the detail `source`: refused like `source`.
#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "upstream_down", status = 502, message = "The upstream is down.")]
    Upstream { r#source: String },
    #[api(code = "upstream_slow", status = 504, message = "The upstream is slow.")]
    Slow { r#backtrace: String },
}
fn main() {}
