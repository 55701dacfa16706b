// The crate path is named once.
#[derive(Debug, tollgate_axum::ApiError)]
#[api(crate = "tollgate_axum")]
#[api(crate = "other::tollgate_axum")]
enum E {
    #[api(code = "gone_away", status = 410, message = "Gone.")]
    Gone,
}
fn main() {}
