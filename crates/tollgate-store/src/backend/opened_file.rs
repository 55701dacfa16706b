//! The SQLite file a store opened, watched for being removed or replaced.
//! SQLite keeps writing to a file deleted while open (its directory removed,
//! another file moved over its name): every write then succeeds into a file
//! no one will open again, and is lost when the store stops. A store that
//! finds its file gone refuses its calls instead, so that requests fail
//! (503) rather than succeed unrecorded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// A SQLite file as it was when its store opened it: its path (symbolic
/// links resolved: a link moved to another directory leaves the file where
/// it was, still the store's) and the device and inode it was.
#[derive(Debug)]
pub(crate) struct OpenedFile {
    path: PathBuf,
    id: (u64, u64),
    /// Whether the last look found it gone, to log the change once.
    gone: AtomicBool,
}

impl OpenedFile {
    /// The file at `path` as it is now; `None` where there is none to
    /// watch (not found, or a platform without inodes).
    pub(crate) fn of(path: &Path) -> Option<OpenedFile> {
        let path = std::fs::canonicalize(path).ok()?;
        let id = file_id(&path).ok()??;
        Some(OpenedFile {
            path,
            id,
            gone: AtomicBool::new(false),
        })
    }

    /// `Err` while the path names another file than the one opened, or
    /// none: one `stat` a call, some microseconds beside a query's tens. A
    /// path that cannot be looked at (a directory made unreadable) is not
    /// taken for a file gone.
    pub(crate) fn check(&self) -> Result<(), sqlx::Error> {
        let gone = match file_id(&self.path) {
            Ok(id) => id != Some(self.id),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if self.gone.swap(gone, Ordering::Relaxed) != gone {
            match gone {
                true => tracing::error!(
                    path = %self.path.display(),
                    "the SQLite file is no longer at its path (removed, moved or replaced \
                     while the store had it open): its calls fail until it is back, as what \
                     they wrote there would be lost"
                ),
                false => tracing::info!(path = %self.path.display(), "the SQLite file is back"),
            }
        }
        if !gone {
            return Ok(());
        }
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "the SQLite file {} is no longer at its path (removed, moved or replaced \
                 while the store had it open): what it wrote may be lost (put the file \
                 back, or restart the store)",
                self.path.display()
            ),
        )))
    }
}

/// The device and inode of the file at `path`; `None` where files have
/// none.
#[cfg(unix)]
fn file_id(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| Some((m.dev(), m.ino())))
}

#[cfg(not(unix))]
fn file_id(_: &Path) -> std::io::Result<Option<(u64, u64)>> {
    Ok(None)
}
