#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "rate_limit_exceeded")]
    Limited {
        #[api(message_only)]
        limit: u64,
        window: u64,
    },
}
fn main() {}
