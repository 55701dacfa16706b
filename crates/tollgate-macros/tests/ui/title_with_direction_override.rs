#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "odd", status = 400, title = "Invoice gpj.\u{202e}exe", message = "Odd")]
    Odd,
}
fn main() {}
