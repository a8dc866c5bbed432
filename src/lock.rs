//! Advisory locks on files (`flock`): one supervisor per workspace (`.tfops/run.lock`), one
//! snapshot writer per backups folder. Also reads Terraform's own lock on the state (`fcntl`).
//!
//! A lock is released when its [`FileLock`] is dropped or the process dies (kill -9 included).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

/// A held `flock` on a file.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock without waiting; `Ok(None)` when another process holds it.
    ///
    /// # Errors
    /// When the lock file cannot be created or locked for another reason.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        match flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the lock, waiting for the holder to release it.
    ///
    /// # Errors
    /// When the lock file cannot be created or locked.
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = open_lock_file(path)?;
        flock(file.as_fd(), FlockOperation::LockExclusive)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Never through a link, never a fifo: a lock file is ours.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symbolic link; tfops does not follow links for files and folders it writes",
                        path.display()
                    ),
                )
            } else {
                e
            }
        })?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(f)
}

/// Whether some process holds a lock on `path` (tested without taking it), as `flock`.
///
/// # Errors
/// When the file exists but cannot be opened.
pub fn is_flocked(path: &Path) -> io::Result<bool> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match flock(file.as_fd(), FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(file.as_fd(), FlockOperation::Unlock);
            Ok(false)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Whether another process holds an `fcntl` (POSIX record) lock on `path`, the way Terraform
/// locks its local state file during a write. `F_GETLK` on a read-only descriptor (Linux
/// answers for any lock type whatever the open mode) takes nothing and changes nothing.
///
/// # Errors
/// When the file exists but cannot be opened.
pub fn is_fcntl_locked(path: &Path) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // O_NONBLOCK: opening a fifo in the state's place must not wait for a writer.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    // SAFETY: flock is a plain C struct; zeroed is a valid value, F_GETLK fills it in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: valid fd and a valid pointer to a flock struct for the duration of the call.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_try_acquire_fails_while_held() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let a = FileLock::try_acquire(&p).unwrap();
        assert!(a.is_some());
        assert!(FileLock::try_acquire(&p).unwrap().is_none());
        assert!(is_flocked(&p).unwrap());
        drop(a);
        assert!(!is_flocked(&p).unwrap());
        assert!(FileLock::try_acquire(&p).unwrap().is_some());
    }
}
