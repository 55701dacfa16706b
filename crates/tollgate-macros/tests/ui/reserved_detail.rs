#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "bad_input", status = 400, message = "Bad: {detail}")]
    BadInput { detail: String },
}
fn main() {}
