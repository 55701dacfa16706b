//! For every dialect, `decode(encode(e))` keeps the status, code, message,
//! details, violations, request id and retry-after of `e` — as far as the
//! dialect's wire format carries them (`Dialect::carries_details`,
//! `Dialect::carries_violation_codes`), with the response headers
//! (`X-Error-Code`, `X-Request-Id`, `Retry-After`) carrying the rest.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::{Map, Value};
use tollgate::{ApiError, Catalog, Context, Dialect, ErrorDef, Violation};

/// Keys no dialect reserves, so every details-carrying dialect keeps them.
fn detail_key() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,10}".prop_filter("reserved", |k| {
        !Dialect::ALL
            .iter()
            .any(|d| d.reserved_detail_keys().contains(&k.as_str()))
            && ![
                "type",
                "title",
                "status",
                "detail",
                "instance",
                "code",
                "message",
                "param",
                "doc_url",
                "request_id",
                "errors",
                "retry_after",
                "hint",
            ]
            .contains(&k.as_str())
    })
}

fn detail_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[ -~]{0,20}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
}

fn field_path() -> impl Strategy<Value = String> {
    (
        "[a-z_][a-z0-9_]{0,8}",
        proptest::collection::vec(
            prop_oneof![
                "[a-z_][a-z0-9_]{0,8}".prop_map(|s| format!(".{s}")),
                (0u32..100).prop_map(|i| format!("[{i}]")),
            ],
            0..3,
        ),
    )
        .prop_map(|(head, rest)| format!("{head}{}", rest.concat()))
}

#[derive(Debug, Clone)]
struct Input {
    code: String,
    status: u16,
    message: String,
    details: Map<String, Value>,
    violations: Vec<Violation>,
    request_id: String,
    retry_after: Option<u64>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        "x_[a-z][a-z0-9_]{0,11}[a-z0-9]",
        400u16..600,
        // Not blank: a catalog refuses an empty message.
        "[!-z|~][ -z|~]{0,39}",
        proptest::collection::btree_map(detail_key(), detail_value(), 0..4),
        proptest::collection::btree_map(
            // Now and then the whole input (`""`), no field of it.
            prop_oneof![4 => field_path(), 1 => Just(String::new())],
            ("[a-z_]{1,12}", "[ -~]{1,30}"),
            0..3,
        ),
        "[A-Za-z0-9._-]{1,40}",
        proptest::option::of(0u64..1_000_000),
    )
        .prop_map(
            |(code, status, message, details, violations, request_id, retry_after)| Input {
                code,
                status,
                // Braces would be template syntax; the message is a literal here.
                message: message.replace(['{', '}'], "_"),
                details: details.into_iter().collect(),
                violations: violations
                    .into_iter()
                    .map(|(field, (code, message))| Violation::new(field, code, message))
                    .collect(),
                request_id,
                retry_after,
            },
        )
        // The envelope keys the whole input's messages by the code, as it
        // does the message of an error without violations: one message that
        // is the error's own reads back as that, not as a violation.
        .prop_filter("whole-input violation repeating the message", |input| {
            !input
                .violations
                .iter()
                .any(|v| v.field.is_empty() && v.message == input.message)
        })
}

fn build(input: &Input) -> (Catalog, ApiError) {
    let mut catalog = Catalog::builtin();
    let def = ErrorDef::new(&input.code, input.status, "A title", &input.message).unwrap();
    catalog.insert(def.clone()).unwrap();
    // Only documented details are sent: the occurrence's entry documents
    // its keys, any keys (a catalog file would refuse some, code need not).
    let def = def.details(input.details.keys());
    let mut err = ApiError::new(def.into()).with_details(input.details.clone());
    for v in &input.violations {
        err = err.violation(v.clone());
    }
    if let Some(secs) = input.retry_after {
        err = err.retry_after(Duration::from_secs(secs));
    }
    (catalog, err)
}

/// google's `ErrorInfo.metadata` is a string map.
fn stringified(details: &Map<String, Value>) -> Map<String, Value> {
    details
        .iter()
        .map(|(k, v)| match v {
            Value::String(_) => (k.clone(), v.clone()),
            other => (k.clone(), Value::String(other.to_string())),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_of_encode_keeps_the_error(input in input()) {
        let (catalog, err) = build(&input);
        let now = SystemTime::now();
        for dialect in Dialect::ALL {
            let ctx = Context::new(now).request_id(&input.request_id);
            let response = catalog.renderer(dialect).response(&err, &ctx);
            let back = catalog.decode(response.status().as_u16(), response.headers(), response.body(), now);
            let body = String::from_utf8_lossy(response.body()).into_owned();

            prop_assert_eq!(back.dialect, dialect.name(), "{}", body);
            prop_assert_eq!(back.status, input.status);
            let code = back.code.as_deref().and_then(|c| catalog.find_wire_code(c)).map(|d| d.code());
            prop_assert_eq!(code, Some(input.code.as_str()), "{}: {}", dialect, body);
            prop_assert_eq!(back.message.as_deref(), Some(input.message.as_str()), "{}: {}", dialect, body);
            prop_assert_eq!(back.request_id.as_deref(), Some(input.request_id.as_str()), "{}", dialect);
            prop_assert_eq!(back.retry_after, input.retry_after.map(Duration::from_secs), "{}", dialect);

            let expected_details = match dialect {
                Dialect::Google => stringified(&input.details),
                d if d.carries_details() => input.details.clone(),
                _ => Map::new(),
            };
            prop_assert_eq!(&back.details, &expected_details, "{}: {}", dialect, body);

            let expected_violations: Vec<Violation> = match dialect {
                Dialect::Flat => Vec::new(),
                d if d.carries_violation_codes() => input.violations.clone(),
                // The envelope reads the whole input's messages back only
                // for a validation error (400 or 422).
                d => input
                    .violations
                    .iter()
                    .filter(|v| d != Dialect::Envelope || !v.field.is_empty() || matches!(input.status, 400 | 422))
                    .map(|v| Violation::new(&v.field, "", &v.message))
                    .collect(),
            };
            prop_assert_eq!(&back.violations, &expected_violations, "{}: {}", dialect, body);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The envelope writes one entry per field, in the order fields first
    /// appear, each with its messages in order: for the usual handful and for
    /// a long list alike (the two are grouped differently).
    #[test]
    fn envelope_groups_violations_by_field_in_order(
        fields in proptest::collection::vec(0usize..6, 0..100),
    ) {
        let mut err = Catalog::builtin().error("validation_error").unwrap();
        let mut expected: Vec<(String, Vec<String>)> = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let (field, message) = (format!("field_{f}"), format!("message {i}"));
            err = err.violation(Violation::new(&field, "invalid", &message));
            match expected.iter_mut().find(|(name, _)| *name == field) {
                Some((_, messages)) => messages.push(message),
                None => expected.push((field, vec![message])),
            }
        }
        let body = Catalog::builtin()
            .renderer(Dialect::Envelope)
            .body(&err, &Context::new(SystemTime::now()));
        let body: Value = serde_json::from_slice(&body).unwrap();
        let written: Vec<(String, Vec<String>)> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|_| !fields.is_empty())
            .map(|entry| {
                let (field, messages) = entry.as_object().unwrap().iter().next().unwrap();
                let messages = messages.as_array().unwrap();
                (field.clone(), messages.iter().map(|m| m.as_str().unwrap().to_owned()).collect())
            })
            .collect();
        prop_assert_eq!(written, expected);
    }
}
