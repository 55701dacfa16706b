#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "rule_not_found")]
    RuleNotFound,
}
fn main() {}
