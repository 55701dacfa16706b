#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "rule_not_found", status = 404, message = "Rule {id} not found")]
    RuleNotFound { id: u64 },
    #[api(code = "rule_not_found", status = 410, message = "Rule {id} is gone")]
    RuleGone { id: u64 },
    // A redefinition of a built-in code, and the built-in entry as is.
    #[api(code = "not_found", status = 410, message = "Gone.")]
    Gone,
    #[api(code = "not_found")]
    Missing,
}

// Two variants may share a built-in entry used as is.
#[derive(Debug, tollgate_axum::ApiError)]
enum Fine {
    #[api(code = "not_found")]
    NoRule,
    #[api(code = "not_found")]
    NoScan,
}

fn main() {
    let _ = (Fine::NoRule, Fine::NoScan);
}
