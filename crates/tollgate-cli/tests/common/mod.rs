//! What every test file that runs the binary shares.

use std::process::Command;

/// The variables the binary reads settings from; a developer's own must not
/// point the tests at a real database, Redis or API key.
const SETTINGS_FROM_ENV: [&str; 3] = [
    "TOLLGATE_DATABASE_URL",
    "TOLLGATE_REDIS_URL",
    "TOLLGATE_API_KEY",
];

/// The `tollgate` binary, with none of its settings inherited from the environment.
pub(crate) fn tollgate_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    for name in SETTINGS_FROM_ENV {
        command.env_remove(name);
    }
    command
}
