#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "rate_limit_exceeded")]
    Limited {
        #[api(retry_after)]
        wait: std::time::Duration,
    },
}
fn main() {}
