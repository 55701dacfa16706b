// A placeholder naming a field that fills no message says which attribute
// keeps it out.
#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "noted", status = 400, message = "Noted: {note}")]
    Noted {
        #[api(skip)]
        note: String,
    },
    #[api(code = "upstream_failed", status = 502, message = "Failed: {cause}")]
    Upstream {
        #[api(source)]
        cause: std::io::Error,
    },
    #[api(code = "rate_limit_exceeded")]
    Limited {
        limit: u64,
        #[api(skip)]
        window: u64,
    },
}
fn main() {}
