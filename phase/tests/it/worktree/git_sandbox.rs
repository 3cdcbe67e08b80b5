//! A throwaway git repository for the worktree tests, with git's configuration its own (no
//! global or system file of the machine's is read) and no identity configured.

use std::path::{Path, PathBuf};
use std::process::Command;

use devflow_phase::worktree::{Git, Repo};

/// A temporary folder holding `repo/` (one commit-less repository on `main`), its git
/// configuration, and room for worktrees.
pub struct Sandbox {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("gitconfig"), "[init]\n\tdefaultBranch = main\n").unwrap();
        let sandbox = Sandbox { dir, root };
        std::fs::create_dir_all(sandbox.path("repo")).unwrap();
        sandbox.git(&["init", "--quiet"]);
        sandbox
    }

    /// A sandbox whose repository has one commit, of `a.txt` holding `one`, opened by devflow.
    pub async fn with_one_commit() -> (Sandbox, Repo) {
        let sandbox = Sandbox::new();
        sandbox.commit_file("a.txt", "one\n", "first");
        let repo = sandbox.repo().await;
        (sandbox, repo)
    }

    /// `relative` below the sandbox's folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        assert!(self.dir.path().exists());
        self.root.join(relative)
    }

    /// The folder `relative` below the sandbox's, made.
    pub fn folder(&self, relative: &str) -> PathBuf {
        let folder = self.path(relative);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    /// How devflow runs git here: with this sandbox's configuration only.
    pub fn git_env(&self) -> Git {
        let mut git = Git::new();
        for (key, value) in self.env() {
            git = git.env(key, value);
        }
        git
    }

    pub async fn repo(&self) -> Repo {
        Repo::open_with(&self.path("repo"), self.git_env()).await.unwrap()
    }

    /// Runs git in the repository; its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.path("repo"), args)
    }

    /// Runs git in `dir` as the test (with an identity of its own), which must succeed.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.command(dir, args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "git {args:?} in {}: {stderr}", dir.display());
        String::from_utf8(output.stdout).unwrap().trim_end().to_owned()
    }

    /// Whether git in `dir` exits 0.
    pub fn git_succeeds(&self, dir: &Path, args: &[&str]) -> bool {
        self.command(dir, args).output().unwrap().status.success()
    }

    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command.arg("-C").arg(dir);
        command.args(["-c", "user.name=Test", "-c", "user.email=test@example.org"]).args(args);
        command.envs(self.env()).env_remove("GIT_DIR").env_remove("GIT_WORK_TREE");
        command.env_remove("GIT_INDEX_FILE");
        command
    }

    /// Writes `relative` in the repository and commits it; the new commit.
    pub fn commit_file(&self, relative: &str, text: &str, message: &str) -> String {
        self.commit_file_in(&self.path("repo"), relative, text, message)
    }

    pub fn commit_file_in(&self, dir: &Path, relative: &str, text: &str, message: &str) -> String {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self.git_in(dir, &["add", "--", relative]);
        self.git_in(dir, &["commit", "--quiet", "-m", message]);
        self.git_in(dir, &["rev-parse", "HEAD"])
    }

    pub fn write_hook(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path("repo/.git/hooks").join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// How many worktrees git knows of, the main one included.
    pub fn worktree_count(&self) -> usize {
        let listing = self.git(&["worktree", "list", "--porcelain"]);
        listing.lines().filter(|line| line.starts_with("worktree ")).count()
    }

    fn env(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("GIT_CONFIG_GLOBAL", self.path("gitconfig")),
            ("GIT_CONFIG_NOSYSTEM", PathBuf::from("1")),
            ("HOME", self.root.clone()),
        ]
    }
}
