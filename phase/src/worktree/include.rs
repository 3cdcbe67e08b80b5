//! Copying a workflow's `include` files (`.env`, local configuration: what the user's checkout
//! has and git does not) from the user's repository into a new worktree. Every path is walked
//! from a handle on the repository's folder and on the worktree's, one component at a time,
//! following no symbolic link (rustix's `openat` with `O_NOFOLLOW`, as the artifact's
//! `file.rs`): nothing outside the two is read or written, whatever links either holds.
//!
//! An entry that is not there in the repository is skipped and reported (a fresh clone without
//! `.env` is an ordinary checkout, and the setup command can make what is missing); an entry
//! that is not a plain relative path, goes into `.git`, is a link, or is a folder is refused,
//! because each is a mistake in the workflow or a trick, and copying around it would hide it.

use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use devflow_core::{Code, Error, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Repo, Worktree};

const FOLDER: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// What [`Worktree::copy_included`] did, entry by entry in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Included {
    pub copied: Vec<String>,
    /// Entries the repository does not have: skipped.
    pub missing: Vec<String>,
}

/// What a walk from a folder's handle found at a relative path.
enum Found {
    File(OwnedFd),
    Missing,
}

impl Worktree {
    /// Copies each of `include` (paths relative to the repository's top) from `from` to the
    /// same path in this worktree, making its folders, overwriting what is there (so taking it
    /// again converges), and keeping the file's permission bits.
    pub fn copy_included(&self, from: &Repo, include: &[String]) -> Result<Included> {
        let entries: Vec<(&String, PathBuf)> = include
            .iter()
            .map(|entry| Ok((entry, plain_relative(entry)?)))
            .collect::<Result<_>>()?;
        let source_root = open_folder(from.top())?;
        let target_root = open_folder(&self.path)?;
        let mut included = Included::default();
        for (entry, relative) in entries {
            match open_source(&source_root, from.top(), &relative)? {
                Found::Missing => included.missing.push(entry.clone()),
                Found::File(source) => {
                    copy_into(&target_root, &self.path, &relative, source)?;
                    included.copied.push(entry.clone());
                }
            }
        }
        Ok(included)
    }
}

/// `entry` as a path of plain names below the top, or `invalid_input` saying why not.
pub(super) fn plain_relative(entry: &str) -> Result<PathBuf> {
    let path = Path::new(entry);
    let refuse = |why: &str| {
        Error::new(Code::InvalidInput, format!("include entry {entry:?} {why}"))
            .with_hint("list files by their path relative to the repository's top, inside it")
    };
    let mut plain = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) if name == ".git" => return Err(refuse("is inside .git")),
            Component::Normal(name) => plain.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("leaves the repository (`..`)")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("is an absolute path")),
        }
    }
    if plain.as_os_str().is_empty() {
        return Err(refuse("names no file"));
    }
    Ok(plain)
}

fn open_folder(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(path, FOLDER, Mode::empty()).map_err(|errno| io_error("open", path, errno))
}

/// Opens the regular file at `relative` below `root`, walking without following a link.
fn open_source(root: &OwnedFd, top: &Path, relative: &Path) -> Result<Found> {
    let at = top.join(relative);
    let Some(folder) = folder_of(root, top, relative, false)? else {
        return Ok(Found::Missing);
    };
    let name = relative.file_name().expect("a plain path has a name");
    let stat = match rustix::fs::statat(&folder, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(Found::Missing),
        Err(errno) => return Err(io_error("look at", &at, errno)),
    };
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => return Err(link_refused(&at)),
        FileType::Directory => return Err(not_a_file(&at, "a folder: list the files in it")),
        _ => return Err(not_a_file(&at, "not a regular file")),
    }
    let read =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file =
        rustix::fs::openat(&folder, name, read, Mode::empty()).map_err(|errno| match errno {
            Errno::LOOP => link_refused(&at),
            errno => io_error("open", &at, errno),
        })?;
    let opened = rustix::fs::fstat(&file).map_err(|errno| io_error("look at", &at, errno))?;
    if FileType::from_raw_mode(opened.st_mode) != FileType::RegularFile {
        return Err(not_a_file(&at, "not a regular file"));
    }
    Ok(Found::File(file))
}

/// Writes `source` to `relative` below the worktree's `root`, making folders on the way and
/// following no link there either.
fn copy_into(root: &OwnedFd, worktree: &Path, relative: &Path, source: OwnedFd) -> Result<()> {
    let at = worktree.join(relative);
    let folder = folder_of(root, worktree, relative, true)?;
    let folder = folder.ok_or_else(|| not_a_file(&at, "below something that is not a folder"))?;
    let name = relative.file_name().expect("a plain path has a name");
    let mode = rustix::fs::fstat(&source).map_err(|errno| io_error("look at", &at, errno))?.st_mode;
    let mode = Mode::from_raw_mode(mode & 0o777);
    let write =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let target = rustix::fs::openat(&folder, name, write, mode).map_err(|errno| match errno {
        Errno::LOOP => link_refused(&at),
        errno => io_error("write", &at, errno),
    })?;
    // A file that was there keeps its own bits unless set again.
    rustix::fs::fchmod(&target, mode).map_err(|errno| io_error("set the mode of", &at, errno))?;
    let mut source = std::fs::File::from(source);
    let mut target = std::fs::File::from(target);
    std::io::copy(&mut source, &mut target).map_err(|error| {
        Error::new(Code::WorkspacePermissions, format!("cannot copy to {}: {error}", at.display()))
    })?;
    Ok(())
}

/// The folder holding `relative`'s last name, reached from `root` (the folder `base`) one name
/// at a time without following a link, `create`: making each that is missing. `None` when one
/// on the way is missing or is not a folder; a link on the way is refused.
fn folder_of(
    root: &OwnedFd,
    base: &Path,
    relative: &Path,
    create: bool,
) -> Result<Option<OwnedFd>> {
    let mut folder = rustix::io::dup(root).map_err(|errno| io_error("open", base, errno))?;
    let mut at = base.to_path_buf();
    for name in relative.parent().into_iter().flat_map(Path::iter) {
        at.push(name);
        if create {
            match rustix::fs::mkdirat(&folder, name, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(errno) => return Err(io_error("create", &at, errno)),
            }
        }
        folder = match rustix::fs::openat(&folder, name, FOLDER, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::NOENT | Errno::NOTDIR) if !is_link(&folder, name) => return Ok(None),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Err(link_refused(&at)),
            Err(errno) => return Err(io_error("open", &at, errno)),
        };
    }
    Ok(Some(folder))
}

fn is_link(folder: &OwnedFd, name: &std::ffi::OsStr) -> bool {
    rustix::fs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink)
}

fn link_refused(at: &Path) -> Error {
    Error::new(
        Code::InvalidInput,
        format!("{} is a symbolic link: devflow copies no link", at.display()),
    )
    .with_hint("include the file itself, by its real path inside the repository")
}

fn not_a_file(at: &Path, what: &str) -> Error {
    Error::new(Code::InvalidInput, format!("include entry {} is {what}", at.display()))
        .with_hint("include regular files only")
}

fn io_error(what: &str, path: &Path, errno: Errno) -> Error {
    let error = std::io::Error::from(errno);
    Error::new(Code::WorkspacePermissions, format!("cannot {what} {}: {error}", path.display()))
}
