#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "rule_not_found", status = 404)]
    RuleNotFound,
}
fn main() {}
