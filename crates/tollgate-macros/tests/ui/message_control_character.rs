#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "beeping", status = 400, message = "bell \x07 here")]
    Beeping,
}
fn main() {}
