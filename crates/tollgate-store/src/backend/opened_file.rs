//! The SQLite file a store opened, watched for being removed or replaced.
//! SQLite keeps writing to a file deleted while open (its directory removed,
//! another file moved over its name): every write then succeeds into a file
//! no one will open again, and is lost when the store stops. A store that
//! finds its file gone refuses its calls instead, so that requests fail
//! (503) rather than succeed unrecorded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// A SQLite file as it was when its store opened it: its path and the
/// device and inode it was.
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
        let path = std::path::absolute(path).ok()?;
        let id = file_id(&path)?;
        Some(OpenedFile {
            path,
            id,
            gone: AtomicBool::new(false),
        })
    }

    /// `Err` while the path names another file than the one opened, or
    /// none: one `stat` a call, some microseconds beside a query's tens.
    pub(crate) fn check(&self) -> Result<(), sqlx::Error> {
        let gone = file_id(&self.path) != Some(self.id);
        if self.gone.swap(gone, Ordering::Relaxed) != gone {
            match gone {
                true => tracing::error!(
                    path = %self.path.display(),
                    "the SQLite file was removed or replaced while the store had it open: its \
                     calls fail until it is back (what they would write would be lost)"
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
                "the SQLite file {} was removed or replaced while the store had it open: \
                 what it wrote would be lost (put the file back, or restart the store)",
                self.path.display()
            ),
        )))
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &Path) -> Option<(u64, u64)> {
    None
}
