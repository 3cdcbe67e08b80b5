//! [`ArtifactFile`]: one phase's artifact path, held under a handle on the worktree's folder.
//! Every operation — look (`signature`), open, remove, create the folder — walks the path from
//! that handle at the moment it acts, one component at a time, and follows no symbolic link: a
//! folder an agent swapped for a link to elsewhere is found as what it is, and nothing outside
//! the worktree is read, removed or created.
//!
//! A symbolic link anywhere in the artifact path is refused, also one that stays inside the
//! worktree: refusing every link takes no resolving, so no check can go stale before the act.
//! (rustix's `*at` calls are the safe API for this; a walk with `O_NOFOLLOW` is exact on every
//! Unix, where `openat2`'s `RESOLVE_NO_SYMLINKS` would be Linux-only and still need the walk
//! as its fallback.)

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use devflow_core::{Code, Error, Result};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::found::{Found, Kind, Signature};

const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// A phase's artifact: the worktree's folder handle and the relative path below it.
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    root: Arc<OwnedFd>,
    /// The folders from the worktree down to the artifact.
    folders: Vec<OsString>,
    name: OsString,
    /// The canonical worktree.
    worktree: PathBuf,
    /// The canonical worktree joined with the relative path: what messages, events and the
    /// agent's prompt name.
    path: PathBuf,
}

/// How far a walk down the artifact's folders got.
enum Walk {
    /// The artifact's own folder, a real one.
    Folder(OwnedFd),
    /// A folder on the way does not exist.
    Missing,
    /// Something that is not a real folder is in the way.
    Blocked(Found),
}

/// What opening the artifact found.
pub(crate) enum Opened {
    File(std::fs::File),
    Missing,
    /// Not a regular file (or something in the way): never opened, or closed again unread.
    NotRegular(Found),
    /// Replaced again and again while it was being opened.
    Unstable,
}

impl ArtifactFile {
    /// `worktree` must be canonical and `relative` made of plain names (`paths` makes it so).
    pub fn new(worktree: &Path, relative: &Path) -> Result<ArtifactFile> {
        let mut names = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(name) => names.push(name.to_owned()),
                _ => return Err(not_plain(relative)),
            }
        }
        let name = names.pop().ok_or_else(|| not_plain(relative))?;
        let root = rustix::fs::open(worktree, FOLDER, Mode::empty()).map_err(|errno| {
            let message = format!("cannot open worktree {}: {errno}", worktree.display());
            Error::new(Code::WorkspacePermissions, message)
                .with_hint("pass an existing directory as the worktree")
        })?;
        let path = worktree.join(relative);
        let worktree = worktree.to_path_buf();
        Ok(ArtifactFile { root: Arc::new(root), folders: names, name, worktree, path })
    }

    /// The absolute path, under the canonical worktree.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The artifact's folder, absolute.
    pub fn folder(&self) -> &Path {
        self.path.parent().expect("an artifact path has a folder")
    }

    /// The artifact's signature, or `None` if there is nothing at the path. Something that is
    /// not a regular file, or a link in the way, has a signature too: the wait then reports it
    /// once it is stable, and reading it says what is wrong. Never opens anything, so never
    /// blocks (a FIFO included).
    pub fn signature(&self) -> Result<Option<Signature>> {
        self.look()
            .map(|found| found.map(|found| found.signature))
            .map_err(|e| self.error("stat", e))
    }

    /// Removes the file at the path (a link itself, never its target). A link in the way is
    /// `artifact_outside_worktree`, and nothing is removed.
    pub fn remove_stale(&self) -> Result<()> {
        let removed = match self.walk(false) {
            Ok(Walk::Missing) => Ok(()),
            Ok(Walk::Blocked(found)) if found.kind() == Kind::Link => {
                let message = format!(
                    "the stale artifact {} was not removed: {}",
                    self.path.display(),
                    found.reason(&self.path)
                );
                let hint = format!(
                    "replace the link {} by a real folder inside the worktree, then start the run again",
                    found.at.display()
                );
                return Err(Error::new(Code::ArtifactOutsideWorktree, message).with_hint(hint));
            }
            // A file where a folder should be: there is no artifact to remove.
            Ok(Walk::Blocked(_)) => Ok(()),
            Ok(Walk::Folder(folder)) => {
                match rustix::fs::unlinkat(&folder, &self.name, AtFlags::empty()) {
                    Err(Errno::NOENT) => Ok(()),
                    other => other,
                }
            }
            Err(errno) => Err(errno),
        };
        removed.map_err(|errno| self.error("remove the stale artifact", errno))
    }

    /// Creates the artifact's missing folders, each inside the last one made or found. `false`
    /// when something that is not a real folder is in the way (nothing is created past it).
    pub fn create_folders(&self) -> Result<bool> {
        Ok(self.made_folder()?.is_some())
    }

    /// The artifact's folder, made where missing, as a handle reached by the contained walk:
    /// `None` when something that is not a real folder is in the way.
    pub(crate) fn made_folder(&self) -> Result<Option<OwnedFd>> {
        match self.walk(true) {
            Ok(Walk::Folder(folder)) => Ok(Some(folder)),
            Ok(_) => Ok(None),
            Err(errno) => Err(self.error("create the folder of", errno)),
        }
    }

    /// Opens the artifact for reading if it is a regular file: looked at without following a
    /// link, opened non-blocking without following one, and looked at again through the open
    /// file, which must be the same regular file. A FIFO, a socket or a device is not opened —
    /// unless swapped in between the look and the open, and then it is opened without blocking
    /// and closed unread.
    pub(crate) fn open_regular(&self) -> Result<Opened> {
        let read = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
        let read = read | OFlags::CLOEXEC;
        let error = |errno| self.error("read", errno);
        // A file replaced between the look and the open (an agent's rename) is looked at again.
        for _ in 0..3 {
            let folder = match self.walk(false).map_err(error)? {
                Walk::Folder(folder) => folder,
                Walk::Missing => return Ok(Opened::Missing),
                Walk::Blocked(found) => return Ok(Opened::NotRegular(found)),
            };
            let Some(before) = self.found_in(&folder, &self.name, None).map_err(error)? else {
                return Ok(Opened::Missing);
            };
            if before.kind() != Kind::Regular {
                return Ok(Opened::NotRegular(before));
            }
            let fd = match rustix::fs::openat(&folder, &self.name, read, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::LOOP) => continue,
                Err(errno) => return Err(error(errno)),
            };
            let after = Signature::of(&rustix::fs::fstat(&fd).map_err(error)?);
            if after.kind() == Kind::Regular && after.same_object(&before.signature) {
                return Ok(Opened::File(std::fs::File::from(fd)));
            }
        }
        Ok(Opened::Unstable)
    }

    fn look(&self) -> rustix::io::Result<Option<Found>> {
        match self.walk(false)? {
            Walk::Folder(folder) => self.found_in(&folder, &self.name, None),
            Walk::Missing => Ok(None),
            Walk::Blocked(found) => Ok(Some(found)),
        }
    }

    /// Walks down the artifact's folders from the worktree's handle, never following a link;
    /// `create`: making each missing folder inside the one before.
    fn walk(&self, create: bool) -> rustix::io::Result<Walk> {
        let mut folder = rustix::io::dup(&*self.root)?;
        let mut at = self.worktree.clone();
        for name in &self.folders {
            at.push(name);
            if create {
                match rustix::fs::mkdirat(&folder, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(errno) => return Err(errno),
                }
            }
            folder = match rustix::fs::openat(&folder, name, FOLDER, Mode::empty()) {
                Ok(next) => next,
                Err(Errno::NOENT) => return Ok(Walk::Missing),
                Err(Errno::LOOP | Errno::NOTDIR) => match self.found_in(&folder, name, Some(at))? {
                    Some(found) => return Ok(Walk::Blocked(found)),
                    None => return Ok(Walk::Missing),
                },
                Err(errno) => return Err(errno),
            };
        }
        Ok(Walk::Folder(folder))
    }

    /// What is at `name` in `folder`, looked at without following a link: the artifact itself,
    /// or (`blocking`, with its path) a folder on the way to it.
    fn found_in(
        &self,
        folder: &OwnedFd,
        name: &OsString,
        blocking: Option<PathBuf>,
    ) -> rustix::io::Result<Option<Found>> {
        let stat = match rustix::fs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(None),
            Err(errno) => return Err(errno),
        };
        let signature = Signature::of(&stat);
        // The link's text only: reading it follows nothing.
        let link = match signature.kind() {
            Kind::Link => rustix::fs::readlinkat(folder, name, Vec::new())
                .ok()
                .map(|target| PathBuf::from(OsString::from_vec(target.into_bytes()))),
            _ => None,
        };
        let (at, blocking) = match blocking {
            Some(at) => (at, true),
            None => (self.path.clone(), false),
        };
        Ok(Some(Found { at, signature, link, blocking }))
    }

    fn error(&self, what: &str, errno: Errno) -> Error {
        let path = self.path.display();
        let message = format!("cannot {what} {path}: {}", std::io::Error::from(errno));
        Error::new(Code::WorkspacePermissions, message).with_hint(path.to_string())
    }
}

fn not_plain(relative: &Path) -> Error {
    let message = format!("artifact path {} is not a plain relative path", relative.display());
    Error::new(Code::ArtifactOutsideWorktree, message)
        .with_hint("give the artifact a path inside the worktree, relative to it")
}
