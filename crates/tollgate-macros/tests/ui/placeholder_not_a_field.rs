#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "rule_not_found", status = 404, message = "Rule {rule_id} not found")]
    RuleNotFound { id: u64 },
}
fn main() {}
