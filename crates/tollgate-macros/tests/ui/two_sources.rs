// The second field marked as the source is the one pointed at.
#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "upstream_failed", status = 502, message = "The upstream failed.")]
    Upstream {
        #[api(source)]
        first: std::io::Error,
        #[api(source)]
        second: std::io::Error,
    },
}
fn main() {}
