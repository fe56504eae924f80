//! The target directory of an extract, reached through directory handles: every folder and
//! file below it is made one name at a time (`openat`, `mkdirat`, `renameat`), following no
//! link, so no path below it is ever longer than one name (Linux's `PATH_MAX` does not
//! bound the tree).
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags};

use super::{STAGING, local};
use crate::error::Result;

/// The target directory, which paths below it are resolved against one component at a
/// time, and the staging directory made inside it.
pub(super) struct Tree {
    root: OwnedFd,
    staging: OwnedFd,
}

impl Tree {
    /// Opens `dir` (which may be reached through a link: the user named it) and makes the
    /// staging directory in it.
    pub(super) fn open(dir: &Path) -> Result<Self> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = rustix::fs::open(dir, flags, Mode::empty())
            .map_err(|e| local("opening the target directory")(e.into()))?;
        rustix::fs::mkdirat(&root, STAGING, Mode::from_raw_mode(0o700))
            .map_err(|e| local("creating the staging directory")(e.into()))?;
        let staging = rustix::fs::openat(&root, STAGING, Self::dir_flags(), Mode::empty())
            .map_err(|e| local("opening the staging directory")(e.into()))?;
        Ok(Self { root, staging })
    }

    fn dir_flags() -> OFlags {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
    }

    fn new_file(dir: &OwnedFd, name: impl rustix::path::Arg, mode: u32) -> io::Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(
            dir,
            name,
            flags,
            Mode::from_raw_mode(mode),
        )?))
    }

    /// A new file named `name` directly in the target directory.
    pub(super) fn top_file(&self, name: &str) -> io::Result<File> {
        Self::new_file(&self.root, name, 0o644)
    }

    /// A new staging file for blob `sha256`.
    pub(super) fn staged(&self, sha256: &str) -> io::Result<File> {
        Self::new_file(&self.staging, sha256, 0o600)
    }

    /// The directory `rel` names below the target, made (with its parents) when missing.
    pub(super) fn dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let mut current = rustix::fs::openat(&self.root, ".", Self::dir_flags(), Mode::empty())?;
        for part in rel.components() {
            let Component::Normal(name) = part else {
                return Err(io::Error::other("not a plain relative path"));
            };
            match rustix::fs::mkdirat(&current, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            current = rustix::fs::openat(&current, name, Self::dir_flags(), Mode::empty())?;
        }
        Ok(current)
    }

    /// Puts staged blob `sha256` at `rel`: moved there when `last`, else copied.
    pub(super) fn place(&self, sha256: &str, rel: &Path, last: bool) -> io::Result<()> {
        let parent = self.dir(rel.parent().unwrap_or(Path::new("")))?;
        let name = rel
            .file_name()
            .ok_or_else(|| io::Error::other("no file name"))?;
        if last {
            return rustix::fs::renameat(&self.staging, sha256, &parent, name)
                .map_err(io::Error::from);
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut from = File::from(rustix::fs::openat(
            &self.staging,
            sha256,
            flags,
            Mode::empty(),
        )?);
        let mut to = Self::new_file(&parent, name, 0o644)?;
        io::copy(&mut from, &mut to)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;

    use super::*;

    #[test]
    fn no_link_below_the_target_is_followed() {
        let target = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let tree = Tree::open(target.path()).unwrap();
        // A link where a folder goes, put there by someone else meanwhile.
        std::os::unix::fs::symlink(outside.path(), target.path().join("a")).unwrap();
        assert!(tree.dir(Path::new("a/b")).is_err());
        assert!(tree.place("0", Path::new("a/file"), true).is_err());
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
        // Plain names below it are made, one at a time.
        let mut staged = tree.staged("0").unwrap();
        staged.write_all(b"bytes").unwrap();
        tree.place("0", Path::new("x/y/file"), true).unwrap();
        assert_eq!(fs::read(target.path().join("x/y/file")).unwrap(), b"bytes");
        assert!(tree.dir(Path::new("../escape")).is_err());
    }
}
