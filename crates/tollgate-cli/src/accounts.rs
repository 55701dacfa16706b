//! `tollgate accounts`: create accounts, add credits, suspend and resume them.

use std::io::Write;
use std::process::ExitCode;

use tollgate_store::{Account, AccountState, NewAccount};

use crate::args::whole;
use crate::error::CliError;
use crate::store_db::{DatabaseArgs, show_change, time};

/// Shown after `tollgate accounts --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate accounts create acme --credits 100 --usage-limit 10000
  tollgate accounts credit acme 50
  tollgate accounts credit acme -- -20
  tollgate accounts suspend acme
  tollgate accounts show acme --database postgres://postgres@127.0.0.1/tollgate

A debit never takes a balance below zero. A suspended account's requests get account_suspended.
A change that was made exits 0 even when its output cannot be written (stderr says what was
done), so that a script does not make it twice.";

/// Arguments of `tollgate accounts`.
#[derive(Debug, clap::Args)]
pub(crate) struct AccountsArgs {
    #[command(subcommand)]
    command: AccountsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AccountsCommand {
    /// Create an account (a tenant)
    Create {
        /// The account id: 1-64 of [A-Za-z0-9._-]
        #[arg(value_parser = parse_account_id)]
        account: String,
        /// Starting credits
        #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = whole(0, i64::MAX))]
        credits: i64,
        /// Requests allowed per calendar month (UTC) to routes that charge credits (in serve,
        /// POST /v1/scans and POST /v1/detections), then usage_limit_exceeded; other routes'
        /// requests are not counted, nor one answered with an error [default: unlimited]
        #[arg(long, value_name = "REQUESTS", allow_negative_numbers = true, value_parser = whole(0, i64::MAX))]
        usage_limit: Option<i64>,
        /// Storage allowed, in bytes, for an API that counts what an account stores
        /// (tollgate-store's add_storage); serve stores nothing against it, so there it has no
        /// effect [default: unlimited]
        #[arg(long, value_name = "BYTES", allow_negative_numbers = true, value_parser = whole(0, i64::MAX))]
        storage_quota: Option<i64>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Add credits (a negative amount debits; a debit past zero is refused)
    Credit {
        /// The account id
        account: String,
        /// Credits to add
        #[arg(allow_negative_numbers = true, value_parser = whole(i64::MIN, i64::MAX))]
        amount: i64,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Suspend an account: its requests get account_suspended
    Suspend {
        /// The account id
        account: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Resume a suspended account
    Resume {
        /// The account id
        account: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Show an account: state, balance, usage and storage
    Show {
        /// The account id
        account: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Runs `tollgate accounts …`.
pub(crate) fn run(args: AccountsArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    // The account, the time, and the change made, if any.
    let (account, now, change) = match args.command {
        AccountsCommand::Create {
            account,
            credits,
            usage_limit,
            storage_quota,
            db,
        } => {
            let change = format!("created the account {account}");
            let mut new = NewAccount::new(account).credits(credits);
            if let Some(limit) = usage_limit {
                new = new.usage_limit(limit);
            }
            if let Some(quota) = storage_quota {
                new = new.storage_quota(quota);
            }
            let (account, now) =
                db.run(|store| async move { Ok((store.create_account(new).await?, store.now())) })?;
            (account, now, Some(change))
        }
        AccountsCommand::Credit {
            account,
            amount,
            db,
        } => {
            let change = if amount < 0 {
                format!("debited {} from {account}", amount.unsigned_abs())
            } else {
                format!("credited {amount} to {account}")
            };
            let (account, now) = db.existing(|store| async move {
                Ok((store.credit(&account, amount).await?, store.now()))
            })?;
            (account, now, Some(change))
        }
        AccountsCommand::Suspend { account, db } => set_state(&db, account, true)?,
        AccountsCommand::Resume { account, db } => set_state(&db, account, false)?,
        AccountsCommand::Show { account, db } => {
            let (account, now) =
                db.existing(
                    |store| async move { Ok((store.account(&account).await?, store.now())) },
                )?;
            (account, now, None)
        }
    };
    let text = describe(&account, now);
    match change {
        Some(change) => show_change(out, &text, || change)?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Suspends (`suspend`) or resumes an account: the account, the time, and
/// the change made; an account in that state already is left as it is, and
/// stderr says so (`acme was suspended already`), as `keys revoke` says of
/// a key revoked already.
fn set_state(
    db: &DatabaseArgs,
    id: String,
    suspend: bool,
) -> Result<(Account, std::time::SystemTime, Option<String>), CliError> {
    let (wanted, done) = if suspend {
        (AccountState::Suspended, "suspended")
    } else {
        (AccountState::Active, "resumed")
    };
    let (account, now, already) = db.existing(|store| async move {
        let found = store.account(&id).await?;
        if found.state() == wanted {
            return Ok((found, store.now(), true));
        }
        let changed = if suspend {
            store.suspend(&id).await?
        } else {
            store.resume(&id).await?
        };
        Ok((changed, store.now(), false))
    })?;
    let change = if already {
        let said = format!("{} was {} already", account.id(), account.state());
        stderr!("{said}");
        said
    } else {
        format!("{done} {}", account.id())
    };
    Ok((account, now, Some(change)))
}

/// An account id as the store takes it, checked before `accounts create`
/// opens the database, which it would create.
fn parse_account_id(id: &str) -> Result<String, String> {
    tollgate_store::check_account_id(id)
        .map(|()| id.to_owned())
        .map_err(|e| e.to_string())
}

fn describe(a: &Account, now: std::time::SystemTime) -> String {
    let limit = |l: Option<i64>| l.map_or_else(|| "unlimited".to_owned(), |l| l.to_string());
    format!(
        "account  {}\nstate    {}\nbalance  {}\nusage    {} of {} this month\nstorage  {} of {} bytes\ncreated  {}\n",
        a.id(),
        a.state(),
        a.balance(),
        a.usage_in_month_of(now),
        limit(a.usage_limit()),
        a.storage_used(),
        limit(a.storage_quota()),
        time(a.created_at()),
    )
}
