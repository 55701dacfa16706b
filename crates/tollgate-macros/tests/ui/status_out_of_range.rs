#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "odd", status = 200, message = "Fine.")]
    Odd,
}
fn main() {}
