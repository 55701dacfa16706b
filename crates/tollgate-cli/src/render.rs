//! `tollgate render`: an error response exactly as a server sends it.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tollgate::{Catalog, Context, Dialect, Violation, headers::is_valid_request_id};

use crate::args::{parse_dialect, parse_timestamp, whole};
use crate::catalogs::CatalogArgs;
use crate::error::CliError;
use crate::input::shown;
use crate::wire;

/// Shown after `tollgate render --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate render insufficient_credits --set required=1 --set available=0
  tollgate render insufficient_credits -d envelope -c api.toml --set required=1 --set available=0
  tollgate render rate_limit_exceeded -d coded --set limit=100 --set window=60 --retry-after 30
  tollgate render validation_error --violation 'email:invalid_format:Not an email address'
  tollgate render not_found --dialect detail --message 'Rule not found' --request-id req_42
  tollgate render timeout --dialect status-code --timestamp 2024-05-01T12:00:00Z
  tollgate render insufficient_credits --set required=1 --set available=0 | tollgate decode

Output: the status line, the headers (lines end with CRLF, as on the wire), a blank line and the
body. Content-Length gives the body's size; the newline printed after the body is not part of it.
The headers are the error's own: those the layers add to some answers (a key's 401 and
insufficient_scope's WWW-Authenticate, a 429's RateLimit fields, a 405's Allow) are not
rendered; `tollgate docs` shows samples of them.";

/// Arguments of `tollgate render`.
#[derive(Debug, clap::Args)]
pub(crate) struct RenderArgs {
    /// The error's code in the catalog (`tollgate codes` lists them)
    #[arg(value_name = "CODE")]
    code: String,

    /// The wire format: problem, status-code, coded, detail, meta, envelope, flat, google, stripe
    /// or jsonapi
    #[arg(long, short, value_name = "DIALECT", default_value = "problem", value_parser = parse_dialect)]
    dialect: Dialect,

    #[command(flatten)]
    catalogs: CatalogArgs,

    /// A detail, filling the message's {KEY} placeholder; VALUE is read as JSON when it parses
    /// (required=1 is a number, ok=true a bool, model='"10"' a string), else taken as a string,
    /// unless it starts with {, [ or " (JSON that does not parse is an error, and so is an
    /// integer past 64 bits, which would be sent rounded). Sent as a detail
    /// only when the entry documents KEY in `details`
    #[arg(long = "set", short = 's', value_name = "KEY=VALUE", value_parser = parse_set)]
    set: Vec<(String, Value)>,

    /// A field violation (repeatable); the message may contain colons, and an empty FIELD is the
    /// whole input (':invalid_type:expected an object'). With no --message, the
    /// first violation words a validation_error's message ("email: Not an email address"), as
    /// the axum layers word a rejection, unless the catalog words the code its own way
    #[arg(long = "violation", value_name = "FIELD:CODE:MESSAGE", value_parser = parse_violation)]
    violations: Vec<Violation>,

    /// Ask the client to wait this many seconds (Retry-After, and the body where the dialect has a
    /// place for it)
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = whole(0, u64::MAX))]
    retry_after: Option<u64>,

    /// Replace the catalog's message for this occurrence only
    #[arg(long, value_name = "TEXT", value_parser = parse_message)]
    message: Option<String>,

    /// The request id: 1–128 characters of [A-Za-z0-9._-] [default: a new UUIDv7]
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,

    /// The time of the error, RFC 3339 (status-code prints it) [default: now]
    #[arg(long, value_name = "RFC3339", value_parser = parse_timestamp)]
    timestamp: Option<SystemTime>,

    /// The request path: problem details' `instance`
    #[arg(long, value_name = "PATH")]
    instance: Option<String>,
}

/// Whether the error's entry keeps the message of the built-in entry of
/// `code` (the layers raise that one, and their message gives way to an
/// entry worded otherwise, one the catalog sends `code` as included).
fn builtin_wording(code: &str, err: &tollgate::ApiError) -> bool {
    Catalog::builtin_ref()
        .get(code)
        .is_some_and(|builtin| builtin.message().as_str() == err.def().message().as_str())
}

/// Renders the error and writes the response to `out`.
pub(crate) fn run(args: RenderArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let catalog = args.catalogs.load()?;
    let mut err = catalog
        .error(&args.code)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    // The dialect the entry is written in (it may be sent in another).
    let written = err.def().dialect_in(args.dialect);
    for (key, value) in args.set {
        if written.reserved_detail_keys().contains(&key.as_str()) {
            stderr!(
                "warning: --set {}: it is a member of the {} dialect, so it fills the message but \
                 is not rendered as a detail",
                shown(&key),
                written
            );
        } else if !err.def().sends_detail(&key) && !err.def().message_only_keys().contains(&key) {
            // Only the details the entry documents are sent, as the error
            // reference shows; the value may still fill the message. A
            // `message_only` key is meant for the message alone: no warning.
            stderr!(
                "warning: --set {}: the {} entry does not document it in `details`, so it fills \
                 the message but is not sent",
                shown(&key),
                args.code
            );
        }
        err = err.with(key, value);
    }
    for violation in args.violations {
        err = err.violation(violation);
    }
    if let Some(secs) = args.retry_after {
        err = err.retry_after(Duration::from_secs(secs));
    }
    match args.message {
        Some(message) => err = err.with_message(message),
        // Worded as the layers word a rejection: by its first violation,
        // while the entry keeps the built-in message.
        None if args.code == "validation_error"
            && !err.violations().is_empty()
            && builtin_wording(&args.code, &err) =>
        {
            let told = err.violations()[0].told();
            err = err.with_default_message(told);
        }
        None => {
            let def = err.def().clone();
            for name in def
                .message()
                .placeholders()
                .filter(|name| !err.details().contains_key(*name))
            {
                stderr!("warning: the message's {{{name}}} has no value; add --set {name}=VALUE");
            }
        }
    }
    let request_id = match args.request_id {
        Some(id) if is_valid_request_id(&id) => id,
        Some(id) => {
            return Err(CliError::Usage(format!(
                "invalid request id {:?}: expected 1–128 characters of [A-Za-z0-9._-]",
                crate::wire::clipped(&id)
            )));
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let mut ctx =
        Context::new(args.timestamp.unwrap_or_else(SystemTime::now)).request_id(&request_id);
    if let Some(instance) = &args.instance {
        ctx = ctx.instance(instance);
    }
    let renderer = catalog.renderer(args.dialect);
    let body = renderer.body(&err, &ctx);
    let headers = renderer.headers(&err, &ctx);
    let status = http::StatusCode::from_u16(err.status()).map_err(|_| {
        // Catalogs only hold statuses 400–599, so this is not reachable from a file.
        CliError::Usage(format!(
            "entry {:?} has an invalid status {}",
            err.code(),
            err.status()
        ))
    })?;
    wire::write_response(out, status, &headers, &body)?;
    Ok(ExitCode::SUCCESS)
}

/// `KEY=VALUE`, VALUE as JSON when it parses, else as a string.
fn parse_set(arg: &str) -> Result<(String, Value), String> {
    let (key, value) = arg.split_once('=').ok_or_else(|| {
        format!(
            "expected KEY=VALUE, such as required=1; found {:?}",
            wire::clipped(arg)
        )
    })?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!(
            "the key is empty in {:?}: expected KEY=VALUE",
            wire::clipped(arg)
        ));
    }
    let value = match serde_json::from_str(value) {
        // `-0` is 0: serde_json reads it as the float `-0.0`.
        Ok(Value::Number(n)) if n.as_f64() == Some(0.0) && !value.contains(['.', 'e', 'E']) => {
            Value::from(0)
        }
        // Digits past 64 bits would go out rounded (`1.2345678901234568e+22`),
        // as most clients' parsers would read them too.
        Ok(Value::Number(n)) if n.is_f64() && !value.contains(['.', 'e', 'E']) => {
            return Err(format!(
                "{} is an integer past 64 bits, which would be sent rounded, as {n}; for the \
                 exact digits, send it as a string: {}='\"{}\"'",
                wire::clipped(value.trim()),
                wire::clipped(key),
                wire::clipped(value.trim())
            ));
        }
        Ok(json) => json,
        // An object, an array or a string with a typo is said, not sent as
        // the text it is.
        Err(e) if value.trim_start().starts_with(['{', '[', '"']) => {
            return Err(format!(
                "{:?} starts as JSON but is not JSON ({e}); for a string, write it as a \
                 JSON string: {}='\"…\"'",
                wire::clipped(value),
                wire::clipped(key)
            ));
        }
        Err(_) => Value::String(value.to_owned()),
    };
    Ok((key.to_owned(), value))
}

/// A message: not blank, as lint holds a catalog's (it is what the error
/// tells the client).
fn parse_message(arg: &str) -> Result<String, String> {
    if arg.trim().is_empty() {
        return Err("the message is empty: it is what the error tells the client".to_owned());
    }
    Ok(arg.to_owned())
}

/// `FIELD:CODE:MESSAGE`; the message may itself contain colons, and an
/// empty field is the whole input, as the axum layers name it.
fn parse_violation(arg: &str) -> Result<Violation, String> {
    let mut parts = arg.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(field), Some(code), Some(message)) if !code.is_empty() => {
            Ok(Violation::new(field, code, message))
        }
        _ => Err(format!(
            "expected FIELD:CODE:MESSAGE, such as 'email:invalid_format:Not an email address'; found {:?}",
            wire::clipped(arg)
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_values_are_json_when_they_parse() {
        assert_eq!(parse_set("required=1"), Ok(("required".into(), json!(1))));
        assert_eq!(parse_set("ok=true"), Ok(("ok".into(), json!(true))));
        assert_eq!(parse_set("model=\"10\""), Ok(("model".into(), json!("10"))));
        assert_eq!(parse_set("tags=[1,2]"), Ok(("tags".into(), json!([1, 2]))));
        assert_eq!(
            parse_set("scope=scans:write"),
            Ok(("scope".into(), json!("scans:write")))
        );
        assert_eq!(parse_set("eq=a=b"), Ok(("eq".into(), json!("a=b"))));
        assert_eq!(parse_set("empty="), Ok(("empty".into(), json!(""))));
        // An integer past 64 bits would be sent rounded: refused, the way
        // to send its digits told.
        let told = parse_set("required=12345678901234567890123").unwrap_err();
        assert!(
            told.contains("past 64 bits")
                && told.contains(r#"required='"12345678901234567890123"'"#),
            "{told}"
        );
        assert_eq!(
            parse_set("big=18446744073709551615"),
            Ok(("big".into(), json!(u64::MAX)))
        );
        assert_eq!(parse_set("f=1.5e3"), Ok(("f".into(), json!(1500.0))));
        assert_eq!(parse_set("zero=-0"), Ok(("zero".into(), json!(0))));
        assert!(
            parse_set("novalue")
                .unwrap_err()
                .contains("expected KEY=VALUE")
        );
        assert!(parse_set("=1").unwrap_err().contains("key is empty"));
        for typo in ["tags=[1,2", "limits={\"a\":}", "model=\"10", "x= [1,]"] {
            let e = parse_set(typo).unwrap_err();
            assert!(
                e.contains("starts as JSON but is not JSON ("),
                "{typo}: {e}"
            );
        }
        assert_eq!(
            parse_set("model=\"[1,2\""),
            Ok(("model".into(), json!("[1,2")))
        );
    }

    #[test]
    fn a_blank_message_is_refused_as_lint_refuses_it() {
        assert!(parse_message("Rule not found").is_ok());
        for blank in ["", "  ", "\t\n"] {
            assert!(
                parse_message(blank)
                    .unwrap_err()
                    .starts_with("the message is empty")
            );
        }
    }

    #[test]
    fn violations_keep_colons_in_messages() {
        let v = parse_violation("email:invalid_format:Expected: user@host").unwrap();
        assert_eq!(
            v,
            Violation::new("email", "invalid_format", "Expected: user@host")
        );
        assert!(parse_violation("email:invalid_format").is_err());
        assert!(parse_violation("field::msg").is_err());
        // The whole input's, as a body of the wrong type is refused.
        let whole = parse_violation(":invalid_type:expected an object").unwrap();
        assert_eq!(
            whole,
            Violation::new("", "invalid_type", "expected an object")
        );
    }
}
