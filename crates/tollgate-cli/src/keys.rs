//! `tollgate keys`: create, list and revoke API keys.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use tollgate_store::{KeyInfo, NewKey};

use crate::args::parse_duration;
use crate::error::CliError;
use crate::store_db::{DatabaseArgs, show_change, time};

/// Shown after `tollgate keys --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate accounts create acme --credits 100
  KEY=$(tollgate keys create --account acme --scopes scans:read --expires 30d | tail -n1)
  tollgate keys list --account acme
  tollgate keys revoke 3fQx9Zk2abcd
  tollgate keys list --database postgres://postgres@127.0.0.1/tollgate

A key is printed once, alone on the last line of stdout: only its SHA-256 and a display prefix are
stored. The database is --database, else $TOLLGATE_DATABASE_URL, else `database` (or `data_dir`) in
./tollgate.toml, else the SQLite file tollgate.db in the working directory. A key revoked exits 0
even when its output cannot be written (stderr says so); a key created whose output cannot be
written is revoked, exit status 2. No key is made while stdout is /dev/null (`> /dev/null`, or
stdout closed): exit status 2.";

/// Arguments of `tollgate keys`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Create a key; it is printed once, alone on the last line of stdout
    Create {
        /// The account (tenant) the key acts for
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// The key's scopes, comma-separated
        #[arg(long, value_name = "SCOPES", value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Expire after this long (30d, 12h, 90m); never by default
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires: Option<Duration>,
        /// A label shown by `keys list`
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List keys (never the keys themselves): id, prefix, account, state, scopes, dates, name
    List {
        /// Only this account's keys
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke a key by id (or by the whole key): it then gets deactivated_key (a running server
    /// may accept it for up to its key cache's TTL, 10 s by default)
    Revoke {
        /// The key's id, as `keys list` shows it, or the whole key (which must be that key, not
        /// only start with its id); spaces and line ends around it are ignored
        id: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Runs `tollgate keys …`.
pub(crate) fn run(args: KeysArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match args.command {
        KeysCommand::Create {
            account,
            scopes,
            expires,
            name,
            db,
        } => {
            // Checked first: a key made there would be shown nowhere.
            if crate::discarded::stdout_is_null() {
                return Err(CliError::Usage(crate::discarded::NO_KEY.to_owned()));
            }
            let mut new = NewKey::new(account, scopes);
            if let Some(ttl) = expires {
                new = new.expires_in(ttl);
            }
            if let Some(name) = name {
                new = new.name(name);
            }
            let created = db.existing(|store| async move { store.create_key(new).await })?;
            let info = created.info();
            stderr!("The key is shown once, below: store it now. Only its hash is kept.");
            // Any failure to write it, a closed pipe included, leaves a key
            // nobody has: it is revoked. (A stdout closed at start is
            // /dev/null, which Rust opens in its place: refused above.)
            if let Err(e) = show_key(out, info, created.secret()) {
                let id = info.id();
                let revoked = db.existing(|store| async move { store.revoke_key(id).await });
                return Err(CliError::Usage(match revoked {
                    Ok(_) => format!("cannot write the key: {e}; key {id} was revoked"),
                    Err(why) => format!(
                        "cannot write the key: {e}; revoking key {id} failed too ({why}): \
                         revoke it with `tollgate keys revoke {id}`"
                    ),
                }));
            }
        }
        KeysCommand::List { account, db } => {
            let (keys, now) = db.existing(|store| async move {
                // An account that does not exist is named as such, not
                // shown as one without keys.
                if let Some(account) = &account {
                    store.account(account).await?;
                }
                let keys = store.list_keys(account.as_deref()).await?;
                Ok((keys, store.now()))
            })?;
            out.write_all(table(&keys, now).as_bytes())?;
        }
        KeysCommand::Revoke { id, db } => {
            // A key pasted with the line's end or spaces around it is that key.
            let id = id.trim().to_owned();
            let (info, already) = db.existing(|store| async move {
                let found = store.key(&id).await?;
                if found.revoked_at().is_some() {
                    return Ok((found, true));
                }
                Ok((store.revoke_key(&id).await?, false))
            })?;
            let (id, prefix) = (info.id(), info.display_prefix());
            match info.revoked_at().filter(|_| already) {
                Some(at) => {
                    let text = format!("{id} ({prefix}) was revoked already, at {}\n", time(at));
                    show_change(out, &text, || format!("the key {id} was revoked already"))?;
                }
                None => {
                    let text = format!("revoked {id} ({prefix})\n");
                    show_change(out, &text, || format!("revoked the key {id}"))?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a new key's details, then the key alone on the last line, and
/// flushes.
fn show_key(out: &mut dyn Write, info: &KeyInfo, secret: &str) -> std::io::Result<()> {
    writeln!(out, "id       {}", info.id())?;
    writeln!(out, "account  {}", info.account_id())?;
    writeln!(out, "scopes   {}", info.scopes().join(","))?;
    writeln!(
        out,
        "expires  {}",
        info.expires_at().map_or_else(|| "never".to_owned(), time)
    )?;
    writeln!(out, "{secret}")?;
    out.flush()
}

fn table(keys: &[KeyInfo], now: std::time::SystemTime) -> String {
    let header = [
        "ID", "PREFIX", "ACCOUNT", "STATE", "SCOPES", "CREATED", "EXPIRES", "NAME",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 8]> = std::iter::once(header)
        .chain(keys.iter().map(|k| {
            [
                k.id().to_owned(),
                k.display_prefix().to_owned(),
                k.account_id().to_owned(),
                k.state_at(now).to_string(),
                k.scopes().join(","),
                time(k.created_at()),
                k.expires_at().map_or_else(|| "never".to_owned(), time),
                k.name().unwrap_or("").to_owned(),
            ]
        }))
        .collect();
    crate::table::aligned(&rows)
}

/// A key's lifetime: a duration of at least a second (`0s` would make a key
/// that is expired when it is shown).
fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = parse_duration(text, "30d, 12h or 90m")?;
    if lifetime < Duration::from_secs(1) {
        return Err(format!(
            "{} is out of range: a key lives at least 1s",
            crate::input::shown(text)
        ));
    }
    Ok(lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_lives_at_least_a_second() {
        assert_eq!(parse_lifetime("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_lifetime(" 90m "), Ok(Duration::from_secs(90 * 60)));
        for text in ["999ms", "0s"] {
            let refused = parse_lifetime(text).unwrap_err();
            assert!(refused.contains("out of range"), "{text}: {refused}");
        }
    }
}
