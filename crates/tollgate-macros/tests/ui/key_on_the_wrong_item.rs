// A key on the wrong item says where it goes.
#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "upstream_failed", status = 502, message = "The upstream failed.", source)]
    Upstream,
    #[api(code = "gone_away", status = 410, message = "Gone.", crate = "tollgate_axum")]
    Gone,
    #[api(code = "bad_input", status = 400, message = "Bad input.")]
    BadInput {
        #[api(code = "bad_value")]
        value: String,
        #[api(crate = "tollgate_axum")]
        other: String,
    },
}
fn main() {}
