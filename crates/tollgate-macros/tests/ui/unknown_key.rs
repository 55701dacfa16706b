#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "gone", status = 410, message = "Gone.", colour = "red")]
    Gone,
}
fn main() {}
