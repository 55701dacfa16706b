// A field named `source` whose attribute is refused is told about once.
#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "upstream_failed", status = 502, message = "The upstream failed.")]
    Upstream {
        #[api(sorce)]
        source: std::io::Error,
    },
}
fn main() {}
