//! Whether stdout goes nowhere, for the commands that print a secret once.

/// The message of a command that would print a new key to a discarded
/// stdout.
pub(crate) const NO_KEY: &str = "stdout is discarded (/dev/null): the new key would be shown \
     nowhere; not created. Write it to a file: > key.txt";

/// Whether stdout is the null device: `> /dev/null`, or a stdout closed at
/// start, which the Rust runtime opens as /dev/null before `main`. Anything
/// that cannot be told (stdout's metadata cannot be read, say) is taken as
/// not discarded. Always `false` off Unix.
#[cfg(unix)]
pub(crate) fn stdout_is_null() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    let (Ok(stdout), Ok(null)) = (
        std::fs::File::from(fd).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    stdout.file_type().is_char_device()
        && null.file_type().is_char_device()
        && stdout.rdev() == null.rdev()
}

/// Whether stdout is the null device: never known off Unix.
#[cfg(not(unix))]
pub(crate) fn stdout_is_null() -> bool {
    false
}
