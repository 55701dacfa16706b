#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "rule_not_found", status = 404, message = "Rule {id not found")]
    RuleNotFound { id: u64 },
}
fn main() {}
