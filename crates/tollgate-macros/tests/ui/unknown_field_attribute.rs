#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "gone", status = 410, message = "Gone.")]
    Gone {
        #[api(secret)]
        note: String,
        #[api(serde::skip)]
        other: String,
    },
}
fn main() {}
