//! The probe's report: a table for people, one JSON object for machines.

use serde_json::{Value, json};
use tollgate::Dialect;

use super::checks::{Row, Verdict};

/// Everything the probe found.
#[derive(Debug)]
pub(crate) struct Report {
    /// The base URL probed, without its user name and password (`Client::shown_base`).
    pub(crate) base_url: String,
    /// The dialect the errors were held to, if any error was in one.
    pub(crate) dialect: Option<Dialect>,
    /// The routes probed, `METHOD PATH`.
    pub(crate) routes: Vec<String>,
    /// Where the routes came from: `openapi`, `flags`, `openapi+flags` or `none`.
    pub(crate) routes_from: &'static str,
    /// How many requests were sent.
    pub(crate) requests: usize,
    /// Every check.
    pub(crate) rows: Vec<Row>,
    /// Whether a skipped check fails the run too (`--strict`).
    pub(crate) strict: bool,
}

impl Report {
    fn count(&self, verdict: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }

    /// Whether no check failed (nor, `--strict`, was skipped).
    pub(crate) fn ok(&self) -> bool {
        self.count(Verdict::Fail) == 0 && !(self.strict && self.count(Verdict::Skip) > 0)
    }

    /// The report as one JSON object.
    pub(crate) fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "check": r.check,
                    "request": r.request,
                    "status": r.status,
                    "result": r.verdict.as_str(),
                    "reason": r.reason,
                })
            })
            .collect();
        json!({
            "base_url": self.base_url,
            "ok": self.ok(),
            "dialect": self.dialect.map(Dialect::name),
            "routes": self.routes,
            "routes_from": self.routes_from,
            "requests": self.requests,
            "passed": self.count(Verdict::Pass),
            "failed": self.count(Verdict::Fail),
            "skipped": self.count(Verdict::Skip),
            "checks": checks,
        })
    }

    /// The report as a table, columns aligned, then a summary line.
    pub(crate) fn to_table(&self) -> String {
        let header = ["CHECK", "REQUEST", "STATUS", "RESULT", "REASON"].map(str::to_owned);
        let rows: Vec<[String; 5]> = std::iter::once(header)
            .chain(self.rows.iter().map(|r| {
                [
                    r.check.to_owned(),
                    r.request.clone(),
                    r.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    r.verdict.as_str().to_owned(),
                    r.reason.clone(),
                ]
            }))
            .collect();
        let mut out = crate::table::aligned(&rows);
        let dialect = self.dialect.map_or_else(
            || "no error body in any dialect".to_owned(),
            |d| format!("errors held to the {d} dialect"),
        );
        // Every check that needs a route skipped: passes say little.
        let routeless = if self.routes_from == "none" {
            " (no route known: only the unknown-route and burst probes ran)"
        } else {
            ""
        };
        out.push_str(&format!(
            "\n{}: {} passed, {} failed, {} skipped{routeless}; {} requests to {}, {dialect}\n",
            if self.ok() { "ok" } else { "FAILED" },
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Skip),
            self.requests,
            self.base_url,
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdicts: &[Verdict]) -> Report {
        Report {
            base_url: "http://127.0.0.1:8080".into(),
            dialect: Some(Dialect::Coded),
            routes: vec!["GET /v1/x".into()],
            routes_from: "flags",
            requests: 3,
            strict: false,
            rows: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Row::new(
                        "allow",
                        format!("wrong method: PATCH /v1/x{i}"),
                        Some(405),
                        *v,
                        "why",
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn json_counts_and_names_every_check() {
        let r = report(&[Verdict::Pass, Verdict::Fail, Verdict::Skip, Verdict::Pass]);
        let v = r.to_json();
        assert_eq!(
            (
                v["passed"].as_u64(),
                v["failed"].as_u64(),
                v["skipped"].as_u64()
            ),
            (Some(2), Some(1), Some(1))
        );
        assert_eq!(v["ok"], false);
        assert_eq!(v["dialect"], "coded");
        assert_eq!(v["checks"][1]["result"], "fail");
        assert_eq!(v["checks"][1]["check"], "allow");
        assert_eq!(v["checks"][1]["status"], 405);
        assert!(
            report(&[Verdict::Pass, Verdict::Skip]).to_json()["ok"]
                .as_bool()
                .unwrap()
        );
        // --strict: a skip fails the run too.
        let strict = Report {
            strict: true,
            ..report(&[Verdict::Pass, Verdict::Skip])
        };
        assert!(!strict.ok());
        assert!(
            strict
                .to_table()
                .contains("\nFAILED: 1 passed, 0 failed, 1 skipped")
        );
    }

    #[test]
    fn the_table_aligns_and_ends_with_a_summary() {
        let text = report(&[Verdict::Pass, Verdict::Fail]).to_table();
        let lines: Vec<_> = text.lines().collect();
        let at = lines[0].find("RESULT").unwrap();
        assert_eq!(&lines[1][at..at + 4], "pass");
        assert_eq!(&lines[2][at..at + 4], "fail");
        assert_eq!(
            lines.last().unwrap(),
            &"FAILED: 1 passed, 1 failed, 0 skipped; 3 requests to http://127.0.0.1:8080, errors held to the coded dialect"
        );
    }

    #[test]
    fn the_summary_says_when_no_route_was_known() {
        let mut routeless = report(&[Verdict::Pass, Verdict::Skip]);
        routeless.routes_from = "none";
        let text = routeless.to_table();
        assert_eq!(
            text.lines().last().unwrap(),
            "ok: 1 passed, 0 failed, 1 skipped (no route known: only the unknown-route and burst \
             probes ran); 3 requests to http://127.0.0.1:8080, errors held to the coded dialect"
        );
    }
}
