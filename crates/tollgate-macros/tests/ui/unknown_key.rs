#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "gone", status = 410, message = "Gone.", colour = "red")]
    Gone,
    #[api(code = "moved", status = 410, message = "Moved.", serde::rename = "x")]
    Moved,
}
fn main() {}
