#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "RuleNotFound", status = 404, message = "No such rule.")]
    Missing,
}
fn main() {}
