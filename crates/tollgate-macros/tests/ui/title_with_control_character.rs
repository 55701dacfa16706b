#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "odd", status = 400, title = "A\tB", message = "Odd")]
    Odd,
}
fn main() {}
