// A field's doc comment is not where its problem is: the second cause is
// pointed at by its key, a tuple field without a role by its type.
#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "upstream_failed", status = 502, message = "The upstream failed.")]
    Upstream {
        /// What failed first.
        #[api(source)]
        first: std::io::Error,
        /// What failed then.
        #[api(source)]
        second: std::io::Error,
    },
    #[api(code = "upstream_slow", status = 504, message = "The upstream is slow.")]
    Slow(
        /// How long it took.
        #[api(retry_after)]
        std::time::Duration,
        /// How long it took, again.
        #[api(retry_after)]
        std::time::Duration,
    ),
    #[api(code = "upstream_down", status = 502, message = "The upstream is down.")]
    Down(
        /// The upstream's text.
        String,
    ),
}
fn main() {}
