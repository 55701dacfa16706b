// A key missing its value, or a flag given one, is pointed at and explained.
#[derive(Debug, tollgate_axum::ApiError)]
#[api(crate)]
enum E {
    #[api(code)]
    NoCode,
    #[api(code = "gone_away", status, message = "Gone.")]
    NoStatus,
    #[api(code = "bad_input", status = 400, message = "Bad input.")]
    BadInput {
        #[api(message_only = "yes")]
        value: String,
        #[api(skip(always))]
        other: String,
    },
}
fn main() {}
