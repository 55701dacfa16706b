struct NotSerialize;

#[derive(tollgate_axum::ApiError)]
enum E {
    #[api(code = "bad_input", status = 400, message = "Bad input.")]
    BadInput {
        value: NotSerialize,
        #[api(source)]
        cause: u32,
        #[api(retry_after)]
        wait: u64,
    },
}
fn main() {}
