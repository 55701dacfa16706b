//! `tollgate keys` and `tollgate accounts` against a fresh SQLite file, as a
//! script would use them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn tollgate(dir: &Path, args: &[&str]) -> Output {
    common::tollgate_command()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tollgate binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// `keys create` for account `acme`, scope `a`, expiring after `expires`.
fn create_key_expiring(dir: &Path, expires: &str) -> Output {
    let args = [
        "keys",
        "create",
        "--account",
        "acme",
        "--scopes",
        "a",
        "--expires",
    ];
    let mut args = args.to_vec();
    args.push(expires);
    tollgate(dir, &args)
}

/// A test's own empty directory, removed when dropped: at the test's end,
/// and when it fails.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_dir(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

#[test]
fn a_scratch_directory_is_removed_when_dropped_even_by_a_panic() {
    let path = fresh_dir("scratch-ends").to_path_buf();
    assert!(!path.exists(), "dropped at the end of the statement");
    let kept = std::thread::spawn(|| {
        let dir = fresh_dir("scratch-panics");
        std::fs::write(dir.join("file"), "x").unwrap();
        let path = dir.to_path_buf();
        // Sent out before the panic, which drops `dir`.
        std::panic::panic_any(path);
    })
    .join()
    .unwrap_err();
    let path = kept.downcast::<PathBuf>().unwrap();
    assert!(!path.exists(), "{} is left behind", path.display());
}

#[test]
fn keys_and_accounts_round_trip() {
    let dir = fresh_dir("keys");
    let created = tollgate(
        &dir,
        &[
            "accounts",
            "create",
            "acme",
            "--credits",
            "100",
            "--usage-limit",
            "1000",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    assert!(stdout(&created).contains("balance  100"));
    assert!(
        dir.join("tollgate.db").exists(),
        "the default database is ./tollgate.db"
    );

    let out = tollgate(
        &dir,
        &[
            "keys",
            "create",
            "--account",
            "acme",
            "--scopes",
            "scans:read,scans:write",
            "--expires",
            "30d",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let key = text.lines().last().unwrap().to_owned();
    assert!(
        key.starts_with("tg_live_") && key.len() == 8 + 44,
        "the key alone on the last line: {text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown once"));
    let id = text
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("id")
        .trim()
        .to_owned();

    let list = stdout(&tollgate(&dir, &["keys", "list", "--account", "acme"]));
    assert!(
        list.contains(&id) && list.contains("active") && list.contains("scans:read,scans:write"),
        "{list}"
    );
    assert!(!list.contains(&key), "keys list never shows a key");

    // A key mistyped after its id revokes nothing.
    let last = if key.ends_with('a') { "b" } else { "a" };
    let mistyped = format!("{}{last}", &key[..key.len() - 1]);
    let refused = tollgate(&dir, &["keys", "revoke", &mistyped]);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains(&format!("id of key {id} but is not that key")),
        "{said}"
    );
    assert!(stdout(&tollgate(&dir, &["keys", "list"])).contains("active"));

    let revoked = tollgate(&dir, &["keys", "revoke", &id]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert!(stdout(&tollgate(&dir, &["keys", "list"])).contains("deactivated"));

    assert!(
        stdout(&tollgate(&dir, &["accounts", "credit", "acme", "-30"])).contains("balance  70")
    );
    let refused = tollgate(&dir, &["accounts", "credit", "acme", "-71"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("below zero"));
    assert!(
        stdout(&tollgate(&dir, &["accounts", "suspend", "acme"])).contains("state    suspended")
    );
    assert!(stdout(&tollgate(&dir, &["accounts", "resume", "acme"])).contains("state    active"));
    // An account in that state already is left so, and said to be.
    let again = tollgate(&dir, &["accounts", "resume", "acme"]);
    assert!(again.status.success(), "{again:?}");
    assert!(stdout(&again).contains("state    active"));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("acme was active already"),
        "{again:?}"
    );
    let show = stdout(&tollgate(&dir, &["accounts", "show", "acme"]));
    assert!(
        show.contains("balance  70") && show.contains("of 1000 this month"),
        "{show}"
    );

    let missing = tollgate(&dir, &["accounts", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("account \"nope\" not found"));
    let bad_url = tollgate(&dir, &["keys", "list", "--database", "mysql://x"]);
    assert_eq!(bad_url.status.code(), Some(2));
    // An empty --database (an unset shell variable) is said as such.
    let empty = tollgate(&dir, &["keys", "list", "--database", ""]);
    assert_eq!(empty.status.code(), Some(2));
    let said = String::from_utf8_lossy(&empty.stderr);
    assert!(
        said.contains("a value is required for '--database <URL>'"),
        "{said}"
    );
}

/// A key or an id pasted with spaces or the line's end around it, as a
/// terminal or `$(…)` of a file may give it, is revoked.
#[test]
fn a_key_pasted_with_whitespace_around_it_is_revoked() {
    let dir = fresh_dir("keys-pasted");
    let created = tollgate(&dir, &["accounts", "create", "acme"]);
    assert!(created.status.success(), "{created:?}");
    for pasted in [
        |k: &str| format!(" {k} "),
        |k: &str| format!("{k}\n"),
        |k: &str| format!("\t{k}\r\n"),
    ] {
        let out = create_key_expiring(&dir, "1d");
        assert!(out.status.success(), "{out:?}");
        let text = stdout(&out);
        let key = text.lines().last().unwrap();
        let id = text.lines().next().unwrap().trim_start_matches("id").trim();
        // Revoked by the key, then told revoked already by the id.
        for (given, what, said) in [
            (pasted(key), "key", format!("revoked {id} (")),
            (pasted(id), "id", format!("{id} (")),
        ] {
            let revoked = tollgate(&dir, &["keys", "revoke", &given]);
            let stderr = String::from_utf8_lossy(&revoked.stderr);
            assert!(revoked.status.success(), "{what} {given:?}: {stderr}");
            let text = stdout(&revoked);
            assert!(text.starts_with(&said), "{what} {given:?}: {text}");
            assert_eq!(text.contains("was revoked already, at "), what == "id");
        }
    }
}

#[test]
fn times_past_year_9999_are_written_and_times_past_any_clock_refused() {
    let dir = fresh_dir("far-expiry");
    assert!(
        tollgate(&dir, &["accounts", "create", "acme"])
            .status
            .success()
    );
    let create = |expires: &str| create_key_expiring(&dir, expires);
    // RFC 3339 has four-digit years: such an expiry is written as a Unix time,
    // and the key is still printed.
    let far = create("8000y");
    assert!(far.status.success(), "{far:?}");
    let text = stdout(&far);
    assert!(
        text.contains("expires  after year 9999 (Unix time "),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().starts_with("tg_live_"),
        "{text}"
    );
    let list = tollgate(&dir, &["keys", "list"]);
    assert!(list.status.success(), "{list:?}");
    assert!(stdout(&list).contains("after year 9999"));

    let beyond = create("300000000000y");
    assert_eq!(beyond.status.code(), Some(2), "{beyond:?}");
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("past what a time can hold"));
}

#[test]
fn key_names_that_reorder_text_are_listed_escaped() {
    let dir = fresh_dir("bidi-name");
    assert!(
        tollgate(&dir, &["accounts", "create", "acme"])
            .status
            .success()
    );
    // The store refuses control characters in a name, not the marks that
    // turn the rest of the line right to left.
    let args = [
        "keys",
        "create",
        "--account",
        "acme",
        "--scopes",
        "a",
        "--name",
        "ci \u{202e}txt.exe",
    ];
    let created = tollgate(&dir, &args);
    assert!(created.status.success(), "{created:?}");
    let list = stdout(&tollgate(&dir, &["keys", "list"]));
    assert!(list.contains("ci \\u{202e}txt.exe"), "{list}");
    assert!(!list.contains('\u{202e}'), "{list}");
}

#[test]
fn a_key_nobody_could_read_is_revoked() {
    use std::process::Stdio;
    let dir = fresh_dir("unread-key");
    assert!(
        tollgate(&dir, &["accounts", "create", "acme"])
            .status
            .success()
    );
    // Stdout is a pipe whose reader is gone before the command starts.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = common::tollgate_command()
        .args(["keys", "create", "--account", "acme", "--scopes", "a"])
        .current_dir(&dir)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the key") && stderr.contains("was revoked"),
        "{stderr}"
    );
    let list = stdout(&tollgate(&dir, &["keys", "list"]));
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert!(rows[0].contains("deactivated"), "{list}");
}

/// A key made where nobody sees it is not made: stdout sent to /dev/null,
/// or closed (which the Rust runtime opens as /dev/null before `main`).
#[cfg(unix)]
#[test]
fn a_key_is_not_created_when_stdout_is_discarded() {
    use std::process::{Command, Stdio};
    let dir = fresh_dir("discarded-key");
    assert!(
        tollgate(&dir, &["accounts", "create", "acme"])
            .status
            .success()
    );
    let create = ["keys", "create", "--account", "acme", "--scopes", "a"];
    let to_null = common::tollgate_command()
        .args(create)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let closed = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" "$@" >&-"#)
        .arg(env!("CARGO_BIN_EXE_tollgate"))
        .args(create)
        .env_remove("TOLLGATE_DATABASE_URL")
        .current_dir(&dir)
        .output()
        .unwrap();
    for (how, out) in [("> /dev/null", to_null), (">&-", closed)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{how}: {stderr}");
        assert!(
            stderr.contains("stdout is discarded (/dev/null): the new key would be shown nowhere"),
            "{how}: {stderr}"
        );
        assert!(!stderr.contains("shown once"), "{how}: {stderr}");
    }
    let list = stdout(&tollgate(&dir, &["keys", "list"]));
    assert_eq!(list.lines().count(), 1, "no key was made: {list}");
    // Revoking and accounts' changes show no secret: they are made.
    let output = common::tollgate_command()
        .args(["accounts", "credit", "acme", "5"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn only_accounts_create_creates_a_database() {
    let dir = fresh_dir("missing");
    for args in [
        &["accounts", "show", "demo"][..],
        &["accounts", "credit", "demo", "5"],
        &["accounts", "suspend", "demo"],
        &["keys", "list"],
        &["keys", "create", "--account", "demo", "--scopes", "a"],
        &["keys", "revoke", "key_x"],
        &["keys", "list", "--database", "sqlite://other.db"],
    ] {
        let output = tollgate(&dir, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("no database at ./"), "{args:?}: {stderr}");
        assert!(stderr.contains("pass --database"), "{args:?}: {stderr}");
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
    assert!(!dir.join("tollgate.db").exists());
    assert!(!dir.join("other.db").exists());
    // Creating an account creates it; then the others work.
    let created = tollgate(&dir, &["accounts", "create", "demo"]);
    assert!(created.status.success(), "{created:?}");
    let shown = tollgate(&dir, &["accounts", "show", "demo"]);
    assert!(shown.status.success(), "{shown:?}");
    let listed = tollgate(&dir, &["keys", "list"]);
    assert!(listed.status.success(), "{listed:?}");
}

#[test]
fn the_database_can_come_from_the_environment() {
    let dir = fresh_dir("env-database");
    let secret = "sqlite://from-env.db";
    let with_env = |args: &[&str]| {
        common::tollgate_command()
            .args(args)
            .current_dir(&dir)
            .env("TOLLGATE_DATABASE_URL", secret)
            .output()
            .unwrap()
    };
    let created = with_env(&["accounts", "create", "acme"]);
    assert!(created.status.success(), "{created:?}");
    assert!(dir.join("from-env.db").exists());
    assert!(!dir.join("tollgate.db").exists());
    // Created readable by its owner only, as `serve` creates it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("from-env.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let shown = with_env(&["accounts", "show", "acme"]);
    assert!(shown.status.success(), "{shown:?}");
    // The flag wins over the variable.
    let flagged = with_env(&[
        "accounts",
        "show",
        "acme",
        "--database",
        "sqlite://other.db",
    ]);
    assert_eq!(flagged.status.code(), Some(2), "{flagged:?}");
    // An empty variable (`TOLLGATE_DATABASE_URL= tollgate …`) names none.
    let unset = common::tollgate_command()
        .args(["accounts", "show", "acme"])
        .current_dir(&dir)
        .env("TOLLGATE_DATABASE_URL", "")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&unset.stderr);
    assert_eq!(unset.status.code(), Some(2), "{said}");
    assert!(
        said.contains("no database at ./tollgate.db (named by the default)"),
        "{said}"
    );
    // A database that cannot be opened is told with what named it.
    let unreachable = common::tollgate_command()
        .args(["accounts", "create", "acme"])
        .current_dir(&dir)
        .env(
            "TOLLGATE_DATABASE_URL",
            "postgres://tollgate:hunter2@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2), "{unreachable:?}");
    let said = String::from_utf8_lossy(&unreachable.stderr);
    assert!(said.contains("(named by TOLLGATE_DATABASE_URL)"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    // Help names the variable but never shows its value.
    let help = stdout(&with_env(&["keys", "list", "--help"]));
    assert!(help.contains("TOLLGATE_DATABASE_URL"), "{help}");
    assert!(!help.contains(secret), "{help}");
}

#[test]
fn the_database_can_come_from_the_config_file() {
    let dir = fresh_dir("config-database");
    // Where `serve` finds it in this directory: here, a file of the config's own.
    std::fs::write(
        dir.join("tollgate.toml"),
        "database = \"sqlite://cfg.db\"\n",
    )
    .unwrap();
    let created = tollgate(&dir, &["accounts", "create", "acme"]);
    assert!(created.status.success(), "{created:?}");
    assert!(dir.join("cfg.db").exists());
    assert!(!dir.join("tollgate.db").exists());
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(stderr.contains("cfg.db (from ./tollgate.toml)"), "{stderr}");
    assert!(
        tollgate(&dir, &["accounts", "show", "acme"])
            .status
            .success()
    );
    // A missing database says what named it.
    std::fs::write(
        dir.join("tollgate.toml"),
        "database = \"sqlite://gone.db\"\n",
    )
    .unwrap();
    let missing = tollgate(&dir, &["keys", "list"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gone.db (named by tollgate.toml:1:12)"),
        "{stderr}"
    );
    // A broken config file is located.
    std::fs::write(dir.join("tollgate.toml"), "database = 5\n").unwrap();
    let broken = tollgate(&dir, &["keys", "list"]);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("tollgate.toml:1:12"), "{stderr}");
}

#[test]
fn a_config_directory_an_unknown_account_or_a_key_born_expired_is_refused() {
    let dir = fresh_dir("config_dir");
    std::fs::create_dir(dir.join("tollgate.toml")).unwrap();
    let listed = tollgate(&dir, &["keys", "list"]);
    assert_eq!(listed.status.code(), Some(2), "{listed:?}");
    let said = String::from_utf8_lossy(&listed.stderr);
    assert!(said.contains("cannot read tollgate.toml"), "{said}");

    let nowhere = dir.join("no/such/dir/a.db");
    let url = format!("sqlite://{}", nowhere.display());
    let created = tollgate(&dir, &["accounts", "create", "zz", "--database", &url]);
    assert_eq!(created.status.code(), Some(2), "{created:?}");
    let said = String::from_utf8_lossy(&created.stderr);
    assert!(
        said.contains(&format!(
            "no such directory: {}",
            dir.join("no/such/dir").display()
        )),
        "{said}"
    );

    let dir = fresh_dir("born_expired");
    assert!(
        tollgate(&dir, &["accounts", "create", "acme"])
            .status
            .success()
    );
    let listed = tollgate(&dir, &["keys", "list", "--account", "nobody"]);
    assert_eq!(listed.status.code(), Some(2), "{listed:?}");
    let said = String::from_utf8_lossy(&listed.stderr);
    assert!(said.contains(r#"account "nobody" not found"#), "{said}");
    for expires in ["0s", "0d", "500ms"] {
        let created = create_key_expiring(&dir, expires);
        assert_eq!(created.status.code(), Some(2), "{expires}: {created:?}");
        let said = String::from_utf8_lossy(&created.stderr);
        assert!(said.contains("out of range"), "{said}");
    }
}

#[test]
fn a_database_in_memory_or_a_negative_amount_is_refused_and_a_new_default_said() {
    let dir = fresh_dir("memory");
    // An account made in memory would be gone, unseen, when the command ends.
    let created = tollgate(
        &dir,
        &[
            "accounts",
            "create",
            "acme",
            "--database",
            "sqlite::memory:",
        ],
    );
    assert_eq!(created.status.code(), Some(2), "{created:?}");
    let said = String::from_utf8_lossy(&created.stderr);
    assert!(said.contains("named by --database is in memory"), "{said}");
    // The default database, made where nothing named one, is said.
    let created = tollgate(&dir, &["accounts", "create", "acme"]);
    assert!(created.status.success(), "{created:?}");
    let said = String::from_utf8_lossy(&created.stderr);
    assert!(
        said.contains("creating the database ./tollgate.db"),
        "{said}"
    );
    let again = tollgate(&dir, &["accounts", "create", "other"]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("creating"));
    // A negative amount reaches the check that names it (not clap's
    // "unexpected argument").
    for flag in ["--credits", "--usage-limit", "--storage-quota"] {
        let created = tollgate(&dir, &["accounts", "create", "acme", flag, "-5"]);
        assert_eq!(created.status.code(), Some(2), "{flag}: {created:?}");
        let said = String::from_utf8_lossy(&created.stderr);
        assert!(said.contains("-5 is negative"), "{flag}: {said}");
    }
}

/// `accounts create` with an id or an amount the store would refuse makes no
/// database: it is refused before one is opened, naming the argument.
#[test]
fn a_refused_account_makes_no_database() {
    let dir = fresh_dir("refused-create");
    for (args, says) in [
        (&["accounts", "create", "bad id!"][..], "for '<ACCOUNT>'"),
        (&["accounts", "create", ""], "for '<ACCOUNT>'"),
        (
            &["accounts", "create", "acme", "--credits", "-5"],
            "for '--credits <CREDITS>': -5 is negative",
        ),
        (
            &["accounts", "create", "acme", "--usage-limit", "-1"],
            "for '--usage-limit <REQUESTS>': -1 is negative",
        ),
    ] {
        let created = tollgate(&dir, args);
        assert_eq!(created.status.code(), Some(2), "{args:?}: {created:?}");
        let said = String::from_utf8_lossy(&created.stderr);
        assert!(said.contains(says), "{args:?}: {said}");
        assert!(!said.contains("creating the database"), "{args:?}: {said}");
        let made: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(made.is_empty(), "{args:?}: {made:?}");
    }
}

/// The limits' help says what they hold: only requests to routes that charge
/// credits count against --usage-limit (an error gives its count back), and
/// serve counts no storage against --storage-quota.
#[test]
fn the_limits_help_says_what_counts() {
    let dir = fresh_dir("help");
    let help = tollgate(&dir, &["accounts", "create", "--help"]);
    assert!(help.status.success(), "{help:?}");
    // Wrapped to the terminal's width: read as one line.
    let text = stdout(&help)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for says in [
        "Requests allowed per calendar month (UTC) to routes that charge credits",
        "nor one answered with an error",
        "serve stores nothing against it, so there it has no effect",
    ] {
        assert!(text.contains(says), "{says:?} not in:\n{text}");
    }
}

/// Runs `sql` on the SQLite file `file`, creating it: another application's
/// database.
fn sqlite_exec(file: &Path, sql: &str) {
    use sqlx::{ConnectOptions, Connection, Executor};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        conn.close().await.unwrap();
    });
}

/// The commands about what a database holds (all but `accounts create`),
/// each with `--database URL`.
fn commands_about(url: &str) -> Vec<Vec<&str>> {
    [
        &["keys", "list"][..],
        &["keys", "create", "--account", "acme", "--scopes", "a"],
        &["keys", "revoke", "key_x"],
        &["accounts", "show", "acme"],
        &["accounts", "credit", "acme", "5"],
        &["accounts", "suspend", "acme"],
        &["accounts", "resume", "acme"],
    ]
    .into_iter()
    .map(|args| [args, &["--database", url]].concat())
    .collect()
}

#[test]
fn a_database_without_tollgate_tables_is_refused_and_left_alone() {
    let dir = fresh_dir("foreign");
    // Another application's database, in SQLite's default journal mode.
    sqlite_exec(
        &dir.join("app.db"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY)",
    );
    // And an empty file.
    std::fs::write(dir.join("empty.db"), "").unwrap();
    for file in ["app.db", "empty.db"] {
        let before = std::fs::read(dir.join(file)).unwrap();
        let url = format!("sqlite://{file}");
        for args in commands_about(&url) {
            let output = tollgate(&dir, &args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            let expected = format!(
                "no Tollgate tables in {url} (named by --database): is this the database \
                 `tollgate serve` uses?"
            );
            assert!(stderr.contains(&expected), "{args:?}: {stderr}");
            assert!(stdout(&output).is_empty(), "{args:?}");
            assert_eq!(
                std::fs::read(dir.join(file)).unwrap(),
                before,
                "{args:?} changed {file}"
            );
            assert!(!dir.join(format!("{file}-wal")).exists(), "{args:?}");
        }
    }
    // `accounts create` refuses another application's file too, changing
    // nothing (not even the journal mode), with one table of a name it
    // uses or none; it makes its tables in an empty one.
    sqlite_exec(
        &dir.join("clash.db"),
        "CREATE TABLE accounts (x INTEGER); CREATE TABLE users (id INTEGER)",
    );
    // A table of one of Tollgate's names alone is another application's too.
    sqlite_exec(&dir.join("alone.db"), "CREATE TABLE accounts (x INTEGER)");
    for (file, named) in [
        ("app.db", "(users)"),
        ("clash.db", "(accounts, users)"),
        ("alone.db", "(accounts)"),
    ] {
        let before = std::fs::read(dir.join(file)).unwrap();
        let url = format!("sqlite://{file}");
        let output = tollgate(&dir, &["accounts", "create", "acme", "--database", &url]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains(&format!("holds another application's tables {named}")),
            "{file}: {stderr}"
        );
        assert_eq!(std::fs::read(dir.join(file)).unwrap(), before, "{file}");
        assert!(!dir.join(format!("{file}-wal")).exists(), "{file}");
    }
    let made = tollgate(
        &dir,
        &[
            "accounts",
            "create",
            "acme",
            "--database",
            "sqlite://empty.db",
        ],
    );
    assert!(made.status.success(), "{made:?}");
    // `accounts create` makes its tables in a new file; `keys create` then works.
    let created = tollgate(
        &dir,
        &[
            "accounts",
            "create",
            "acme",
            "--database",
            "sqlite://new.db",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let key = tollgate(
        &dir,
        &[
            "keys",
            "create",
            "--account",
            "acme",
            "--scopes",
            "a",
            "--database",
            "sqlite://new.db",
        ],
    );
    assert!(key.status.success(), "{key:?}");
}

/// A Postgres URL that names the wrong database or schema (here an empty
/// schema, by `search_path`) is refused, and nothing is created in it.
#[test]
fn a_postgres_database_without_tollgate_tables_is_refused_and_left_alone() {
    let Ok(base) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
        return;
    };
    let schema = format!("cli_foreign_{}", uuid::Uuid::now_v7().simple());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = runtime.block_on(sqlx::PgPool::connect(&base)).unwrap();
    runtime
        .block_on(
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin),
        )
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let dir = fresh_dir("foreign-postgres");
    let mut said = Vec::new();
    for args in commands_about(&url) {
        let output = tollgate(&dir, &args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        said.push((args.join(" "), output.status.code(), stderr));
    }
    let tables: i64 = runtime
        .block_on(
            sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            )
            .bind(&schema)
            .fetch_one(&admin),
        )
        .unwrap();
    runtime
        .block_on(
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin),
        )
        .unwrap();
    for (args, code, stderr) in said {
        assert_eq!(code, Some(2), "{args}: {stderr}");
        assert!(
            stderr.contains("no Tollgate tables in postgres")
                && stderr.contains("(named by --database)"),
            "{args}: {stderr}"
        );
    }
    assert_eq!(tables, 0, "tables were created in {schema}");
}

/// A write the database refuses names the database and what named it.
#[test]
fn a_write_to_a_read_only_database_names_it() {
    let dir = fresh_dir("read-only");
    assert!(
        tollgate(&dir, &["accounts", "create", "acme"])
            .status
            .success()
    );
    let url = "sqlite://tollgate.db?mode=ro";
    let output = tollgate(
        &dir,
        &["accounts", "credit", "acme", "5", "--database", url],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{url} (named by --database)")),
        "{stderr}"
    );
    assert!(stderr.contains("readonly"), "{stderr}");
}

/// A database this user may not write names what is read-only: the file,
/// a `-shm` file SQLite made read-only beside it, or the directory SQLite
/// makes its `-wal` and `-shm` files in (which even a read needs). File
/// modes do not bind root: as root, the commands run as `nobody`
/// (`setpriv`), in a directory of theirs.
#[cfg(target_os = "linux")]
#[test]
fn a_read_only_file_or_directory_is_named() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let set = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let dir = fresh_dir("read-only-file");
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    const NOBODY: u32 = 65534;
    if root {
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let command = |args: &[&str]| {
        let mut command = common::tollgate_command();
        if root {
            let program = command.get_program().to_owned();
            let envs: Vec<_> = command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
                .collect();
            command = Command::new("setpriv");
            command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
            command.arg(program);
            for (name, value) in envs {
                match value {
                    Some(value) => command.env(name, value),
                    None => command.env_remove(name),
                };
            }
        }
        command.args(args).current_dir(&dir);
        command
    };
    let run = |args: &[&str]| command(args).output().expect("the tollgate binary runs");
    let said = |args: &[&str]| {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        stderr
    };
    let create = run(&["accounts", "create", "acme"]);
    assert!(create.status.success(), "{create:?}");
    let file = dir.join("tollgate.db");
    set(&file, 0o444);
    let credit = ["accounts", "credit", "acme", "5"];
    let stderr = said(&credit);
    let named = "cannot use the database sqlite://tollgate.db (named by the default)";
    assert!(stderr.contains(named), "{stderr}");
    assert!(stderr.contains("tollgate.db is not writable"), "{stderr}");
    // serve does not start on it (it answered every charged request 503).
    let mut serve = command(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tollgate binary runs");
    let started = std::time::Instant::now();
    while serve.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            serve.kill().unwrap();
            panic!("serve started on a database it cannot write");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = serve.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot use the database sqlite://"),
        "{stderr}"
    );
    assert!(stderr.contains("tollgate.db is not writable"), "{stderr}");
    // SQLite left its `-shm` file as read-only as the database was.
    set(&file, 0o644);
    let stderr = said(&credit);
    assert!(
        stderr.contains("tollgate.db-shm is not writable"),
        "{stderr}"
    );
    for leftover in ["tollgate.db-wal", "tollgate.db-shm"] {
        let _ = std::fs::remove_file(dir.join(leftover));
    }
    set(&dir, 0o555);
    let stderr = said(&["accounts", "show", "acme"]);
    set(&dir, 0o755);
    assert!(stderr.contains(named), "{stderr}");
    let why = "the directory . is not writable, and SQLite makes tollgate.db-wal and \
               tollgate.db-shm in it";
    assert!(stderr.contains(why), "{stderr}");
}

/// A directory SQLite may not make files in for another reason than its mode
/// (it is immutable: `chattr +i`, which binds root too) is named, where
/// SQLite says only "unable to open database file". Needs root and a file
/// system that keeps the attribute; skipped with a notice otherwise.
#[cfg(target_os = "linux")]
#[test]
fn a_database_in_an_immutable_directory_names_the_directory() {
    let dir = fresh_dir("immutable");
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    let url = "sqlite://data/t.db";
    let run = |args: &[&str]| {
        let output = tollgate(&dir, &[args, &["--database", url]].concat());
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["accounts", "create", "acme"]).0, Some(0));
    let chattr = |flag: &str| {
        Command::new("chattr")
            .args([flag, data.to_str().unwrap()])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    /// Lifts the attribute even when an assertion fails, so that the
    /// directory can be removed.
    struct Mutable<F: Fn(&str) -> bool>(F);
    impl<F: Fn(&str) -> bool> Drop for Mutable<F> {
        fn drop(&mut self) {
            (self.0)("-i");
        }
    }
    if !chattr("+i") {
        println!(
            "skipping: chattr +i is refused here (not root, or the file system keeps no such attribute)"
        );
        return;
    }
    let _mutable = Mutable(chattr);
    for args in [&["keys", "list"][..], &["accounts", "credit", "acme", "5"]] {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        let why = "(named by --database): the directory data is not writable, and SQLite makes \
                   t.db-wal and t.db-shm in it";
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
}

/// A change made but not shown (stdout is a full disk) is said to be made,
/// with exit status 0: a script that retried would make it twice.
#[cfg(target_os = "linux")]
#[test]
fn a_change_whose_output_cannot_be_written_is_said_to_be_made() {
    let dir = fresh_dir("full");
    let full = |args: &[&str]| {
        common::tollgate_command()
            .args(args)
            .current_dir(&dir)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap()
    };
    assert!(full(&["accounts", "create", "acme"]).status.success());
    let created = tollgate(
        &dir,
        &["keys", "create", "--account", "acme", "--scopes", "a"],
    );
    let id = stdout(&created).lines().next().unwrap()[2..]
        .trim()
        .to_owned();
    for (args, says) in [
        (
            &["accounts", "create", "other"][..],
            "created the account other",
        ),
        (&["accounts", "credit", "acme", "5"], "credited 5 to acme"),
        (&["accounts", "credit", "acme", "0"], "credited 0 to acme"),
        (
            &["accounts", "credit", "acme", "--", "-2"],
            "debited 2 from acme",
        ),
        (&["accounts", "suspend", "acme"], "suspended acme"),
        (&["accounts", "resume", "acme"], "resumed acme"),
        (&["keys", "revoke", &id], &format!("revoked the key {id}")),
        (
            &["keys", "revoke", &id],
            &format!("the key {id} was revoked already"),
        ),
    ] {
        let output = full(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{says}, but cannot write the output: ")),
            "{args:?}: {stderr}"
        );
    }
    let show = stdout(&tollgate(&dir, &["accounts", "show", "acme"]));
    assert!(
        show.contains("balance  3") && show.contains("state    active"),
        "{show}"
    );
    assert!(stdout(&tollgate(&dir, &["keys", "list"])).contains("deactivated"));
    // Nothing changed: an error, as before.
    let output = full(&["accounts", "show", "acme"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// `data_dir` in ./tollgate.toml is made by `accounts create` as by `serve`,
/// and a missing database is located in the file as `serve` locates it.
#[test]
fn a_data_dir_in_the_config_file_is_made_and_located() {
    let dir = fresh_dir("data-dir");
    std::fs::write(dir.join("tollgate.toml"), "data_dir = \"data\"\n").unwrap();
    let listed = tollgate(&dir, &["keys", "list"]);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert_eq!(listed.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("data/tollgate.db (named by tollgate.toml:1:12)"),
        "{stderr}"
    );
    let created = tollgate(&dir, &["accounts", "create", "acme"]);
    assert!(created.status.success(), "{created:?}");
    assert!(dir.join("data/tollgate.db").exists());
    assert!(tollgate(&dir, &["keys", "list"]).status.success());
}

/// What a command did is in the database file itself, not in a write-ahead
/// log beside it, though a server has the file open: a copy of the file
/// alone (a backup) misses nothing.
#[tokio::test]
async fn a_copy_of_the_database_file_alone_holds_every_change() {
    let dir = fresh_dir("whole-file");
    assert!(
        tollgate(&dir, &["accounts", "create", "acme", "--credits", "7"])
            .status
            .success()
    );
    let url = format!("sqlite://{}", dir.join("tollgate.db").display());
    let server = tollgate_store::Store::open(&url).await.unwrap();
    assert_eq!(server.account("acme").await.unwrap().balance(), 7);
    assert!(
        tollgate(&dir, &["accounts", "credit", "acme", "5"])
            .status
            .success()
    );
    let backup = dir.join("backup");
    std::fs::create_dir(&backup).unwrap();
    std::fs::copy(dir.join("tollgate.db"), backup.join("tollgate.db")).unwrap();
    let show = tollgate(&backup, &["accounts", "show", "acme"]);
    assert!(
        stdout(&show).contains("balance  12"),
        "{}{}",
        stdout(&show),
        String::from_utf8_lossy(&show.stderr)
    );
    server.close().await;
}

/// A SQLite path that is a directory, or in a directory that does not
/// exist (or is a file), is named with what is wrong with it, by every
/// command: not as SQLite's "unable to open database file".
#[test]
fn a_database_path_that_is_a_directory_or_in_none_is_named() {
    let dir = fresh_dir("path_problems");
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("file.txt"), "").unwrap();
    let absolute = dir.join("sub");
    let absolute = format!("sqlite://{}", absolute.display());
    let cases = [
        ("sqlite://sub", "sub is a directory, not a database file"),
        (
            absolute.as_str(),
            &*format!(
                "{} is a directory, not a database file",
                dir.join("sub").display()
            ),
        ),
        ("sqlite://no/such/a.db", "no such directory: no/such"),
        ("sqlite://file.txt/a.db", "file.txt is not a directory"),
    ];
    for (url, why) in cases {
        let mut commands = commands_about(url);
        commands.push(vec!["accounts", "create", "acme", "--database", url]);
        for args in commands {
            let output = tollgate(&dir, &args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            let expected = format!("cannot open the database {url} (named by --database): {why}");
            assert!(stderr.contains(&expected), "{args:?}: {stderr}");
            assert!(!stderr.contains("unable to open"), "{args:?}: {stderr}");
        }
    }
    // Nothing was made on the way.
    assert!(!dir.join("no").exists());
    assert_eq!(std::fs::read_dir(dir.join("sub")).unwrap().count(), 0);
}

/// A Tollgate database whose recorded migration differs from this
/// version's (an edited file, another Tollgate version) is said to be that,
/// naming the migration: not "no Tollgate tables", which it has. Refused so,
/// a command leaves no `-wal` or `-shm` file behind.
#[test]
fn a_database_migrated_with_other_migrations_is_said_so() {
    let dir = fresh_dir("changed-migration");
    let created = tollgate(
        &dir,
        &["accounts", "create", "acme", "--database", "sqlite://t.db"],
    );
    assert!(created.status.success(), "{created:?}");
    sqlite_exec(
        &dir.join("t.db"),
        "UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1",
    );
    let mut commands = commands_about("sqlite://t.db");
    commands.push(vec![
        "accounts",
        "create",
        "other",
        "--database",
        "sqlite://t.db",
    ]);
    for args in commands {
        let output = tollgate(&dir, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("migrated by a different version")
                && stderr.contains("migration 1 (init)")
                && !stderr.contains("no Tollgate tables"),
            "{args:?}: {stderr}"
        );
        for log in ["t.db-wal", "t.db-shm"] {
            assert!(!dir.join(log).exists(), "{args:?} left {log}");
        }
    }
}

/// A huge value given to a command (a key's name, an account id) is quoted
/// in its error up to 64 characters, then `…`: not whole.
#[test]
fn an_error_does_not_quote_a_huge_value_whole() {
    let dir = fresh_dir("huge-value");
    let created = tollgate(
        &dir,
        &["accounts", "create", "acme", "--database", "sqlite://t.db"],
    );
    assert!(created.status.success(), "{created:?}");
    let huge = format!("\t{}", "n".repeat(100_000));
    let by_name = [
        "keys",
        "create",
        "--account",
        "acme",
        "--scopes",
        "a",
        "--name",
        &huge,
    ];
    let by_account = ["keys", "create", "--account", &huge[1..], "--scopes", "a"];
    for args in [&by_name[..], &by_account[..]] {
        let args = [args, &["--database", "sqlite://t.db"]].concat();
        let output = tollgate(&dir, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}",
            &stderr[..200.min(stderr.len())]
        );
        assert!(stderr.len() < 500, "{} bytes", stderr.len());
        assert!(stderr.contains("nnn\"…"), "{stderr}");
    }
}

/// A command on a new SQLite database, whether it succeeds or fails, closes
/// every connection before the process ends: no `-wal` or `-shm` file is
/// left beside the database.
#[test]
fn a_command_leaves_no_log_files_whether_it_succeeds_or_fails() {
    let dir = fresh_dir("log-files");
    for i in 0..20 {
        let url = format!("sqlite://t{i}.db");
        let created = tollgate(&dir, &["accounts", "create", "acme", "--database", &url]);
        assert!(created.status.success(), "{created:?}");
        let again = tollgate(&dir, &["accounts", "create", "acme", "--database", &url]);
        assert_eq!(again.status.code(), Some(2), "{again:?}");
        for log in ["wal", "shm"] {
            let file = dir.join(format!("t{i}.db-{log}"));
            assert!(!file.exists(), "{i}: {} left behind", file.display());
        }
    }
}

/// A database file others may read (made by hand, 0644) is said so: it
/// holds the accounts and the keys' hashes. One the CLI made (0600) is not.
#[cfg(unix)]
#[test]
fn a_database_others_may_read_is_said_so() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh_dir("shared-db");
    let made = tollgate(&dir, &["accounts", "create", "acme", "--credits", "5"]);
    assert!(made.status.success());
    let said = String::from_utf8_lossy(&made.stderr);
    assert!(!said.contains("warning"), "{said}");
    let file = dir.join("tollgate.db");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let shown = tollgate(&dir, &["accounts", "show", "acme"]);
    assert!(shown.status.success());
    let said = String::from_utf8_lossy(&shown.stderr);
    assert!(
        said.starts_with("warning: other users may read") && said.contains("(mode 644)"),
        "{said}"
    );
    // An empty file made by hand is warned about as it is filled.
    let empty = dir.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}", empty.display());
    let filled = tollgate(&dir, &["accounts", "create", "globex", "--database", &url]);
    assert!(filled.status.success(), "{filled:?}");
    let said = String::from_utf8_lossy(&filled.stderr);
    assert!(said.contains("warning: other users may read"), "{said}");
    // A file that is no database is refused, not warned about first.
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "not a database\n").unwrap();
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}", notes.display());
    let refused = tollgate(&dir, &["accounts", "show", "acme", "--database", &url]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!said.contains("warning"), "{said}");
    // In a directory others cannot enter, they cannot read it either.
    std::fs::set_permissions(&*dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let shown = tollgate(&dir, &["accounts", "show", "acme"]);
    assert!(String::from_utf8_lossy(&shown.stderr).is_empty());
}
