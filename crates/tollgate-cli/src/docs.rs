//! `tollgate docs`: the error reference, written offline from the catalog as
//! an HTML page, Markdown, or a whole OpenAPI 3.1 document.
//!
//! [`openapi_outline`] and [`openapi_json_with_responses`] are the one place
//! a document is put together, so a server that knows its routes
//! (`tollgate serve`, for `GET /openapi.json`) describes its errors exactly
//! as `tollgate docs --format openapi` does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use http::Method;
use serde_json::{Map, Value, json};
use tollgate::docs::openapi::ErrorMedia;
use tollgate::{Catalog, Dialect, ErrorDef, docs};

use crate::args::parse_dialect;
use crate::catalogs::CatalogArgs;
use crate::error::CliError;
use crate::input::{self, Opening};

/// Shown after `tollgate docs --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate docs > errors.html
  tollgate docs --format markdown --dialect envelope --catalog api.toml --output ERRORS.md
  tollgate docs --format openapi --title 'Scans API' --output openapi.json

html is one page, readable on a phone and a desktop; its search box works without JavaScript where
a server answers GET ?q= with the page for the query (as `serve` does at /errors); each code's
anchor (#code) is what the `type`, `doc_url` and `links.about` of every error point at. openapi is
an OpenAPI 3.1 document whose components hold the dialect's error schema (schemas.Error) and one
response per code (responses.<code>), each with an example, for `$ref` from your own operations.";

/// What `tollgate docs` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One HTML page: an index, then a section per code with an example response
    Html,
    /// The same as Markdown
    Markdown,
    /// An OpenAPI 3.1 document (JSON) with the error schema and a response per code
    Openapi,
}

/// Arguments of `tollgate docs`.
#[derive(Debug, clap::Args)]
pub(crate) struct DocsArgs {
    /// What to write
    #[arg(long, short, value_enum, default_value = "html")]
    format: Format,

    #[command(flatten)]
    catalogs: CatalogArgs,

    /// The dialect of the example bodies and the error schema: problem, status-code, coded,
    /// detail, meta, envelope, flat, google, stripe or jsonapi
    #[arg(long, short, value_name = "DIALECT", default_value = "problem", value_parser = parse_dialect)]
    dialect: Dialect,

    /// Write to FILE instead of stdout; `-` is stdout
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,

    /// openapi: the document's info.title [default: API errors]
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,

    /// openapi: the document's info.version (the version of your API) [default: 1.0.0]
    #[arg(long, value_name = "VERSION")]
    api_version: Option<String>,
}

/// Writes the reference to `--output` or `out`.
pub(crate) fn run(args: DocsArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    // `-o -` is stdout, as `-` is stdin wherever a file is read.
    let output = args
        .output
        .as_deref()
        .filter(|path| path.as_os_str() != "-");
    if let Some(output) = output {
        // `-o api.toml` meant as `-c api.toml` would replace the catalog.
        let canonical = std::fs::canonicalize(output).ok();
        let catalog = args
            .catalogs
            .files
            .iter()
            .find(|file| canonical.is_some() && std::fs::canonicalize(file).ok() == canonical);
        if let Some(catalog) = catalog {
            return Err(CliError::Usage(format!(
                "--output {} is the catalog {} the reference is made from; name another file",
                output.display(),
                catalog.display()
            )));
        }
    }
    if args.format != Format::Openapi && (args.title.is_some() || args.api_version.is_some()) {
        stderr!(
            "warning: --title and --api-version are the OpenAPI document's info; the {} \
             reference has a title of its own",
            if args.format == Format::Html {
                "html"
            } else {
                "markdown"
            }
        );
    }
    let catalog = args.catalogs.load()?;
    let text = match args.format {
        Format::Html => docs::html(&catalog, args.dialect, None),
        Format::Markdown => docs::markdown(&catalog, args.dialect),
        Format::Openapi => {
            let info = Info::new(
                args.title.as_deref().unwrap_or("API errors"),
                args.api_version.as_deref().unwrap_or("1.0.0"),
            );
            let mut text =
                openapi_text(&catalog, args.dialect, &info, &[]).map_err(std::io::Error::from)?;
            text.push('\n');
            text
        }
    };
    match output {
        Some(path) => write_output(path, text.as_bytes())?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `--output`. A reader that leaves early (`-o >(head)`) ends the
/// command as it does on stdout.
fn write_output(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    replace_file(path, contents).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => CliError::Write(e),
        _ => CliError::Usage(format!("cannot write {}: {e}", path.display())),
    })
}

/// Writes `contents` to `path`. A regular file (or a new one) is written
/// whole or not at all: into `<name>.tmp-<pid>` beside it, then renamed over
/// it, so a failed write leaves the old file as it was (and removes the
/// temporary one), and a replaced file keeps its permissions. Anything else
/// (a pipe, a FIFO, a terminal, `/dev/null`) is written into as it is. A
/// symlink is followed, dangling or not, so the file it points at is the one
/// written. The file stdout or stderr is redirected to (`-o /dev/stdout` with
/// `>> log`) is written through that stream, at its offset and in its mode:
/// replaced, it would lose what the stream wrote before.
fn replace_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => match redirected_stream(&meta) {
            Some(Stream::Stdout) => {
                let mut stdout = std::io::stdout().lock();
                return stdout.write_all(contents).and_then(|()| stdout.flush());
            }
            Some(Stream::Stderr) => return std::io::stderr().lock().write_all(contents),
            None => {}
        },
        Ok(_) => {
            // Opened by the name given, so that `/dev/stdout` and
            // `/dev/fd/N` reach the open file they stand for.
            let name = path.display().to_string();
            let mut file = input::open_telling_a_wait(path, &name, Opening::Write)?;
            return file.write_all(contents);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| link_target(path));
    let name = target
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = name.to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = target.with_file_name(tmp_name);
    // A new file only (`O_EXCL`): one already there, left over or planted
    // by someone else in a shared directory, is neither followed nor
    // overwritten nor removed.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => std::io::Error::new(
                e.kind(),
                format!(
                    "{} is in the way (left by a run that was stopped?): remove it",
                    tmp.display()
                ),
            ),
            // Said as what failed: the target itself is not opened.
            _ => std::io::Error::new(
                e.kind(),
                format!(
                    "cannot create the temporary file {} (the file is written beside its \
                     target, then renamed over it): {e}",
                    tmp.display()
                ),
            ),
        })?;
    let written = (|| {
        if let Ok(old) = std::fs::metadata(&target) {
            file.set_permissions(old.permissions())?;
        }
        file.write_all(contents)?;
        file.sync_all()
    })();
    let result = written.and_then(|()| {
        std::fs::rename(&tmp, &target).map_err(|e| {
            let why = format!("cannot rename {} over it: {e}", tmp.display());
            std::io::Error::new(e.kind(), why)
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A standard stream a file can be the open file of.
enum Stream {
    Stdout,
    Stderr,
}

/// The standard stream redirected to the file `meta` describes, if any (a
/// copy of each stream's descriptor is asked, so no `unsafe` is needed).
#[cfg(unix)]
fn redirected_stream(meta: &std::fs::Metadata) -> Option<Stream> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let is = |stream: std::os::fd::BorrowedFd<'_>| {
        let open = stream.try_clone_to_owned().map(std::fs::File::from);
        open.and_then(|file| file.metadata())
            .is_ok_and(|stream| (stream.dev(), stream.ino()) == (meta.dev(), meta.ino()))
    };
    if is(std::io::stdout().as_fd()) {
        Some(Stream::Stdout)
    } else if is(std::io::stderr().as_fd()) {
        Some(Stream::Stderr)
    } else {
        None
    }
}

/// No stream is told apart from a file here.
#[cfg(not(unix))]
fn redirected_stream(_: &std::fs::Metadata) -> Option<Stream> {
    None
}

/// The path a chain of symlinks ends at, whether or not that exists; `path`
/// itself when it is no symlink.
fn link_target(path: &Path) -> PathBuf {
    let mut target = path.to_owned();
    // As many links as Linux follows.
    for _ in 0..40 {
        let Ok(next) = std::fs::read_link(&target) else {
            break;
        };
        target = match target.parent() {
            Some(dir) => dir.join(next),
            None => next,
        };
    }
    target
}

/// `document` as pretty-printed JSON, as `tollgate docs` writes it,
/// `tollgate serve` serves it and `tollgate probe --json` reports. A
/// character that YAML refuses written as it is (DEL, a C1 control, U+FFFE,
/// U+FFFF: in a catalog's text, in `--title`, in a probed server's paths)
/// is written as a `\uXXXX` escape, which reads back as the same string:
/// OpenAPI tools often read a JSON document with a YAML reader, and a
/// terminal takes U+009B for the start of an escape sequence, as `ESC [`.
/// So are the marks that reorder text ([`reorders`](crate::input::reorders)),
/// which would make the file read other than it is in a terminal or editor.
pub(crate) fn pretty_json(document: &Value) -> serde_json::Result<String> {
    let text = serde_json::to_string_pretty(document)?;
    // The serializer escapes the controls below U+0020 itself.
    let refused = |c: char| {
        matches!(c, '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}') || crate::input::reorders(c)
    };
    if !text.contains(refused) {
        return Ok(text);
    }
    // Outside its strings, JSON is ASCII punctuation, numbers, literals and
    // whitespace, none of them refused, and inside them a refused character
    // never follows an escaping backslash: each found is a string's own, and
    // its escape stands for it.
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        if refused(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// An OpenAPI document's `info`.
#[derive(Clone, Debug)]
pub(crate) struct Info {
    /// `info.title`.
    pub(crate) title: String,
    /// `info.version`: the version of the API described.
    pub(crate) version: String,
}

impl Info {
    /// `info` with a title and the API's version.
    pub(crate) fn new(title: impl Into<String>, version: impl Into<String>) -> Info {
        Info {
            title: title.into(),
            version: version.into(),
        }
    }
}

/// One route of an API, as [`openapi_outline`] describes it.
#[derive(Clone, Debug)]
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "built by servers that know their routes (tollgate serve)"
    )
)]
pub(crate) struct Operation {
    /// The HTTP method.
    pub(crate) method: Method,
    /// The path template, with `{name}` for path parameters: `/v1/scans/{id}`.
    pub(crate) path: String,
    /// One line on what the operation does.
    pub(crate) summary: String,
    /// The status of a success: 200, 201, 204.
    pub(crate) success_status: u16,
    /// The JSON Schema of the success body; `Value::Null` for no body.
    pub(crate) success_schema: Value,
    /// The JSON Schema of the JSON request body, if the operation takes one.
    pub(crate) request_schema: Option<Value>,
    /// An example request body that succeeds (`tollgate probe` sends it).
    pub(crate) request_example: Option<Value>,
    /// The scopes a key needs; `None` for a route that needs no key.
    pub(crate) scopes: Option<Vec<String>>,
    /// Every catalog code the operation can answer with, including those the
    /// layers in front of it add (auth, body limit, rate limit, timeouts).
    /// Codes not in the catalog are left out.
    pub(crate) error_codes: Vec<String>,
}

#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "used by servers that know their routes (tollgate serve)"
    )
)]
impl Operation {
    /// An operation answering `200` with any JSON, no request body, no key
    /// and no errors yet; set the rest with struct update syntax or the fields.
    pub(crate) fn new(method: Method, path: impl Into<String>, summary: impl Into<String>) -> Self {
        Operation {
            method,
            path: path.into(),
            summary: summary.into(),
            success_status: 200,
            success_schema: json!({}),
            request_schema: None,
            request_example: None,
            scopes: None,
            error_codes: Vec::new(),
        }
    }
}

/// The names of the security schemes a keyed operation accepts (either).
const BEARER_SCHEME: &str = "bearerAuth";
const HEADER_SCHEME: &str = "apiKeyHeader";

/// A complete OpenAPI 3.1 document, as [`pretty_json`] writes it: `info`,
/// one path item per route with its success response and every error it can
/// return (grouped by status, one example per code, bodies in `dialect`),
/// and `components` with the dialect's error schema and one response per
/// catalog code.
pub(crate) fn openapi_text(
    catalog: &Catalog,
    dialect: Dialect,
    info: &Info,
    operations: &[Operation],
) -> serde_json::Result<String> {
    let outline = openapi_outline(catalog, dialect.into(), info, operations);
    openapi_json_with_responses(&outline, catalog, |def| {
        docs::openapi::component_response(catalog, dialect, def)
    })
}

/// [`pretty_json`] of `outline` with `response(def)` for each of
/// `catalog`'s entries in its `components.responses`, made and written one
/// at a time: made whole, the document of a catalog of 100 000 entries is a
/// tree of a gigabyte, several times its text.
pub(crate) fn openapi_json_with_responses(
    outline: &Value,
    catalog: &Catalog,
    response: impl Fn(&ErrorDef) -> Value,
) -> serde_json::Result<String> {
    let Value::Object(root) = outline else {
        return pretty_json(outline);
    };
    let mut out = String::new();
    let mut root_members = Members::open(&mut out, 1);
    for (key, value) in root {
        root_members.key(key)?;
        let Some(Value::Object(components)) = (key == "components").then_some(value) else {
            root_members.value(value)?;
            continue;
        };
        let mut members = Members::open(root_members.out, 2);
        for (key, value) in components {
            members.key(key)?;
            if key != "responses" {
                members.value(value)?;
                continue;
            }
            let mut written = Members::open(members.out, 3);
            for def in catalog.iter() {
                written.key(def.code())?;
                written.value(&response(def))?;
            }
            written.close();
        }
        members.close();
    }
    root_members.close();
    Ok(out)
}

/// The members of a JSON object being written as [`pretty_json`] writes
/// them (two spaces a level), at `depth`: the text of a value made on its
/// own is the same but for the indentation, as its strings hold no line
/// break.
struct Members<'o> {
    out: &'o mut String,
    depth: usize,
    empty: bool,
}

impl<'o> Members<'o> {
    fn open(out: &'o mut String, depth: usize) -> Members<'o> {
        out.push('{');
        Members {
            out,
            depth,
            empty: true,
        }
    }

    fn key(&mut self, key: &str) -> serde_json::Result<()> {
        self.out.push_str(if self.empty { "\n" } else { ",\n" });
        self.empty = false;
        self.indent(self.depth);
        self.out
            .push_str(&pretty_json(&Value::String(key.to_owned()))?);
        self.out.push_str(": ");
        Ok(())
    }

    fn value(&mut self, value: &Value) -> serde_json::Result<()> {
        let text = pretty_json(value)?;
        let mut lines = text.split('\n');
        self.out.push_str(lines.next().unwrap_or_default());
        for line in lines {
            self.out.push('\n');
            self.indent(self.depth);
            self.out.push_str(line);
        }
        Ok(())
    }

    fn close(mut self) {
        if !self.empty {
            self.out.push('\n');
            self.indent(self.depth - 1);
        }
        self.out.push('}');
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }
}

/// [`openapi_text`]'s document with `components.responses` left empty, for
/// [`openapi_json_with_responses`] to fill.
pub(crate) fn openapi_outline(
    catalog: &Catalog,
    media: ErrorMedia,
    info: &Info,
    operations: &[Operation],
) -> Value {
    let dialect = media.dialect();
    let mut paths = Map::new();
    for op in operations {
        let item = paths
            .entry(op.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        item[op.method.as_str().to_ascii_lowercase()] = operation(catalog, media, op);
    }
    // The schemas, and `responses` empty.
    let mut components = json!({
        "schemas": docs::openapi::schemas(catalog, media),
        "responses": {}
    });
    if operations.iter().any(|op| op.scopes.is_some()) {
        components["securitySchemes"] = json!({
            BEARER_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "The API key as a bearer token: `Authorization: Bearer <key>`."
            },
            HEADER_SCHEME: {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The API key in its own header."
            }
        });
    }
    // The entries written in another dialect where the API answers in this.
    let sent_in: Vec<String> = catalog
        .iter()
        .filter(|def| def.dialect_in(dialect) != dialect)
        .map(|def| format!("`{}` in `{}`", def.code(), def.dialect_in(dialect)))
        .collect();
    let info = json!({
        "title": info.title,
        "version": info.version,
        "description": format!(
            "Every error is written in the `{dialect}` dialect ({}){}{} and carries the \
             `X-Request-Id` and `X-Error-Code` headers; `components.responses` has one \
             response per error code, with an example.",
            dialect.content_type(),
            if sent_in.is_empty() {
                String::new()
            } else {
                format!(" but for {}", sent_in.join(", "))
            },
            if media.lists_problem() {
                ", or as problem details (application/problem+json) to a client whose \
                 Accept asks for them"
            } else {
                ""
            }
        )
    });
    // Put together by hand: `json!` would copy `paths` and `components`,
    // with an example per code, through its serializer.
    let mut document = Map::new();
    document.insert("openapi".into(), "3.1.0".into());
    document.insert("info".into(), info);
    document.insert("paths".into(), Value::Object(paths));
    document.insert("components".into(), components);
    Value::Object(document)
}

/// The OpenAPI operation object of `op`.
fn operation(catalog: &Catalog, media: ErrorMedia, op: &Operation) -> Value {
    let codes: Vec<&str> = op.error_codes.iter().map(String::as_str).collect();
    let mut responses = Map::new();
    let success = if op.success_schema.is_null() {
        json!({"description": op.summary})
    } else {
        json!({
            "description": op.summary,
            "content": {"application/json": {"schema": op.success_schema}}
        })
    };
    responses.insert(op.success_status.to_string(), success);
    responses.extend(docs::openapi::responses(catalog, media, &codes));
    let mut out = json!({
        "operationId": operation_id(&op.method, &op.path),
        "summary": op.summary,
        "responses": responses,
    });
    let parameters: Vec<Value> = path_parameters(&op.path)
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if !parameters.is_empty() {
        out["parameters"] = parameters.into();
    }
    if op.request_schema.is_some() || op.request_example.is_some() {
        let mut request = json!({"schema": op.request_schema.clone().unwrap_or_else(|| json!({}))});
        if let Some(example) = &op.request_example {
            request["example"] = example.clone();
        }
        out["requestBody"] = json!({
            "required": true,
            "content": {"application/json": request}
        });
    }
    if let Some(scopes) = &op.scopes {
        out["security"] = json!([{BEARER_SCHEME: scopes}, {HEADER_SCHEME: scopes}]);
    }
    out
}

/// `post_v1_scans_id` for `POST /v1/scans/{id}`.
fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for part in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !part.is_empty() {
            id.push('_');
            id.push_str(part);
        }
    }
    id
}

/// The `{name}` parameters of a path template, in order.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|segment| {
        segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|name| !name.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`openapi_text`]'s document, read back.
    fn document(catalog: &Catalog, dialect: Dialect, info: &Info, ops: &[Operation]) -> Value {
        serde_json::from_str(&openapi_text(catalog, dialect, info, ops).unwrap()).unwrap()
    }

    #[test]
    fn the_document_written_entry_by_entry_is_the_document_whole() {
        let mut catalog = Catalog::builtin();
        catalog
            .load_toml(
                "t.toml",
                "docs_url = 'https://docs.example.com/e'\ndomain = 'api \"x\"'\n\
                 [errors.part_entry]\nstatus = 409\ntitle = 'Part'\n\
                 message = 'Needs {needed} \u{ffff}'\ndetails = ['needed']\naliases = { coded = 'PART_X' }\n",
            )
            .unwrap();
        let info = Info::new("T \u{7f}", "1");
        for dialect in Dialect::ALL {
            let text = openapi_text(&catalog, dialect, &info, &[]).unwrap();
            let whole: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                whole["components"],
                docs::openapi::components(&catalog, dialect),
                "{dialect}"
            );
            assert!(text.contains("\\uffff"), "{dialect}");
            assert!(pretty_json(&whole).unwrap() == text, "{dialect}");
        }
    }

    #[test]
    fn controls_and_reordering_marks_are_escaped_and_read_back_the_same() {
        let value = serde_json::json!({ "t": "a\u{9b}2J \u{202e}cod.exe\u{2066} \u{ffff} ok" });
        let text = pretty_json(&value).unwrap();
        for raw in ['\u{9b}', '\u{202e}', '\u{2066}', '\u{ffff}'] {
            assert!(!text.contains(raw), "{text}");
        }
        assert!(text.contains("\\u202e"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("errors.html");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // Even a read-only file is replaced, and stays read-only.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        replace_file(&path, b"newer").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "newer");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o444);
    }

    /// A temporary name someone else made first (here a link to a file
    /// of theirs) is neither followed nor removed: the write fails.
    #[cfg(unix)]
    #[test]
    fn a_planted_temporary_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("errors.html");
        std::fs::write(&path, "old").unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::write(&theirs, "theirs").unwrap();
        let planted = dir
            .path()
            .join(format!("errors.html.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&theirs, &planted).unwrap();
        let err = replace_file(&path, b"new").unwrap_err();
        assert!(err.to_string().contains("is in the way"), "{err}");
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "theirs");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert!(std::fs::symlink_metadata(&planted).unwrap().is_symlink());
    }

    /// A file whose directory cannot hold another (`/proc`): the message
    /// names the temporary file, not only the error of creating it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_directory_without_room_for_the_temporary_file_says_so() {
        let err = write_output(Path::new("/proc/version"), b"new")
            .unwrap_err()
            .to_string();
        let tmp = format!("/proc/version.tmp-{}", std::process::id());
        assert!(
            err.starts_with(&format!(
                "cannot write /proc/version: cannot create the temporary file {tmp} (the file \
                 is written beside its target, then renamed over it): "
            )),
            "{err}"
        );
    }

    #[cfg(unix)]
    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo").arg(path).status();
        assert!(made.unwrap().success());
    }

    /// Reads `path` to its end on another thread; what it read, once it has.
    #[cfg(unix)]
    fn reader(path: &Path) -> std::sync::mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let path = path.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::read(path).unwrap());
        });
        rx
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_written_into_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("fifo", &link).unwrap();
        for (path, text) in [(&fifo, "through"), (&link, "through the link")] {
            let read = reader(&fifo);
            replace_file(path, text.as_bytes()).unwrap();
            let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
            assert!(kind.is_fifo(), "{kind:?}");
            let got = read.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), text);
        }
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no file left beside them: {names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_whose_reader_leaves_is_a_closed_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let path = fifo.clone();
        let reader = std::thread::spawn(move || drop(std::fs::File::open(path).unwrap()));
        // More than a pipe holds: the write cannot end before the reader leaves.
        let err = write_output(&fifo, &vec![b'x'; 4 << 20]).unwrap_err();
        reader.join().unwrap();
        assert!(
            matches!(&err, CliError::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_gets_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let link = dir.path().join("errors.html");
        std::os::unix::fs::symlink("out/real.html", &link).unwrap();
        // A chain of links, the last one dangling.
        let chain = dir.path().join("chain");
        std::os::unix::fs::symlink(&link, &chain).unwrap();
        replace_file(&chain, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(std::fs::symlink_metadata(&chain).unwrap().is_symlink());
        let real = dir.path().join("out/real.html");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        // Now that the file is there, it is replaced through the link.
        replace_file(&link, b"newer").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "newer");
    }

    /// A path that cannot be looked up (links that point at each other)
    /// fails as it is: no file is written in place of a link.
    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_an_error_and_its_links_stay() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.html");
        let b = dir.path().join("b.html");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let err = replace_file(&a, b"new").unwrap_err();
        assert!(!err.to_string().contains("temporary file"), "{err}");
        assert!(std::fs::symlink_metadata(&a).unwrap().is_symlink());
        assert!(std::fs::symlink_metadata(&b).unwrap().is_symlink());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
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

    fn routes() -> Vec<Operation> {
        let middleware = [
            "invalid_key",
            "insufficient_scope",
            "payload_too_large",
            "unsupported_media_type",
            "rate_limit_exceeded",
            "internal_error",
            "timeout",
        ];
        let codes = |extra: &[&str]| -> Vec<String> {
            middleware
                .iter()
                .chain(extra)
                .map(|c| (*c).to_owned())
                .collect()
        };
        vec![
            Operation {
                success_status: 201,
                success_schema: json!({"type": "object", "properties": {"id": {"type": "string"}}}),
                request_schema: Some(json!({"type": "object", "required": ["image_data"]})),
                request_example: Some(json!({"image_data": "iVBORw0KGgo="})),
                scopes: Some(vec!["scans:write".into()]),
                error_codes: codes(&["validation_error", "conflict", "no_such_code"]),
                ..Operation::new(Method::POST, "/v1/scans", "Scan an image")
            },
            Operation {
                scopes: Some(vec!["scans:read".into()]),
                error_codes: codes(&["not_found"]),
                ..Operation::new(Method::GET, "/v1/scans/{id}", "A scan")
            },
            Operation {
                success_status: 204,
                success_schema: Value::Null,
                ..Operation::new(Method::DELETE, "/v1/scans/{id}", "Forget a scan")
            },
        ]
    }

    #[test]
    fn documents_with_routes_validate_in_every_dialect() {
        let oas = oas();
        let catalog = Catalog::builtin();
        let ops = routes();
        for dialect in Dialect::ALL {
            let doc = document(&catalog, dialect, &Info::new("Scans", "2.0.0"), &ops);
            assert_eq!(problems(&oas, &doc), Vec::<String>::new(), "{dialect}");

            let post = &doc["paths"]["/v1/scans"]["post"];
            assert_eq!(post["operationId"], "post_v1_scans");
            assert!(post["responses"]["201"]["content"]["application/json"].is_object());
            let content = &post["responses"]["401"]["content"][dialect.content_type()];
            assert!(
                content["examples"]["invalid_key"]["value"].is_object(),
                "{dialect}"
            );
            let limited = &post["responses"]["429"];
            assert!(limited["headers"]["Retry-After"].is_object(), "{dialect}");
            let statuses: Vec<&String> = post["responses"].as_object().unwrap().keys().collect();
            for status in [
                "400", "401", "403", "409", "413", "415", "429", "500", "504",
            ] {
                assert!(statuses.iter().any(|s| *s == status), "{dialect}: {status}");
            }
            assert_eq!(post["security"][0][BEARER_SCHEME][0], "scans:write");
            let body = &post["requestBody"]["content"]["application/json"];
            assert_eq!(body["example"]["image_data"], "iVBORw0KGgo=");
            assert_eq!(body["schema"]["required"][0], "image_data");

            let get = &doc["paths"]["/v1/scans/{id}"]["get"];
            assert_eq!(get["parameters"][0]["name"], "id");
            assert_eq!(get["parameters"][0]["in"], "path");
            let delete = &doc["paths"]["/v1/scans/{id}"]["delete"];
            assert!(delete["responses"]["204"].get("content").is_none());
            assert!(delete.get("security").is_none());
            assert!(doc["components"]["securitySchemes"][HEADER_SCHEME].is_object());

            // A broken document is caught, so the check is real.
            let mut broken = doc.clone();
            broken["paths"]["/v1/scans"]["post"]["responses"]["201"] = json!({"content": 1});
            assert!(!oas.is_valid(&broken), "{dialect}");
        }
    }

    #[test]
    fn a_document_without_routes_has_no_security_schemes() {
        let catalog = Catalog::builtin();
        let doc = document(&catalog, Dialect::Coded, &Info::new("t", "1"), &[]);
        assert_eq!(doc["paths"], json!({}));
        assert!(doc["components"].get("securitySchemes").is_none());
        assert_eq!(problems(&oas(), &doc), Vec::<String>::new());
    }

    /// A request body is described when either its schema or its example
    /// is known: the schema alone, or the example under an open schema.
    #[test]
    fn a_request_body_needs_only_its_schema_or_its_example() {
        let schema = json!({"type": "object", "required": ["name"]});
        let example = json!({"name": "acme"});
        let ops = [
            Operation {
                request_schema: Some(schema.clone()),
                ..Operation::new(Method::POST, "/v1/accounts", "Create an account")
            },
            Operation {
                request_example: Some(example.clone()),
                ..Operation::new(Method::PUT, "/v1/accounts", "Replace an account")
            },
        ];
        let doc = document(
            &Catalog::builtin(),
            Dialect::Problem,
            &Info::new("t", "1"),
            &ops,
        );
        let body = |method: &str| {
            doc["paths"]["/v1/accounts"][method]["requestBody"]["content"]["application/json"]
                .clone()
        };
        assert_eq!(body("post"), json!({"schema": schema}));
        assert_eq!(body("put"), json!({"schema": {}, "example": example}));
        assert_eq!(problems(&oas(), &doc), Vec::<String>::new());
    }

    #[test]
    fn operation_ids_and_path_parameters() {
        assert_eq!(
            operation_id(&Method::GET, "/v1/scans/{id}"),
            "get_v1_scans_id"
        );
        assert_eq!(operation_id(&Method::POST, "/"), "post");
        let names: Vec<_> = path_parameters("/a/{x}/b/{y}/{}").collect();
        assert_eq!(names, ["x", "y"]);
    }
}
