#[derive(tollgate_axum::ApiError)]
enum E {
    #[api(code = "bad_input", status = 400, message = "Bad input.")]
    BadInput {
        #[api(source)]
        cause: Option<u32>,
        #[api(retry_after)]
        wait: Option<u64>,
    },
}
fn main() {}
