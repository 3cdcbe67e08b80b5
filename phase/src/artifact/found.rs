//! What is at an artifact path, as one `lstat` sees it, without following a link: its kind, the
//! signature that tells one version from the next, and — for anything but a regular file — why
//! it is not an artifact and what the agent should do instead.

use std::path::{Path, PathBuf};

use devflow_core::hash_bytes;
use rustix::fs::{FileType, Stat};

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    kind: Kind,
    len: u64,
    modified_ns: i128,
    changed_ns: i128,
    device: u64,
    inode: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Folder,
    Link,
    Fifo,
    Socket,
    Device,
    Unknown,
}

impl Kind {
    fn of(stat: &Stat) -> Kind {
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Kind::Regular,
            FileType::Directory => Kind::Folder,
            FileType::Symlink => Kind::Link,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            FileType::CharacterDevice | FileType::BlockDevice => Kind::Device,
            _ => Kind::Unknown,
        }
    }

    const CODES: [(Kind, &'static str); 7] = [
        (Kind::Regular, "f"),
        (Kind::Folder, "d"),
        (Kind::Link, "l"),
        (Kind::Fifo, "p"),
        (Kind::Socket, "s"),
        (Kind::Device, "c"),
        (Kind::Unknown, "?"),
    ];

    fn code(self) -> &'static str {
        Kind::CODES.iter().find(|(kind, _)| *kind == self).map_or("?", |(_, code)| code)
    }

    fn from_code(code: &str) -> Option<Kind> {
        Kind::CODES.iter().find(|(_, c)| *c == code).map(|(kind, _)| *kind)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Regular => "a regular file",
            Kind::Folder => "a folder",
            Kind::Link => "a symbolic link",
            Kind::Fifo => "a FIFO",
            Kind::Socket => "a socket",
            Kind::Device => "a device",
            Kind::Unknown => "something of an unknown kind",
        }
    }
}

impl Signature {
    // The field types of `stat` differ between platforms; the casts widen or keep them.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn of(stat: &Stat) -> Signature {
        let ns = |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
        Signature {
            kind: Kind::of(stat),
            len: stat.st_size as u64,
            modified_ns: ns(stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            changed_ns: ns(stat.st_ctime as i64, stat.st_ctime_nsec as i64),
            device: stat.st_dev as u64,
            inode: stat.st_ino as u64,
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The same file system object (not necessarily the same bytes).
    pub(crate) fn same_object(&self, other: &Signature) -> bool {
        (self.device, self.inode) == (other.device, other.inode)
    }

    /// `kind:len:mtime_ns:ctime_ns:device:inode`, as the session row keeps a prompt's baseline.
    pub fn encode(&self) -> String {
        let Signature { kind, len, modified_ns, changed_ns, device, inode } = self;
        format!("{}:{len}:{modified_ns}:{changed_ns}:{device}:{inode}", kind.code())
    }

    /// The signature `encode` wrote; `None` for any other text.
    pub fn decode(text: &str) -> Option<Signature> {
        let mut parts = text.split(':');
        let signature = Signature {
            kind: Kind::from_code(parts.next()?)?,
            len: parts.next()?.parse().ok()?,
            modified_ns: parts.next()?.parse().ok()?,
            changed_ns: parts.next()?.parse().ok()?,
            device: parts.next()?.parse().ok()?,
            inode: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(signature)
    }
}

/// Something at the artifact path — or, `blocking`, in the way of it: a component of its folder
/// that is not a real folder.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The absolute path of what was found.
    pub at: PathBuf,
    pub signature: Signature,
    /// A symbolic link's target, as text (never followed).
    pub link: Option<PathBuf>,
    pub blocking: bool,
}

impl Found {
    pub fn kind(&self) -> Kind {
        self.signature.kind
    }

    /// Why this is not an artifact devflow reads, and what to write instead; for the repair
    /// prompt. The link's target is quoted (`{:?}`): it is whatever an agent made it.
    pub fn reason(&self, artifact: &Path) -> String {
        let (at, kind) = (self.at.display(), self.kind().name());
        let target =
            self.link.as_ref().map(|target| format!(" (to {target:?})")).unwrap_or_default();
        let no_links = "devflow follows no symbolic link in an artifact path, so nothing outside \
                        the worktree is read or written";
        match (self.blocking, self.kind()) {
            (true, Kind::Link) => format!(
                "{at} is a symbolic link{target}: {no_links}; make {at} a real folder and write \
                 the artifact at {}",
                artifact.display()
            ),
            (true, _) => format!(
                "{at} is {kind}, not a folder, so the artifact {} cannot be written: make {at} a \
                 folder",
                artifact.display()
            ),
            (false, Kind::Link) => {
                format!(
                    "{at} is a symbolic link{target}, not a regular file: {no_links}; write a regular file"
                )
            }
            (false, Kind::Folder) => format!(
                "{at} is a folder, not a regular file: remove the folder and write a regular file"
            ),
            (false, _) => format!("{at} is {kind}, not a regular file: write a regular file"),
        }
    }

    /// Stands for the hash of bytes that were never read: the same for the same obstacle, so a
    /// repeat is recognised as the same invalid artifact.
    pub fn stand_in_hash(&self) -> String {
        let text = format!(
            "not read: {} {:?} {} {:?}",
            self.kind().name(),
            self.at,
            self.blocking,
            self.link
        );
        hash_bytes(text.as_bytes())
    }
}
