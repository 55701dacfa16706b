#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "flaky", status = 503, message = "Flaky.", retry = "sometimes")]
    Flaky,
    #[api(code = "odd_kind", status = 400, message = "Odd.", kind = "weird")]
    OddKind,
}
fn main() {}
