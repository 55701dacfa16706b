//! Writes the starting corpora: `corpus/decode` gets every JSON body printed in
//! the seed API docs and every built-in error rendered in every dialect (each
//! with and without its response headers); `corpus/catalog` gets the built-in
//! catalog's TOML and a few broken variants.
//!
//! ```text
//! cargo +nightly run --bin seed-corpus [SEEDS_DIR]
//! ```
//!
//! `SEEDS_DIR` defaults to `shared/seeds` beside the repository.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tollgate::{Catalog, Context, Dialect, Violation};
use tollgate_fuzz::{join, now};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../../shared/seeds"));
    let decode_dir = root.join("corpus/decode");
    let catalog_dir = root.join("corpus/catalog");
    fs::create_dir_all(&decode_dir)?;
    fs::create_dir_all(&catalog_dir)?;

    let mut written = 0;
    let mut put = |dir: &Path, name: String, data: &[u8]| -> std::io::Result<()> {
        written += 1;
        fs::write(dir.join(name), data)
    };

    // JSON bodies printed in the seed docs, with statuses that fit them.
    let mut seed_bodies = 0;
    let mut files: Vec<_> = fs::read_dir(&seeds)
        .map_err(|e| format!("cannot read seeds at {}: {e}", seeds.display()))?
        .collect::<Result<_, _>>()?;
    files.sort_by_key(|f| f.path());
    for file in files {
        let text = fs::read_to_string(file.path())?;
        let stem = file
            .path()
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for (i, body) in json_objects(&text).into_iter().enumerate() {
            seed_bodies += 1;
            let status = body_status(&body);
            let bytes = serde_json::to_vec(&body)?;
            put(
                &decode_dir,
                format!("seed-{stem}-{i}"),
                &join(status, &[], &bytes),
            )?;
            let headers = [("Retry-After", "30"), ("X-Request-Id", "req_seed")];
            put(
                &decode_dir,
                format!("seed-{stem}-{i}-headers"),
                &join(status, &headers, &bytes),
            )?;
            put(
                &decode_dir,
                format!("seed-{stem}-{i}-bare"),
                &join(0, &[], &bytes),
            )?;
        }
    }

    // Every built-in error in every dialect: plain, and with details,
    // violations and a retry hint.
    let catalog = Catalog::builtin();
    let ctx = Context::new(now())
        .request_id("req_01HZX")
        .instance("/v1/scans");
    for def in catalog.iter() {
        let plain = catalog.error(def.code())?;
        let mut rich = catalog
            .error(def.code())?
            .retry_after(Duration::from_millis(1500));
        for key in def.detail_keys() {
            rich = rich.with(key.as_str(), 3);
        }
        let rich = rich
            .violation(Violation::new(
                "items[2].name",
                "invalid_type",
                "must be a string",
            ))
            .violation(Violation::new(
                "limit",
                "out_of_range",
                "must be at most 100",
            ));
        for dialect in Dialect::ALL {
            for (variant, err) in [("plain", &plain), ("rich", &rich)] {
                let response = catalog.renderer(dialect).response(err, &ctx);
                let headers: Vec<(String, String)> = response
                    .headers()
                    .iter()
                    .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect();
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let name = format!("{}-{dialect}-{variant}", def.code());
                put(
                    &decode_dir,
                    name.clone(),
                    &join(def.status(), &headers, response.body()),
                )?;
                put(
                    &decode_dir,
                    format!("{name}-bare"),
                    &join(0, &[], response.body()),
                )?;
            }
        }
    }

    // Bodies that are not JSON objects.
    let others: [(&str, &[u8]); 6] = [
        ("empty", b""),
        ("html", b"<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"),
        ("text", b"upstream connect error or disconnect/reset before headers"),
        ("array", b"[1,2,3]"),
        ("azure", br#"{"error":{"code":"BadArgument","message":"m","target":"x","details":[{"code":"c","target":"t","message":"m"}],"innererror":{"code":"i"}}}"#),
        ("fastapi", br#"{"detail":[{"loc":["body","items",2,"name"],"msg":"field required","type":"value_error.missing"}]}"#),
    ];
    for (name, body) in others {
        let headers = [
            ("Retry-After", "Wed, 15 Nov 2023 00:00:00 GMT"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ];
        put(
            &decode_dir,
            format!("other-{name}"),
            &join(503, &headers, body),
        )?;
    }

    // Rate-limit fields saying a quota is spent.
    let quotas: [(&str, u16, &[(&str, &str)]); 3] = [
        (
            "github",
            403,
            &[
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", "1700000060"),
            ],
        ),
        (
            "ietf",
            429,
            &[("RateLimit", "\"per-key\";r=0;t=7, \"per-ip\";r=9;t=1")],
        ),
        (
            "draft",
            429,
            &[("RateLimit-Remaining", "0"), ("RateLimit-Reset", "12")],
        ),
    ];
    for (name, status, headers) in quotas {
        let body = br#"{"message":"API rate limit exceeded"}"#;
        put(
            &decode_dir,
            format!("quota-{name}"),
            &join(status, headers, body),
        )?;
    }

    // Catalogs: the built-in one, and broken ones for every check.
    let builtin = include_str!("../../../crates/tollgate/src/builtin.toml");
    put(&catalog_dir, "builtin".into(), builtin.as_bytes())?;
    let broken = [
        "docs_url = 'https://docs.example.com/errors'\ndomain = 'example.com'\n",
        "[errors.a]\nstatus = 600\ntitle = 't'\nmessage = 'm'\n",
        "[errors.a]\nstatus = 400\ntitle = 't'\nmessage = 'x {y}'\n",
        "[errors.a]\nstatus = 400\ntitle = 't'\nmessage = 'x {y'\nhint = '}}'\n",
        "[errors.a]\nstatus = 400\n[errors.a]\ntitle = 't'\n",
        "[errors.a]\nstatus = 400\ntitle='t'\nmessage='m'\ndetails=['status']\n",
        "[errors.not_found.aliases]\ncoded = 'GONE'\n\n[errors.conflict.aliases]\ncoded = 'GONE'\n",
        "[errors.xyz]\nstatus = 429\ntitle = 'é'\nmessage = 'ü {n}'\ndetails = ['n']\nretry = 'after'\nkind = 'rate_limited'\nremedy = 'wait'\naliases = { google = 'X_Y', stripe = 'x-y' }\n",
    ];
    for (i, text) in broken.iter().enumerate() {
        put(&catalog_dir, format!("case-{i}"), text.as_bytes())?;
    }

    // Client IPs: proxy chains as deployments send them.
    let client_ip_dir = root.join("corpus/client_ip");
    fs::create_dir_all(&client_ip_dir)?;
    let private: &[&str] = &["10.0.0.0/8", "192.168.0.0/16"];
    type Chain<'a> = (
        &'a str,
        bool,
        &'a [&'a str],
        Option<&'a str>,
        &'a [(char, &'a [u8])],
    );
    let chains: [Chain; 14] = [
        ("xff-one-proxy", false, &["10.0.0.0/8"], Some("10.0.0.1"), &[('x', b"6.6.6.6, 203.0.113.9, 10.0.0.2")]),
        ("xff-two-lines", false, private, Some("10.0.0.1"), &[('x', b"6.6.6.6, 203.0.113.5"), ('x', b"192.168.1.1, 10.2.3.4")]),
        ("xff-all-trusted", false, &["10.0.0.0/8"], Some("10.0.0.1"), &[('x', b"10.9.9.9, 10.0.0.2")]),
        ("xff-garbage", false, &["10.0.0.0/8"], Some("10.0.0.1"), &[('x', b"1.1.1.1, bogus, 10.0.0.2")]),
        ("xff-not-text", false, &["10.0.0.0/8"], Some("10.0.0.1"), &[('x', b"6.6.6.\xff, \xfe\xfd, 203.0.113.5")]),
        ("xff-untrusted-peer", false, &["10.0.0.0/8"], Some("203.0.113.9"), &[('x', b"10.0.0.1"), ('r', b"1.2.3.4")]),
        ("xff-mapped", false, &["::1"], Some("::1"), &[('x', b"[::ffff:198.51.100.4]:5, 198.51.100.9:443")]),
        ("xff-empty-elements", false, &["10.0.0.0/8"], Some("::ffff:10.0.0.1"), &[('x', b"203.0.113.1, ,10.0.0.2 , "), ('x', b"")]),
        ("xff-ipv6", false, &["fd00::/8", "::1"], Some("fd00::1"), &[('x', b"2001:db8:1:2:aaaa::1, fd00::7")]),
        ("forwarded-quoted", true, &["10.0.0.0/8"], Some("10.0.0.1"), &[('f', b"for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.0.0.5;by=\"x,y\"")]),
        ("forwarded-unknown", true, &["10.0.0.0/8"], Some("10.0.0.1"), &[('f', b"for=unknown, for=10.0.0.3")]),
        ("forwarded-obfuscated", true, &["10.0.0.0/8", "::ffff:172.16.0.0/108"], Some("172.16.5.4"), &[('f', b"for=\"198.51.100.7:_p1\", for=\"[2001:db8::7]:_a.b-c\";by=_hidden")]),
        ("forwarded-open-quote", true, &["10.0.0.0/8"], Some("10.0.0.1"), &[('f', b"for=\"6.6.6.6, for=203.0.113.8"), ('x', b"1.2.3.4")]),
        ("no-peer", false, &["0.0.0.0/0", "::/0"], None, &[('x', b"203.0.113.1")]),
    ];
    for (name, forwarded, trusted, peer, lines) in chains {
        let data = tollgate_fuzz::client_ip::join_client_ip(forwarded, trusted, peer, None, lines);
        put(&client_ip_dir, name.to_string(), &data)?;
        let exact =
            tollgate_fuzz::client_ip::join_client_ip(forwarded, trusted, peer, Some(128), lines);
        put(&client_ip_dir, format!("{name}-128"), &exact)?;
    }

    // Retry hints: what rate limiters, gateways and APIs send.
    let hints_dir = root.join("corpus/retry_hints");
    fs::create_dir_all(&hints_dir)?;
    type Hints<'a> = (&'a str, u16, &'a [(&'a str, &'a str)], &'a [u8]);
    let google = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#;
    let responses: [Hints; 16] = [
        ("seconds", 429, &[("Retry-After", "120")], b""),
        ("date", 503, &[("Retry-After", "Wed, 15 Nov 2023 00:00:00 GMT")], b""),
        ("date-and-date", 503, &[("Date", "Tue, 14 Nov 2023 22:12:00 GMT"), ("Retry-After", "Tue, 14 Nov 2023 22:14:00 GMT")], b""),
        ("cached", 503, &[("Date", "Tue, 14 Nov 2023 22:12:00 GMT"), ("Age", "25"), ("Retry-After", "Tue, 14 Nov 2023 22:14:00 GMT"), ("RateLimit", "\"default\";r=0;t=30")], b""),
        ("two-lines", 429, &[("Retry-After", "30"), ("Retry-After", "60")], b""),
        ("folded", 429, &[("Retry-After", "120, 120")], b""),
        ("huge", 429, &[("Retry-After", "99999999999999999999999")], b""),
        ("rfc850", 503, &[("Retry-After", "Wednesday, 15-Nov-23 00:00:00 GMT")], b""),
        ("github", 403, &[("X-RateLimit-Limit", "60"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1700000060")], br#"{"message":"API rate limit exceeded"}"#),
        ("ietf", 429, &[("RateLimit-Policy", "\"default\";q=100;w=60"), ("RateLimit", "\"default\";r=0;t=30")], b""),
        ("draft", 429, &[("RateLimit-Limit", "100"), ("RateLimit-Remaining", "0"), ("RateLimit-Reset", "12")], b""),
        ("twitter", 429, &[("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", "1700000000123")], b""),
        ("azure", 429, &[("retry-after-ms", "1500"), ("x-ms-retry-after-ms", "1500")], b""),
        ("body", 429, &[("Content-Type", "application/json")], br#"{"error":{"code":429,"message":"Too Many Requests: Rate limit exceeded","retry_after":60}}"#),
        ("discord", 429, &[("Retry-After", "7")], br#"{"message":"You are being rate limited.","retry_after":6.457,"global":false}"#),
        ("google", 429, &[("Content-Type", "application/json; charset=utf-8")], google),
    ];
    for (name, status, headers, body) in responses {
        put(
            &hints_dir,
            name.to_string(),
            &tollgate_fuzz::retry_hints::join_hints(status, 1, headers, body),
        )?;
    }

    println!(
        "{seed_bodies} JSON bodies from {}; {written} corpus files written",
        seeds.display()
    );
    Ok(())
}

/// Every top-level JSON object printed in a text.
fn json_objects(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(offset) = text[at..].find('{') {
        let start = at + offset;
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value @ Value::Object(_))) => {
                at = start + stream.byte_offset();
                out.push(value);
            }
            _ => at = start + 1,
        }
    }
    out
}

/// The status a body states, else 400.
fn body_status(body: &Value) -> u16 {
    let candidates = [
        body.pointer("/status"),
        body.pointer("/error/code"),
        body.pointer("/errors/0/status"),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(400)
}
