#[derive(Debug, tollgate_axum::ApiError)]
#[api(code = "gone", status = 410, message = "Gone.")]
enum E {
    #[api(code = "gone", status = 410, message = "Gone.")]
    Gone,
}
fn main() {}
