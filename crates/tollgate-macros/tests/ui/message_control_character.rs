#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "beeping", status = 400, message = "bell \x07 here")]
    Beeping,
    #[api(code = "ringing", status = 400, message = "Ringing.", remedy = "ring \x07 no more")]
    Ringing,
}
fn main() {}
