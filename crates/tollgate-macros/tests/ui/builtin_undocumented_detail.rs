#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "not_found")]
    LabelMissing { label_id: String },
}
fn main() {}
