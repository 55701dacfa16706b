//! `tollgate docs`, run as a user runs it: the OpenAPI it writes validates
//! against the OpenAPI 3.1 schema (the core's copy of the OpenAPI
//! Initiative's 2022-10-07 schema), and every format follows the catalog.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;
use tollgate::{Catalog, Dialect};

fn tollgate(args: &[&str]) -> Output {
    let output = common::tollgate_command()
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .expect("the tollgate binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "tollgate {args:?} panicked:\n{stderr}"
    );
    output
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tollgate-cli-docs")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok_stdout(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn oas() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!(
        "../../tollgate/tests/data/oas-3.1-schema.json"
    ))
    .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn problems(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// The built-in catalog with the files loaded, as the binary loads them.
fn catalog_with(files: &[&str]) -> Catalog {
    let mut catalog = Catalog::builtin();
    for file in files {
        let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
        catalog.load_toml(file, &text).unwrap();
    }
    catalog
}

#[test]
fn openapi_validates_against_the_3_1_schema_in_every_dialect() {
    let oas = oas();
    let catalog = Catalog::builtin();
    for dialect in Dialect::ALL {
        let output = tollgate(&["docs", "--format", "openapi", "--dialect", dialect.name()]);
        let doc: Value = serde_json::from_str(&ok_stdout(&output)).unwrap();
        assert_eq!(problems(&oas, &doc), Vec::<String>::new(), "{dialect}");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "API errors");
        assert_eq!(doc["paths"], serde_json::json!({}));

        let responses = doc["components"]["responses"].as_object().unwrap();
        let codes: Vec<&str> = catalog.iter().map(|d| d.code()).collect();
        assert_eq!(
            responses.keys().map(String::as_str).collect::<Vec<_>>(),
            codes,
            "{dialect}: one response per code, in catalog order"
        );
        // Each example is a body of this dialect, as the decoder reads it.
        for def in catalog.iter() {
            let example = &responses[def.code()]["content"][dialect.content_type()]["example"];
            let body = serde_json::to_vec(example).unwrap();
            let decoded = catalog.decode(
                def.status(),
                &http::HeaderMap::new(),
                &body,
                std::time::SystemTime::now(),
            );
            assert_eq!(decoded.dialect, dialect.name(), "{}: {example}", def.code());
        }
        // The schema is the core's, for this dialect.
        assert_eq!(
            doc["components"]["schemas"]["Error"],
            tollgate::docs::openapi::error_schema(dialect)
        );
    }
}

/// Every `$ref` in `value`, each a JSON pointer into the document.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                match member {
                    Value::String(target) if key == "$ref" => out.push(target.clone()),
                    other => refs(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

/// Seed 002's catalog served in `detail`: its rate limit, sent in `coded`,
/// refers to a `CodedError` schema the document holds, and the description
/// says which entries are written otherwise.
#[test]
fn openapi_holds_the_schema_of_each_dialect_an_entry_is_sent_in() {
    let output = tollgate(&[
        "docs",
        "--format",
        "openapi",
        "--dialect",
        "detail",
        "-c",
        "examples/catalogs/002-extraction.toml",
    ]);
    let doc: Value = serde_json::from_str(&ok_stdout(&output)).unwrap();
    assert_eq!(problems(&oas(), &doc), Vec::<String>::new());
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(
        found.contains(&"#/components/schemas/CodedError".to_owned()),
        "{found:?}"
    );
    for target in &found {
        let pointer = target.strip_prefix('#').unwrap();
        assert!(
            doc.pointer(pointer).is_some(),
            "{target} resolves to nothing"
        );
    }
    let limited = &doc["components"]["responses"]["rate_limit_exceeded"]["content"]["application/json"]
        ["example"];
    assert_eq!(limited["error"]["code"], "RATE_LIMIT_ERROR", "{limited}");
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("but for `rate_limit_exceeded` in `coded`"),
        "{description}"
    );
}

#[test]
fn openapi_follows_catalog_files_title_and_version() {
    let dir = scratch("openapi-file");
    let out = dir.join("openapi.json");
    let output = tollgate(&[
        "docs",
        "-f",
        "openapi",
        "-d",
        "envelope",
        "-c",
        "examples/catalogs/004-detection.toml",
        "--title",
        "Detection API",
        "--api-version",
        "2.3.0",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        ok_stdout(&output),
        "",
        "with --output nothing goes to stdout"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(problems(&oas(), &doc), Vec::<String>::new());
    assert_eq!(doc["info"]["title"], "Detection API");
    assert_eq!(doc["info"]["version"], "2.3.0");
    let catalog = catalog_with(&["examples/catalogs/004-detection.toml"]);
    let frames = catalog
        .get("insufficient_frames")
        .expect("the seed 004 catalog defines insufficient_frames");
    let response = &doc["components"]["responses"]["insufficient_frames"];
    assert_eq!(
        response["content"]["application/json"]["example"],
        tollgate::docs::example_body(&catalog, Dialect::Envelope, frames)
    );
}

/// A YAML reader (as many OpenAPI tools read JSON documents with) refuses
/// DEL, C1 controls, U+FFFE and U+FFFF written as they are: a catalog's
/// noncharacters, and a title's controls, are written as escapes, which
/// read back as the same text.
#[test]
fn openapi_escapes_what_a_yaml_reader_refuses() {
    let dir = scratch("openapi-noncharacters");
    let file = dir.join("odd.toml");
    let message = "a \u{fffe} b \u{ffff} c \u{fdd0} d \u{1fffe} é 日本 🚀";
    std::fs::write(
        &file,
        format!("[errors.odd_text]\nstatus = 400\ntitle = 'Odd'\nmessage = '{message}'\n"),
    )
    .unwrap();
    let title = "API \u{7f}\u{85}\u{9f}";
    let output = tollgate(&[
        "docs",
        "-f",
        "openapi",
        "-c",
        file.to_str().unwrap(),
        "--title",
        title,
    ]);
    let text = ok_stdout(&output);
    let refused: Vec<char> = text
        .chars()
        .filter(|&c| matches!(c, '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}'))
        .collect();
    assert_eq!(refused, [], "written as they are");
    // What YAML takes as it is (U+FDD0, the noncharacters past U+FFFF) is
    // left so.
    assert!(text.contains("a \\ufffe b \\uffff c \u{fdd0} d \u{1fffe} é 日本 🚀"));
    assert!(text.contains("API \\u007f\\u0085\\u009f"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["info"]["title"], title);
    let example = &doc["components"]["responses"]["odd_text"]["content"]["application/problem+json"]
        ["example"];
    assert_eq!(example["detail"], message);
}

#[test]
fn html_and_markdown_are_the_core_reference() {
    let catalog = catalog_with(&["examples/catalogs/002-extraction.toml"]);
    let html = ok_stdout(&tollgate(&[
        "docs",
        "--dialect",
        "coded",
        "--catalog",
        "examples/catalogs/002-extraction.toml",
    ]));
    assert_eq!(html, tollgate::docs::html(&catalog, Dialect::Coded, None));
    for def in catalog.iter() {
        assert!(
            html.contains(&format!("<section id=\"{}\"", def.code())),
            "{}",
            def.code()
        );
    }

    let dir = scratch("markdown");
    let out = dir.join("ERRORS.md");
    let output = tollgate(&[
        "docs",
        "--format",
        "markdown",
        "-c",
        "examples/catalogs/002-extraction.toml",
        "-d",
        "coded",
        "-o",
        out.to_str().unwrap(),
    ]);
    ok_stdout(&output);
    let md = std::fs::read_to_string(&out).unwrap();
    assert_eq!(md, tollgate::docs::markdown(&catalog, Dialect::Coded));
    assert!(md.contains("## `rate_limit_exceeded`"));
    assert!(
        md.contains("RATE_LIMIT_ERROR"),
        "coded spells the seed 002 alias"
    );
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    let output = tollgate(&["docs", "--format", "pdf"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for format in ["html", "markdown", "openapi"] {
        assert!(stderr.contains(format), "{stderr}");
    }

    let output = tollgate(&["docs", "--dialect", "soap"]);
    assert_eq!(output.status.code(), Some(2));

    let output = tollgate(&["docs", "--catalog", "/nonexistent/api.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("/nonexistent/api.toml"),
        "the file is named"
    );

    let output = tollgate(&["docs", "--output", "/nonexistent/dir/errors.html"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot write /nonexistent/dir/errors.html"),
        "{stderr}"
    );
}

/// A target whose directory cannot hold the temporary file it is written
/// into first: that file is named, and what is done with it.
#[cfg(target_os = "linux")]
#[test]
fn output_where_no_temporary_file_can_be_made_names_it() {
    let output = tollgate(&["docs", "-o", "/proc/version"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: cannot write /proc/version: cannot create the temporary file \
             /proc/version.tmp-"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("then renamed over it"), "{stderr}");
}

#[test]
fn output_never_replaces_a_catalog_it_is_made_from() {
    let dir = scratch("own-catalog");
    let catalog = dir.join("api.toml");
    let text = "[errors.teapot]\nstatus = 418\ntitle = 'Teapot'\nmessage = 'No'\n";
    std::fs::write(&catalog, text).unwrap();
    // Named the same, or another way (`./`), it is refused and left as it was.
    let other_name = dir.join(".").join("api.toml");
    for output in [&catalog, &other_name] {
        let args = [
            "docs",
            "-c",
            catalog.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ];
        let output = tollgate(&args);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("is the catalog"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&catalog).unwrap(), text);
    }
}

/// Another file that exists already is no catalog: `-c api.toml -o
/// errors.md` replaces errors.md.
#[test]
fn output_replaces_an_existing_file_that_is_not_a_catalog() {
    let dir = scratch("other-than-catalog");
    let catalog = dir.join("api.toml");
    std::fs::write(
        &catalog,
        "[errors.teapot]\nstatus = 418\ntitle = 'Teapot'\nmessage = 'No'\n",
    )
    .unwrap();
    let out = dir.join("errors.md");
    std::fs::write(&out, "old reference").unwrap();
    let args = [
        "docs",
        "--format",
        "markdown",
        "-c",
        catalog.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    ok_stdout(&tollgate(&args));
    let markdown = std::fs::read_to_string(&out).unwrap();
    assert!(markdown.contains("teapot"), "{markdown}");
}

#[test]
fn output_replaces_the_file_without_truncating_the_old_one() {
    let dir = scratch("replace");
    let out = dir.join("errors.html");
    std::fs::write(&out, "old reference").unwrap();
    // A second name for the old file: truncating and rewriting it in place
    // would show through here; writing a new file and renaming it does not.
    let old = dir.join("old.html");
    std::fs::hard_link(&out, &old).unwrap();
    ok_stdout(&tollgate(&["docs", "--output", out.to_str().unwrap()]));
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        html,
        tollgate::docs::html(&Catalog::builtin(), Dialect::Problem, None)
    );
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "old reference");

    // A failed write names the file and leaves no temporary file behind.
    let taken = dir.join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("inside"), "").unwrap();
    let output = tollgate(&["docs", "--output", taken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write"), "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["errors.html", "old.html", "taken"]);
}

/// `-o /dev/stdout` (or `/dev/stderr`) while that stream is appended to a
/// file: the page goes after what the file held, through the stream; the
/// file is not replaced.
#[cfg(target_os = "linux")]
#[test]
fn output_to_a_redirected_stream_is_appended() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tollgate-cli-docs")
        .join("redirected");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = tollgate::docs::html(&Catalog::builtin(), Dialect::Problem, None);
    for (stream, name) in [("/dev/stdout", "out.log"), ("/dev/stderr", "err.log")] {
        let log = dir.join(name);
        std::fs::write(&log, "before\n").unwrap();
        let append = || std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let mut command = common::tollgate_command();
        command.args(["docs", "-o", stream]).stdin(Stdio::null());
        if stream == "/dev/stdout" {
            command.stdout(append());
        } else {
            command.stderr(append());
        }
        let status = command.status().unwrap();
        assert!(status.success(), "{stream}");
        let written = std::fs::read_to_string(&log).unwrap();
        let head = written.get(..40).unwrap_or(&written);
        assert!(written.starts_with("before\n"), "{stream}: {head:?}");
        assert!(
            written["before\n".len()..] == page,
            "{stream}: not the page after it"
        );
    }
}

/// `-o -` is stdout, as `-` is stdin wherever a file is read; no file `-`
/// is written.
#[test]
fn output_dash_is_stdout() {
    let dir = scratch("dash");
    let output = common::tollgate_command()
        .args(["docs", "--format", "markdown", "-o", "-"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let markdown = tollgate::docs::markdown(&Catalog::builtin(), Dialect::Problem);
    assert!(
        ok_stdout(&output) == markdown,
        "not the reference on stdout"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a file was written"
    );
    // A file named `-` is neither written nor taken for the catalog read
    // from stdin (`-c -`).
    std::fs::write(dir.join("-"), "kept").unwrap();
    let output = common::tollgate_command()
        .args(["docs", "--format", "markdown", "-c", "-", "-o", "-"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(ok_stdout(&output).starts_with('#'));
    assert_eq!(std::fs::read_to_string(dir.join("-")).unwrap(), "kept");
}

#[test]
fn help_lists_every_dialect_and_format() {
    let help = ok_stdout(&tollgate(&["docs", "--help"]));
    for dialect in Dialect::ALL {
        assert!(help.contains(dialect.name()), "{dialect}");
    }
    for format in ["html", "markdown", "openapi"] {
        assert!(help.contains(format), "{format}");
    }
}
